"""README.md stays true: its config reference is Pulumi.yaml's, and its quick start is two commands."""

from __future__ import annotations

import re
from pathlib import Path

from tools.config_doc import BEGIN, END, table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_config_reference_matches_pulumi_yaml() -> None:
    section = README.split(BEGIN, 1)[1].split(END, 1)[0].strip() + "\n"
    assert section == table(), "README config reference is stale: regenerate it with python -m tools.config_doc"


def test_quick_start_has_exactly_two_commands_that_exist() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    steps = re.findall(r"^\d+\. `([^`]+)`", quick, flags=re.MULTILINE)
    assert steps == ["make up", "make test"], steps
    makefile = (ROOT / "Makefile").read_text()
    for step in steps:
        target = step.split()[1]
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), f"Makefile has no {target} target"
