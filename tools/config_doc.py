"""Print the README's configuration reference from Pulumi.yaml (the single source of keys and defaults).

python -m tools.config_doc > /tmp/table.md   # paste between the config-reference markers in README.md
"""

from __future__ import annotations

import json
import sys
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


def table(root: Path = ROOT) -> str:
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    rows = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    for key, decl in project["config"].items():
        if not key.startswith(f"{PROJECT}:"):
            continue
        description = str(decl.get("description", "")).replace("|", "\\|")
        rows.append(f"| `{key.removeprefix(PROJECT + ':')}` | {decl['type']} | {_default(decl)} | {description} |")
    return "\n".join(rows) + "\n"


def main() -> int:
    sys.stdout.write(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
