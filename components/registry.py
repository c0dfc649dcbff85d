"""LocalRegistry: a registry container the host pushes to and the kind nodes pull from."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s
import yaml
from pulumi_command import local
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from components.ownership import owned

REGISTRY_PORT = 5000  # inside the container and on the kind network
# Where the registry image keeps its blobs (its Dockerfile declares VOLUME /var/lib/registry; distribution's
# cmd/registry/config-dev.yml, storage.filesystem.rootdirectory).
STORAGE_PATH = "/var/lib/registry"
KIND_NETWORK = "kind"  # created by `kind create cluster`
# The image's /etc/distribution/config.yml sets storage.cache.blobdescriptor: inmemory, and `registry
# garbage-collect` deletes blobs on disk behind that cache: a later push of a deleted layer is answered "already
# exists", its manifest is accepted and every pull of it fails (distribution/distribution#1803, #3743, #4569).
# REGISTRY_* variables override the file, their values read as YAML (configuration/parser.go); an empty string
# is "no cache" to registry/handlers/app.go, so every collection is safe, one run by hand included.
NO_BLOB_DESCRIPTOR_CACHE = 'REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR=""'

# Attach once; `docker network connect` fails if already attached, so look first.
CONNECT_SCRIPT = """\
set -eu
if [ "$(docker inspect -f '{{json .NetworkSettings.Networks.kind}}' "$REGISTRY")" = "null" ]; then
  docker network connect "$KIND_NETWORK" "$REGISTRY"
fi
"""
DISCONNECT_SCRIPT = 'docker network disconnect "$KIND_NETWORK" "$REGISTRY" 2>/dev/null || true\n'

# containerd reads certs.d live: no restart (containerd docs/hosts.md). One directory per
# address an image reference may use, both leading to the registry over plain HTTP.
HOSTS_SCRIPT = """\
set -eu
nodes=$(kind get nodes --name "$KIND_CLUSTER")
[ -n "$nodes" ] || { echo "no nodes found for kind cluster '$KIND_CLUSTER'" >&2; exit 1; }
for node in $nodes; do
  for host in "$PULL_HOST" "$PUSH_HOST"; do
    docker exec "$node" mkdir -p "/etc/containerd/certs.d/$host"
    printf 'server = "http://%s"\\n\\n[host."http://%s"]\\n  capabilities = ["pull", "resolve"]\\n' \\
      "$PULL_HOST" "$PULL_HOST" | docker exec -i "$node" cp /dev/stdin "/etc/containerd/certs.d/$host/hosts.toml"
  done
done
"""
HOSTS_CLEANUP_SCRIPT = """\
for node in $(kind get nodes --name "$KIND_CLUSTER" 2>/dev/null); do
  docker exec "$node" rm -rf "/etc/containerd/certs.d/$PULL_HOST" "/etc/containerd/certs.d/$PUSH_HOST" || true
done
"""


@dataclass(frozen=True)
class LocalRegistryArgs:
    container_name: str
    """Registry container name; also the host name nodes pull from on the kind network."""
    host_port: int
    """Port on 127.0.0.1 the host pushes to."""
    image: str
    """Registry image pinned by tag and digest."""
    cluster_name: pulumi.Input[str]
    """kind cluster whose nodes pull from the registry (an output of KindCluster, so the node steps wait for it)."""
    cluster_id: pulumi.Input[str]
    """Identity of that cluster (KindCluster.cluster_id): new when the cluster is rebuilt under the same name,
    whose new nodes and network need the wiring again."""
    daemon_is_local: bool = True
    """The Docker daemon runs on this machine, so its 127.0.0.1 is ours: nobody pushes before the registry answers
    there. A remote daemon's is not reachable from here, and is not waited for."""


READY_TIMEOUT = 60.0


async def answering(push_host: str, container_name: str, timeout: float = READY_TIMEOUT) -> str:
    """push_host, once the registry answers on it. A running container is not yet a listening registry: an image
    build served from Docker's cache pushed within a second of the container's start and was refused (found by
    make e2e-kind), which fails the whole `up`."""
    url = f"http://{push_host}/v2/"
    deadline = time.monotonic() + timeout
    while True:
        try:
            await asyncio.to_thread(urllib.request.urlopen, url, timeout=2)
            return push_host
        except urllib.error.HTTPError:
            return push_host  # 401 and the like: it answers
        except OSError as exc:
            if time.monotonic() > deadline:
                raise pulumi.RunError(
                    f"the registry container {container_name} did not answer on {url} within {timeout:.0f} s "
                    f"({exc}); see: docker logs {container_name}"
                ) from None
            await asyncio.sleep(0.5)


