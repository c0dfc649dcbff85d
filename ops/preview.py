"""`make preview`: `pulumi preview`, with the policy pack when policy/PulumiPolicy.yaml exists.

python -m ops.preview --stack dev
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ops import stack as stack_mod
from ops.proc import ROOT, cli, stream

PREVIEW_TIMEOUT = 15 * 60


def preview_command(stack: str, root: Path = ROOT) -> list[str]:
    command = ["pulumi", "preview", "--stack", stack]
    if (root / "policy" / "PulumiPolicy.yaml").exists():
        command += ["--policy-pack", "policy"]
    return command


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Preview a stack's changes.")
    parser.add_argument("--stack", default="dev")
    args = parser.parse_args(argv)
    stack_mod.load(args.stack)
    return stream(preview_command(args.stack), env=stack_mod.pulumi_env(args.stack), timeout=PREVIEW_TIMEOUT)


if __name__ == "__main__":
    raise SystemExit(main(None))
