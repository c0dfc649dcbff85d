"""`make down`: `pulumi destroy`, then confirm the kind cluster and the registry container are gone.

python -m ops.down --stack dev
"""

from __future__ import annotations

import argparse

from components.settings import Settings
from ops import stack as stack_mod
from ops.proc import Result, cli, run, stream, tool_env

DESTROY_TIMEOUT = 20 * 60


def leftovers(settings: Settings, clusters: Result | None, containers: Result | None) -> list[str]:
    """One line per thing still there, with the command that removes it."""
    if settings.cluster_mode != "kind":
        return []
    left = []
    if clusters is not None and clusters.ok and settings.kind_cluster_name in clusters.stdout.split():
        name = settings.kind_cluster_name
        left.append(f"kind cluster {name} is still there -> kind delete cluster --name {name}")
    if settings.registry_mode == "local" and containers is not None and containers.ok and containers.stdout.strip():
        name = settings.registry_name
        left.append(f"registry container {name} is still there -> docker rm -f {name}")
    return left


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Destroy a stack and check nothing is left.")
    parser.add_argument("--stack", default="dev")
    args = parser.parse_args(argv)
    settings = stack_mod.load(args.stack)
    env = stack_mod.pulumi_env(args.stack)
    code = stream(["pulumi", "destroy", "--yes", "--stack", args.stack], env=env, timeout=DESTROY_TIMEOUT)
    local = tool_env()
    clusters = run(["kind", "get", "clusters"], env=local, timeout=20)
    containers = run(
        ["docker", "ps", "-a", "--filter", f"name=^{settings.registry_name}$", "--format", "{{.Names}}"],
        env=local,
        timeout=20,
    )
    left = leftovers(settings, clusters, containers)
    for line in left:
        print(line)
    if code == 0 and not left:
        print(f"stack {args.stack} destroyed; nothing left behind")
    return code or (1 if left else 0)


if __name__ == "__main__":
    raise SystemExit(main(None))
