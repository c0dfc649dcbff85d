"""KindCluster: a local Kubernetes cluster created and deleted with the kind CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pulumi
import yaml
from pulumi_command import local

from components.gateway_controller import HTTP_NODE_PORT, HTTPS_NODE_PORT

# The create script refuses to adopt a cluster it did not make: `kind create` on an
# existing name would fail anyway, but with a less useful message.
# --kubeconfig everywhere: without it kind merges the cluster into $KUBECONFIG or ~/.kube/config and
# switches its current context on create, and edits it again on delete (kind
# pkg/cluster/internal/kubeconfig/internal/kubeconfig/merge.go, paths.go); a stack touches only its own file.
# KIND_EXPERIMENTAL_DOCKER_NETWORK moves the nodes to another Docker network (kind
# pkg/cluster/internal/providers/docker/provider.go, Provision), where the registry, attached to "kind", is
# unreachable.
CREATE_SCRIPT = """\
set -eu
if [ -n "${KIND_EXPERIMENTAL_DOCKER_NETWORK:-}" ] && [ "$KIND_EXPERIMENTAL_DOCKER_NETWORK" != kind ]; then
  echo "KIND_EXPERIMENTAL_DOCKER_NETWORK=$KIND_EXPERIMENTAL_DOCKER_NETWORK would put the nodes on that network," \\
    "but the local registry is attached to the 'kind' network, so no node could pull." >&2
  echo "Fix: unset KIND_EXPERIMENTAL_DOCKER_NETWORK, then run pulumi up again." >&2
  exit 1
fi
if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
  echo "kind cluster '$KIND_CLUSTER' already exists and this stack did not create it." >&2
  echo "Fix: 'kind delete cluster --name $KIND_CLUSTER' if it is disposable," \\
    "or set wal-service:kindClusterName to a free name." >&2
  exit 1
fi
mkdir -p "$(dirname "$KIND_KUBECONFIG")"
kind create cluster --name "$KIND_CLUSTER" --kubeconfig "$KIND_KUBECONFIG" --config - --wait 180s
"""
# Re-running create on an update would collide with the cluster itself: only check it is still there.
# `pulumi refresh` cannot notice a deleted cluster (local.Command has no Read), so the fix is a replacement.
UPDATE_SCRIPT = """\
set -eu
kind get clusters | grep -qx "$KIND_CLUSTER" || {
  echo "kind cluster '$KIND_CLUSTER' is gone; recreate it (and everything in it) with:" >&2
  echo "  pulumi up --replace '$CLUSTER_URN'" >&2
  exit 1
}
"""
# kind delete is idempotent: it exits 0 when the cluster is already gone (kind#3639).
DELETE_SCRIPT = """\
kind delete cluster --name "$KIND_CLUSTER" --kubeconfig "$KIND_KUBECONFIG"
rm -f "$KIND_KUBECONFIG"
"""
KUBECONFIG_SCRIPT = 'kind get kubeconfig --name "$KIND_CLUSTER"\n'


def child_urn(parent: pulumi.Resource, name: str, type_: str) -> pulumi.Output[str]:
    """The URN a child of `parent` gets, as text only: as a dependency, a component stands for all its
    children (pulumi sdk/python/lib/pulumi/runtime/rpc.py, _add_dependency), so the child would depend
    on itself."""
    parent_urn = pulumi.Output(set(), parent.urn.future(), parent.urn.is_known(), parent.urn.is_secret())
    return pulumi.create_urn(name, type_, parent=cast(pulumi.Output[str], parent_urn))


@dataclass(frozen=True)
class KindClusterArgs:
    cluster_name: str
    """kind cluster name (validated DNS-1123 label); the kube context is kind-<name>."""
    node_image: str
    """kindest/node image pinned by tag and digest."""
    workers: int
    """Worker nodes besides the control plane."""
    http_port: int
    """Host port on 127.0.0.1 mapped to the node port of the Gateway's HTTP listener."""
    https_port: int | None
    """Host port on 127.0.0.1 mapped to the node port of the Gateway's HTTPS listener; None without one (no TLS
    secret): NGF exposes only the node ports of listeners that exist (internal/controller/provisioner/objects.go,
    buildServicePorts), so a mapping would hold a host port with nothing behind it."""
    kubeconfig_path: str
    """The stack's own kubeconfig file kind writes and cleans up (stack_config.kind_kubeconfig_path); never the
    user's."""
    cgroup_v1: bool = False
    """The Docker host runs cgroup v1 (`docker info` CgroupVersion): the nodes' kubelet must be told to accept it."""


