"""PullCheck: prove every kind node can pull the image before any pod asks for it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_command import local

# Fails with the broken layer and its fix instead of an ImagePullBackOff ten minutes later. A lost
# hosts.toml is rewritten only by re-running the step that wrote it: `pulumi refresh` cannot see it
# (local.Command has no Read), so the fix names that step's URN.
CHECK_SCRIPT = """\
set -u
fail() { echo "image pull check: $1" >&2; echo "fix: $2" >&2; exit 1; }
nodes=$(kind get nodes --name "$KIND_CLUSTER")
[ -n "$nodes" ] || fail "kind cluster '$KIND_CLUSTER' has no nodes, so no node was checked" \\
  "pulumi up --replace '$CLUSTER_URN', which rebuilds the cluster"
for node in $nodes; do
  if ! docker exec "$node" getent hosts "$REGISTRY" >/dev/null; then
    if [ "$(docker inspect -f '{{json .NetworkSettings.Networks.kind}}' "$REGISTRY" 2>/dev/null)" = "null" ]; then
      fail "registry container '$REGISTRY' is not attached to the kind network" \\
        "docker network connect kind $REGISTRY"
    fi
    fail "node $node cannot resolve '$REGISTRY' (DNS on the kind network)" \\
      "docker restart $REGISTRY, then pulumi up again"
  fi
  if ! docker exec "$node" test -f "/etc/containerd/certs.d/$PULL_HOST/hosts.toml"; then
    fail "node $node has no /etc/containerd/certs.d/$PULL_HOST/hosts.toml (containerd would try HTTPS)" \\
      "pulumi up --replace '$HOSTS_URN', which rewrites the hosts.toml files"
  fi
  if ! output=$(docker exec "$node" crictl pull "$IMAGE" 2>&1); then
    fail "node $node cannot pull $IMAGE: $output" "check the image was pushed: curl http://localhost:$PUSH_PORT/v2/_catalog"
  fi
done
echo "$IMAGE"
"""


@dataclass(frozen=True)
class PullCheckArgs:
    cluster_name: pulumi.Input[str]
    """kind cluster whose nodes must pull."""
    cluster_id: pulumi.Input[str]
    """Identity of that cluster (KindCluster.cluster_id): a rebuilt cluster is checked again."""
    cluster_urn: pulumi.Input[str]
    """URN of the command that owns the cluster, for the fix when it has no nodes."""
    hosts_urn: pulumi.Input[str]
    """URN of the command that writes the nodes' hosts.toml (LocalRegistry.hosts_urn), for the fix."""
    registry_name: str
    """Registry container name (the host name nodes resolve)."""
    pull_host: str
    """Registry address as nodes see it, e.g. kind-registry:5000."""
    push_port: int
    """Host port of the registry, for the error message."""
    image: pulumi.Input[str]
    """Digest-pinned reference at the pull address."""
    ready: pulumi.Input[str]
    """Resolves once the registry is attached and the nodes configured."""


class PullCheck(pulumi.ComponentResource):
    image: pulumi.Output[str]

    def __init__(self, name: str, args: PullCheckArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:PullCheck", name, None, opts)
        env = pulumi.Output.all(args.cluster_name, args.image, args.ready, args.cluster_urn, args.hosts_urn).apply(
            lambda v: {
                "KIND_CLUSTER": v[0],
                "IMAGE": v[1],
                "CLUSTER_URN": v[3],
                "HOSTS_URN": v[4],
                "REGISTRY": args.registry_name,
                "PULL_HOST": args.pull_host,
                "PUSH_PORT": str(args.push_port),
            }
        )
        check = local.Command(
            f"{name}-pull",
            create=CHECK_SCRIPT,
            environment=env,
            # A new digest or a new cluster is checked again; an unchanged one is not.
            triggers=[args.image, args.cluster_id],
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The Deployment takes its image from here, so it cannot be created before the check passed.
        self.image = pulumi.Output.all(args.image, check.stdout).apply(lambda v: str(v[0]))
        self.register_outputs({"image": self.image})
