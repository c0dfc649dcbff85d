"""`make preview`: `pulumi preview`, with the policy pack when policy/PulumiPolicy.yaml exists.

python -m ops.preview --stack dev
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ops import stack as stack_mod
from ops import tools
from ops.proc import ROOT, cli, stream, tool_env

PREVIEW_TIMEOUT = 15 * 60


def preview_command(stack: str, root: Path = ROOT) -> list[str]:
    return ["pulumi", "preview", "--stack", stack, *stack_mod.policy_args(root)]


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Preview a stack's changes.")
    parser.add_argument("--stack", default="dev")
    args = parser.parse_args(argv)
    settings = stack_mod.load(args.stack)
    tools.ensure(("pulumi",), env=tool_env())
    env = stack_mod.pulumi_env(args.stack)
    stack_mod.select(settings, env)  # a fresh clone has no stack yet
    return stream(preview_command(args.stack), env=env, timeout=PREVIEW_TIMEOUT)


if __name__ == "__main__":
    raise SystemExit(main(None))
