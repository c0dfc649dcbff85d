"""What users read stands alone: no message, description or doc cites a document they do not have."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The replaced scripts' notes ("the seed", its errata and anti-pattern lists) were never published.
PRIVATE_REFERENCES = re.compile(
    r"\bthe seed\b|\bseed's\b|\bseed (?:errata|lesson)|\berrata\b|anti-pattern", re.IGNORECASE
)
USER_FACING = ("components", "ops", "policy", "tools", "app", ".github", "README.md", "Makefile", "Pulumi")


def test_no_private_document_is_cited() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "--", *[f"{p}*" if p == "Pulumi" else p for p in USER_FACING]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert any(path.startswith("policy/guardrails/") for path in tracked), "the scan found none of the pack's files"
    hits = [
        f"{path}:{number}: {line.strip()}"
        for path in tracked
        if (ROOT / path).is_file() and "/tests/" not in f"/{path}"
        for number, line in enumerate((ROOT / path).read_text(errors="replace").splitlines(), 1)
        if PRIVATE_REFERENCES.search(line)
    ]
    assert not hits, "cites a document users do not have; say what is wrong, why and what to do:\n" + "\n".join(hits)
