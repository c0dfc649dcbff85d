"""Print the README's policy table from the guardrails pack (the one list of policies).

python -m tools.policy_doc > /tmp/table.md   # paste between the policy-table markers in README.md
"""

from __future__ import annotations

import sys

from policy.guardrails import POLICIES
from tools.config_doc import markdown_table

BEGIN = "<!-- policy-table:begin -->"
END = "<!-- policy-table:end -->"


def table() -> str:
    return markdown_table(
        ("policy", "level", "severity", "what it enforces, and why"),
        (
            (
                f"[`{policy.name}`]({policy.url})",
                policy.enforcement_level.value if policy.enforcement_level else "advisory",
                policy.severity.value if policy.severity else "",
                policy.description,
            )
            for policy in POLICIES
        ),
    )


if __name__ == "__main__":
    sys.stdout.write(table())
