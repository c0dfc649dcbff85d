"""Print the README's configuration reference from Pulumi.yaml (the single source of keys and defaults).

python -m tools.config_doc > /tmp/table.md   # paste between the config-reference markers in README.md
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

from components.stack_config import PROJECT, ROOT

BEGIN = "<!-- config-reference:begin -->"
END = "<!-- config-reference:end -->"


def _default(decl: dict[str, object]) -> str:
    if "default" not in decl:
        return "*(required per stack)*"
    value = decl["default"]
    if value == "" or value == []:
        return "*(empty)*"
    text = json.dumps(value) if isinstance(value, list | bool) else str(value)
    return f"`{text}`"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table; `|` inside a cell is escaped."""
    lines = [header, ["---"] * len(header), *rows]
    return "".join("| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |\n" for line in lines)


def table(root: Path = ROOT) -> str:
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    return markdown_table(
        ("key", "type", "default", "description"),
        (
            (f"`{key.removeprefix(PROJECT + ':')}`", decl["type"], _default(decl), str(decl.get("description", "")))
            for key, decl in project["config"].items()
            if key.startswith(f"{PROJECT}:")
        ),
    )


if __name__ == "__main__":
    sys.stdout.write(table())
