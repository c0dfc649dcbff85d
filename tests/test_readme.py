"""README.md stays true: config reference and policy table are generated, the quick start is two commands and
plain pulumi follows it."""

from __future__ import annotations

import re
from pathlib import Path

from components.stack_checks import project_backend
from ops.stack import DEV_PASSPHRASE
from tools import config_doc, policy_doc

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def between(begin: str, end: str) -> str:
    assert README.count(begin) == 1 and README.count(end) == 1, f"README needs exactly one {begin} and {end}"
    return README.split(begin, 1)[1].split(end, 1)[0].strip() + "\n"


def test_config_reference_matches_pulumi_yaml() -> None:
    section = between(config_doc.BEGIN, config_doc.END)
    assert section == config_doc.table(), (
        "README config reference is stale: regenerate it with python -m tools.config_doc"
    )


def test_policy_table_matches_the_pack() -> None:
    section = between(policy_doc.BEGIN, policy_doc.END)
    assert section == policy_doc.table(), "README policy table is stale: regenerate it with python -m tools.policy_doc"


def test_quick_start_has_exactly_two_commands_that_exist() -> None:
    """On a fresh machine: one command deploys dev, one runs the tests."""
    sections = re.findall(r"^## (.+)$", README, flags=re.MULTILINE)
    assert sections[0] == "Quick start", f"the README opens with {sections[0]!r}, not the quick start"
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    steps = re.findall(r"^\d+\. `([^`]+)`", quick, flags=re.MULTILINE)
    assert steps == ["make up", "make test"], steps
    makefile = (ROOT / "Makefile").read_text()
    for step in steps:
        target = step.split()[1]
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), f"Makefile has no {target} target"


def test_plain_pulumi_comes_right_after_the_quick_start() -> None:
    """A Pulumi user meets the CLI next; the make targets are shortcuts listed after it."""
    sections = re.findall(r"^## (.+)$", README, flags=re.MULTILINE)
    assert sections[1] == "Plain `pulumi`", f"the section after the quick start is {sections[1]!r}"
    quick = README.split("## Plain `pulumi`", 1)[1].split("\n## ", 1)[0]
    block = quick.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]
    assert not [c for c in commands if c.startswith("make")], commands
    for needed in (
        "pulumi install",
        "pulumi up -s dev --policy-pack policy",
        "pulumi preview -s dev --policy-pack policy",
        "pulumi destroy -s dev",
        "pulumi config set --secret",
    ):
        assert any(c.startswith(needed) for c in commands), f"the quick start lacks {needed!r}: {commands}"
    # The same passphrase and backend as make: what the README exports is what ops.stack and Pulumi.yaml use.
    assert f"export PULUMI_CONFIG_PASSPHRASE={DEV_PASSPHRASE}" in commands
    assert f"backend.url: {project_backend()}" in quick
    makefile = (ROOT / "Makefile").read_text()
    for target in re.findall(r"^\| `make (\w+)", quick, flags=re.MULTILINE):
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), f"Makefile has no {target} target"
