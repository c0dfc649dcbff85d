"""Print the README's policy table from the guardrails pack (the one list of policies).

python -m tools.policy_doc > /tmp/table.md   # paste between the policy-table markers in README.md
"""

from __future__ import annotations

import sys

from policy.guardrails import POLICIES

BEGIN = "<!-- policy-table:begin -->"
END = "<!-- policy-table:end -->"


def table() -> str:
    rows = ["| policy | level | severity | what it enforces, and why |", "| --- | --- | --- | --- |"]
    for policy in POLICIES:
        level = policy.enforcement_level.value if policy.enforcement_level else "advisory"
        severity = policy.severity.value if policy.severity else ""
        description = policy.description.replace("|", "\\|")
        rows.append(f"| [`{policy.name}`]({policy.url}) | {level} | {severity} | {description} |")
    return "\n".join(rows) + "\n"


def main() -> int:
    sys.stdout.write(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