# kubelet 1.37 refuses to start on cgroup v1 unless failCgroupV1 is false (kubelet validation_linux.go); kind
# only warns. The patch is matched on kind and apiVersion (kind pkg/internal/patch/kubeyaml.go) and applies to every
# node's KubeletConfiguration.
CGROUP_V1_KUBELET_PATCH = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfailCgroupV1: false\n"


def kind_config(args: KindClusterArgs) -> dict[str, Any]:
    """The kind v1alpha4 Cluster config (kind.sigs.k8s.io/docs/user/configuration)."""
    # The Gateway's data plane Service has fixed node ports (components/gateway_controller.py); kube-proxy
    # on this node forwards them to the data plane wherever it runs. Port mappings are kind's way in on
    # Linux and Docker Desktop alike (kind.sigs.k8s.io/docs/user/configuration/#extra-port-mappings).
    listeners = [(HTTP_NODE_PORT, args.http_port)]
    if args.https_port is not None:
        listeners.append((HTTPS_NODE_PORT, args.https_port))
    port_mappings = [
        {"containerPort": node_port, "hostPort": host, "listenAddress": "127.0.0.1", "protocol": "TCP"}
        for node_port, host in listeners
    ]
    control_plane = {"role": "control-plane", "image": args.node_image, "extraPortMappings": port_mappings}
    workers = [{"role": "worker", "image": args.node_image} for _ in range(args.workers)]
    # Only where needed: the config is the cluster's trigger, so adding the patch everywhere would rebuild every
    # existing cluster on cgroup v2 hosts.
    kubelet = {"kubeadmConfigPatches": [CGROUP_V1_KUBELET_PATCH]} if args.cgroup_v1 else {}
    return {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": args.cluster_name,
        # Registry hosts come from /etc/containerd/certs.d/<host>/hosts.toml, read live by containerd.
        # Already the default in node images of kind >= v0.27 (kind's site/static/examples/kind-with-registry.sh);
        # kept explicit so an older pinned image behaves the same. Never add registry.mirrors: containerd 2.x
        # rejects it next to config_path.
        "containerdConfigPatches": [
            '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n'
        ],
        **kubelet,
        "nodes": [control_plane, *workers],
    }


class KindCluster(pulumi.ComponentResource):
    """A kind cluster owned by one command resource: deleting that resource deletes the cluster."""

    cluster_name: pulumi.Output[str]
    kube_context: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    cluster_id: pulumi.Output[str]
    owner: local.Command

    def __init__(self, name: str, args: KindClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:KindCluster", name, None, opts)
        config_yaml = yaml.safe_dump(kind_config(args), sort_keys=False)
        create_name = f"{name}-create"
        env: dict[str, pulumi.Input[str]] = {
            "KIND_CLUSTER": args.cluster_name,
            "KIND_KUBECONFIG": args.kubeconfig_path,
            # For the advice in UPDATE_SCRIPT: the resource to replace when the cluster is gone.
            "CLUSTER_URN": child_urn(self, create_name, "command:local:Command"),
        }

        cluster = local.Command(
            create_name,
            create=CREATE_SCRIPT,
            update=UPDATE_SCRIPT,
            delete=DELETE_SCRIPT,
            stdin=config_yaml,
            environment=env,
            # Anything in the config needs a new cluster; two clusters with one name cannot coexist,
            # so the old one goes first.
            triggers=[config_yaml],
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        kubeconfig = local.Command(
            f"{name}-kubeconfig",
            create=KUBECONFIG_SCRIPT,
            environment={"KIND_CLUSTER": args.cluster_name},
            # Credentials: never in the logs, and encrypted in state.
            logging=local.Logging.NONE,
            triggers=[cluster.id],
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["stdout"], depends_on=[cluster]),
        )

        self.owner = cluster
        # The create command's id is new each time it runs (pulumi-command local/commandController.go,
        # resource.NewUniqueHex), unlike the name: a rebuilt cluster is recognised by it.
        self.cluster_id = cluster.id
        self.cluster_name = cluster.environment.apply(lambda e: (e or {})["KIND_CLUSTER"])
        self.kube_context = self.cluster_name.apply(lambda n: f"kind-{n}")
        self.kubeconfig = pulumi.Output.secret(kubeconfig.stdout)
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "cluster_id": self.cluster_id,
                "kube_context": self.kube_context,
                "kubeconfig": self.kubeconfig,
            }
        )
