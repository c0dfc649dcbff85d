"""components.stack_config: reading Pulumi.yaml and the stack files the way the CLI does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from components.stack_config import ConfigError, load_stack_config, stack_names

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    return tmp_path


def test_a_yaml_syntax_error_is_one_line_naming_the_file_and_line(root: Path) -> None:
    (root / "Pulumi.dev.yaml").write_text(
        "config:\n  wal-service:appEnv: development\n  wal-service:host: [dev.wal-service.local\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_stack_config("dev", root=root)
    message = str(caught.value)
    assert "\n" not in message, message
    # PyYAML's mark of the end of the flow sequence it never closed (line 4, after the last line).
    assert message.startswith("Pulumi.dev.yaml:4:1: invalid YAML: "), message
    assert "https://yaml.org/spec/1.2.2/" in message


def test_a_stack_file_that_is_not_a_mapping_is_named(root: Path) -> None:
    (root / "Pulumi.dev.yaml").write_text("- config\n")
    with pytest.raises(ConfigError, match=r"^Pulumi\.dev\.yaml: must be a mapping$"):
        load_stack_config("dev", root=root)


def test_engine_settings_reach_the_program_as_plain_values(root: Path) -> None:
    """pulumi:disable-default-providers is what tells the program which provider keys are inert."""
    (root / "Pulumi.dev.yaml").write_text("config:\n  kubernetes:context: other\n")
    config, _ = load_stack_config("dev", root=root)
    assert config["pulumi:disable-default-providers"] == '["kubernetes", "docker"]'
    assert config["kubernetes:context"] == "other"


def test_stack_names_are_the_stack_files() -> None:
    assert stack_names(ROOT) == ["dev", "prod", "staging"]