class LocalRegistry(pulumi.ComponentResource):
    push_host: pulumi.Output[str]
    pull_host: pulumi.Output[str]
    container_id: pulumi.Output[str]
    nodes_configured: pulumi.Output[str]
    hosts_urn: pulumi.Output[str]

    def __init__(self, name: str, args: LocalRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:LocalRegistry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        push_host = f"localhost:{args.host_port}"
        pull_host = f"{args.container_name}:{REGISTRY_PORT}"

        image = docker.RemoteImage(f"{name}-image", name=args.image, keep_locally=True, opts=child)
        # Named, so the pushed images outlive the container: a new registryImage replaces the container, and
        # an anonymous volume would leave the new one empty while nothing pushes again (the image resource has
        # not changed), every new pod then failing to pull.
        storage = docker.Volume(f"{name}-storage", name=f"{args.container_name}-data", opts=child)
        # The registry starts without the cluster; pushes wait for its connection to the cluster's network (below).
        container = docker.Container(
            f"{name}-container",
            name=args.container_name,
            image=image.image_id,
            restart="always",
            # make registry-gc deletes unneeded images through the API, which answers 405 without this.
            envs=["REGISTRY_STORAGE_DELETE_ENABLED=true", NO_BLOB_DESCRIPTOR_CACHE],
            volumes=[docker.ContainerVolumeArgs(volume_name=storage.name, container_path=STORAGE_PATH)],
            ports=[docker.ContainerPortArgs(internal=REGISTRY_PORT, external=args.host_port, ip="127.0.0.1")],
            opts=child,
        )

        env = pulumi.Output.all(container.name, args.cluster_name).apply(
            lambda v: {
                "REGISTRY": v[0],
                "KIND_CLUSTER": v[1],
                "KIND_NETWORK": KIND_NETWORK,
                "PULL_HOST": pull_host,
                "PUSH_HOST": push_host,
            }
        )
        # A trigger change replaces a Command create-before-delete, and the old one's delete then runs with its
        # old inputs (pulumi-command provider/pkg/provider/common/inputs.go: triggers are replaceOnChanges): it
        # would detach the network the new one attached, or remove the certs.d entries the new one wrote. So
        # every Command whose delete undoes its create goes delete-first.
        undo_first = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        # The kind network exists only once the cluster does: the cluster name output carries that dependency.
        connect = local.Command(
            f"{name}-connect",
            create=CONNECT_SCRIPT,
            delete=DISCONNECT_SCRIPT,
            environment=env,
            triggers=[container.id, args.cluster_id],
            opts=undo_first,
        )
        hosts = local.Command(
            f"{name}-node-hosts",
            create=HOSTS_SCRIPT,
            delete=HOSTS_CLEANUP_SCRIPT,
            environment=env,
            triggers=[args.cluster_id, pull_host, push_host],
            opts=undo_first,
        )

        # KEP-1755: tells tools in the cluster where the local registry is.
        k8s.core.v1.ConfigMap(
            f"{name}-hosting",
            metadata=ObjectMetaArgs(
                name="local-registry-hosting",
                namespace="kube-public",
                labels={
                    "app.kubernetes.io/name": "registry",
                    "app.kubernetes.io/instance": args.container_name,
                    "app.kubernetes.io/component": "registry",
                    "app.kubernetes.io/part-of": "wal-service",
                    "app.kubernetes.io/managed-by": "pulumi",
                },
                annotations=owned(),
            ),
            data={
                "localRegistryHosting.v1": yaml.safe_dump(
                    {
                        "host": push_host,
                        "hostFromContainerRuntime": pull_host,
                        "hostFromClusterNetwork": pull_host,
                        "help": "https://kind.sigs.k8s.io/docs/user/local-registry/",
                    },
                    sort_keys=False,
                )
            },
            # The Kubernetes provider comes from opts (providers={"kubernetes": ...}) through the parent.
            opts=child,
        )

        # Carries the dependency on the running, connected, answering registry to whoever pushes. Connected: kind's
        # network has IPv6, and attaching the registry to it makes Docker re-program its published port, which
        # refuses connections meanwhile; a push in that window (an image build served from cache) failed the up
        # (found by make e2e-kind; reproduced with `docker network connect` to an --ipv6 network under load).
        ready = pulumi.Output.all(container.id, connect.id)
        if args.daemon_is_local:
            self.push_host = ready.apply(lambda _: answering(push_host, args.container_name))
        else:
            self.push_host = ready.apply(lambda _: push_host)
        self.pull_host = pulumi.Output.from_input(pull_host)
        self.container_id = container.id
        # Resolves once the network is attached and every node knows both addresses.
        self.nodes_configured = pulumi.Output.all(connect.id, hosts.id).apply(lambda ids: ",".join(ids))
        # What to replace when a node lost its hosts.toml: refresh cannot notice (local.Command has no Read).
        self.hosts_urn = hosts.urn
        self.register_outputs(
            {
                "push_host": self.push_host,
                "pull_host": self.pull_host,
                "container_id": self.container_id,
                "nodes_configured": self.nodes_configured,
                "hosts_urn": self.hosts_urn,
            }
        )
