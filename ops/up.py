"""`make up`: preflight, tools, select or create the stack, `pulumi up`, then how to reach it.

python -m ops.up --stack dev
"""

from __future__ import annotations

import argparse

from components.settings import Settings
from ops import registry_gc, tools
from ops import stack as stack_mod
from ops.preflight import preflight
from ops.proc import cli, stream, tool_env


def api_hint(settings: Settings) -> str:
    """How to call the API: every request under /api/v1/logs/ needs a key's token."""
    url = f"{settings.url}api/v1/logs/demo/records"
    if settings.generate_api_key:
        token = f"$(pulumi stack output apiToken --show-secrets --stack {settings.stack})"
        return f'the API needs a key: curl -H "Authorization: Bearer {token}" {url}'
    return f'the API needs a key: curl -H "Authorization: Bearer <a token of wal-service:apiKeys>" {url}'


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Deploy a stack.")
    parser.add_argument("--stack", default="dev")
    args = parser.parse_args(argv)
    settings = stack_mod.load(args.stack)
    # Every problem first (Docker before anything is downloaded); missing tools are fetched only then.
    findings = preflight(args.stack)
    for finding in findings:
        if finding.level != "ok":
            print(finding.line())
    if any(f.level == "fail" for f in findings):
        print(f"make up stopped before changing anything; fix the FAIL lines above (make preflight STACK={args.stack})")
        return 1
    names = ("kind", "kubectl", "pulumi") if settings.cluster_mode == "kind" else ("kubectl", "pulumi")
    tools.ensure(names, env=tool_env(), cluster_minor=settings.kubernetes_minor)
    env = stack_mod.pulumi_env(args.stack)
    stack_mod.select(settings, env)
    code = stream(stack_mod.up_command(args.stack), env=env, timeout=stack_mod.UP_TIMEOUT)
    if code != 0:
        print(f"pulumi up failed (exit {code}); diagnose with: python -m ops.verify --stack {args.stack}")
        return code
    print(f"\n{settings.host} is served at {settings.url}")
    for line in stack_mod.resolve_hint(settings):
        print(line)
    print(api_hint(settings))
    print(f"check every layer: make verify STACK={args.stack}")
    if settings.registry_gc_after_up:
        # Right after the push, and before the next one: the registry's garbage collection must not overlap a push.
        print(f"\nregistryGcAfterUp: cleaning up the local registry {settings.registry_name}")
        return registry_gc.main(["--stack", args.stack])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(None))
