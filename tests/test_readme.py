"""README.md stays true: config reference and policy table are generated, and the quick start is two commands."""

from __future__ import annotations

import re
from pathlib import Path

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
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    steps = re.findall(r"^\d+\. `([^`]+)`", quick, flags=re.MULTILINE)
    assert steps == ["make up", "make test"], steps
    makefile = (ROOT / "Makefile").read_text()
    for step in steps:
        target = step.split()[1]
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), f"Makefile has no {target} target"
