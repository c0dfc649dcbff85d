"""`make up`: tools, preflight, local state backend, select or create the stack, `pulumi up`, then how to reach it.

python -m ops.up --stack dev
"""

from __future__ import annotations

import argparse

from ops import stack as stack_mod
from ops import tools
from ops.preflight import preflight
from ops.proc import UserError, cli, run, stream, tool_env

UP_TIMEOUT = 45 * 60  # kind create (3 min) + helm (10 min) + build, with room to spare


def select_stack(stack: str, env: dict[str, str]) -> None:
    result = run(["pulumi", "stack", "select", "--create", stack], env=env, timeout=60)
    if result is None or not result.ok:
        raise UserError(
            f"pulumi stack select --create {stack} failed: {result.first_error_line() if result else 'no pulumi'}"
        )


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Deploy a stack.")
    parser.add_argument("--stack", default="dev")
    args = parser.parse_args(argv)
    settings = stack_mod.load(args.stack)
    env = stack_mod.pulumi_env(args.stack)  # fails early for prod without a passphrase
    names = ("kind", "kubectl", "pulumi") if settings.cluster_mode == "kind" else ("kubectl", "pulumi")
    tools.ensure(names, env=tool_env())
    findings = preflight(args.stack)
    for finding in findings:
        if finding.level != "ok":
            print(finding.line())
    if any(f.level == "fail" for f in findings):
        return 1
    print(f"state backend: {env['PULUMI_BACKEND_URL']}")
    select_stack(args.stack, env)
    code = stream(["pulumi", "up", "--yes", "--stack", args.stack], env=env, timeout=UP_TIMEOUT)
    if code != 0:
        print(f"pulumi up failed (exit {code}); diagnose with: python -m ops.verify --stack {args.stack}")
        return code
    print(f"\n{settings.host} is served at {settings.url}")
    for line in stack_mod.resolve_hint(settings):
        print(line)
    print(f"check every layer: make verify STACK={args.stack}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(None))
