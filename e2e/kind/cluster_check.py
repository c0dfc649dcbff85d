"""The product's kind cluster on the real Docker, without Pulumi: the first slice of `make e2e-kind`.

It runs what components/kind_cluster.py and components/registry.py hand to `kind` and `docker` (the cluster
config, the create and delete scripts, the registry's network-connect and node-hosts scripts) exactly as the
command provider would, against a node image assembled offline (images.sh), and checks what only a real cluster
shows: kubelet starts on this host's cgroups, the nodes go Ready, cluster DNS and the default StorageClass work, a
NetworkPolicy is enforced, and an image pushed to localhost:<port> is pulled by the nodes as <registry>:5000.
It proves nothing about the docker provider, the Pulumi engine on this path or the service's own workload.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from components import docker_host, kind_cluster, registry
from e2e.harness import ROOT, E2EFailure, timed, wait

HERE = Path(__file__).resolve().parent
CLUSTER = "wal-e2e-kind"
REGISTRY = "wal-e2e-kind-registry"
REGISTRY_HOST_PORT = 16000
# Debian with curl and socat (images.sh): the test pods need no image from elsewhere.
CLIENT_IMAGE = "wal-e2e.local/kindnet-standin:kube-router-v2.1.0"


def sh(
    cmd: Sequence[str],
    *,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        list(cmd),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise E2EFailure(
            f"{' '.join(cmd[:4])}... exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-2000:]}"
        )
    return proc


def last_line(script: Path) -> str:
    proc = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise E2EFailure(f"{script.relative_to(ROOT)} failed (exit {proc.returncode}); its log is above")
    return proc.stdout.strip().splitlines()[-1]


@functools.cache
def node_image() -> str:
    """The kind node image images.sh assembles (built once, then found by its inputs' hash)."""
    return last_line(HERE / "images.sh")


@functools.cache
def stand_in_images() -> dict[str, str]:
    """The stand-ins workload-images.sh builds, by the stack config key each replaces (built once per run)."""
    proc = subprocess.run(["bash", str(HERE / "workload-images.sh")], stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise E2EFailure("workload-images.sh failed; its log is above")
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if line.startswith("wal-service:"))


class Cluster:
    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh(["kubectl", "--kubeconfig", str(self.kubeconfig), *args], stdin=stdin, check=check)

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def all_ready(self, kind: str, namespace: str) -> bool:
        items = self.json("get", kind, "-n", namespace)["items"]
        return bool(items) and all(
            any(c["type"] == "Ready" and c["status"] == "True" for c in i.get("status", {}).get("conditions", []))
            for i in items
        )

    def exec_ok(self, namespace: str, pod: str, *cmd: str) -> bool:
        return self.kubectl("exec", "-n", namespace, pod, "--", *cmd, check=False).returncode == 0


def pod_manifest(
    name: str, namespace: str, image: str, command: list[str], labels: dict[str, str] | None = None
) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name}},
            "spec": {
                "containers": [{"name": name, "image": image, "imagePullPolicy": "IfNotPresent", "command": command}],
                "terminationGracePeriodSeconds": 1,
            },
        }
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the cluster and registry running")
    options = parser.parse_args(argv)

    with timed("Docker daemon"):
        sh(["bash", str(HERE / "docker-host.sh")])
    with timed("binaries and node image (build-bins.sh, images.sh)"):
        bin_dir = last_line(HERE / "build-bins.sh")
        os.environ["PATH"] = f"{bin_dir}:{os.environ['PATH']}"
        print(f"    {node_image()}")
    with timed("stand-ins for the stack's images (workload-images.sh)"):
        stand_in_images()

    host = docker_host.probe()
    work = Path(tempfile.mkdtemp(prefix="wal-e2e-kind-"))
    kubeconfig = work / f"kind-{CLUSTER}.yaml"
    args = kind_cluster.KindClusterArgs(
        cluster_name=CLUSTER,
        node_image=node_image(),
        workers=0,
        http_port=18080,
        https_port=None,
        kubeconfig_path=str(kubeconfig),
        cgroup_v1=host.cgroup_v1,
    )
    config = yaml.safe_dump(kind_cluster.kind_config(args), sort_keys=False)
    env = {"KIND_CLUSTER": CLUSTER, "KIND_KUBECONFIG": str(kubeconfig), "CLUSTER_URN": "urn:e2e-kind"}
    cluster = Cluster(kubeconfig)
    failed = False
    try:
        with timed(f"kind create cluster from the product's config (cgroup v{host.cgroup_version})"):
            sh(["bash", "-c", kind_cluster.CREATE_SCRIPT], stdin=config, env=env, timeout=900)
        with timed("node Ready, kube-system pods Ready (CoreDNS, kindnet stand-in, local-path)"):
            wait("the node to be Ready", lambda: cluster.all_ready("nodes", "default"))
            wait("kube-system pods Ready", lambda: cluster.all_ready("pods", "kube-system"))
            wait("local-path-storage pods Ready", lambda: cluster.all_ready("pods", "local-path-storage"))
        check_dns_and_policy(cluster)
        check_registry(cluster, stand_in_images()["wal-service:registryImage"])
    except E2EFailure as err:
        failed = True
        print(f"FAILED: {err}", file=sys.stderr)
    finally:
        if not options.keep:
            delete()
    return 1 if failed else 0


def delete() -> None:
    """The cluster (with the product's delete script), the registry container and its volume."""
    with timed("delete the cluster, the registry and its volume"):
        env = {"KIND_CLUSTER": CLUSTER, "KIND_KUBECONFIG": str(Path(tempfile.gettempdir()) / "wal-e2e-kind-gone")}
        sh(["bash", "-c", kind_cluster.DELETE_SCRIPT], env=env, check=False)
        sh(["docker", "rm", "-f", "-v", REGISTRY], check=False)
        sh(["docker", "volume", "rm", f"{REGISTRY}-data"], check=False)


def check_dns_and_policy(cluster: Cluster) -> None:
    image = CLIENT_IMAGE
    with timed("pods: cluster DNS resolves a Service; traffic flows; a deny-all NetworkPolicy stops it"):
        cluster.kubectl("create", "namespace", "np-server")
        cluster.kubectl("create", "namespace", "np-client")
        # An echo server: what the client sends comes back only over a connection the cluster let through.
        server_cmd = ["socat", "TCP-LISTEN:8080,fork,reuseaddr", "EXEC:/bin/cat"]
        cluster.kubectl("apply", "-f", "-", stdin=pod_manifest("server", "np-server", image, server_cmd))
        cluster.kubectl("expose", "pod", "server", "-n", "np-server", "--port", "80", "--target-port", "8080")
        cluster.kubectl("apply", "-f", "-", stdin=pod_manifest("client", "np-client", image, ["sleep", "3600"]))
        wait(
            "the test pods Ready",
            lambda: cluster.all_ready("pods", "np-server") and cluster.all_ready("pods", "np-client"),
        )
        fetch = (
            "sh",
            "-c",
            "echo ping | socat -T3 - TCP:server.np-server.svc.cluster.local:80,connect-timeout=3 | grep -qx ping",
        )
        wait(
            "the client to reach the server through DNS and the Service",
            lambda: cluster.exec_ok("np-client", "client", *fetch),
            60,
        )
        cluster.kubectl(
            "apply",
            "-f",
            "-",
            stdin=yaml.safe_dump(
                {
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": {"name": "deny-all", "namespace": "np-server"},
                    "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
                }
            ),
        )
        wait("the deny-all policy to block the client", lambda: not cluster.exec_ok("np-client", "client", *fetch), 60)


def check_registry(cluster: Cluster, registry_image: str) -> None:
    port = REGISTRY_HOST_PORT
    env = {
        "REGISTRY": REGISTRY,
        "KIND_CLUSTER": CLUSTER,
        "KIND_NETWORK": registry.KIND_NETWORK,
        "PULL_HOST": f"{REGISTRY}:{registry.REGISTRY_PORT}",
        "PUSH_HOST": f"localhost:{port}",
    }
    with timed("registry: the product's container, network connect and node hosts; a node pulls what the host pushed"):
        sh(
            [
                "docker",
                "run",
                "-d",
                "--name",
                REGISTRY,
                "--restart",
                "always",
                "-e",
                "REGISTRY_STORAGE_DELETE_ENABLED=true",
                "-e",
                registry.NO_BLOB_DESCRIPTOR_CACHE.replace('"', ""),
                "-v",
                f"{REGISTRY}-data:{registry.STORAGE_PATH}",
                "-p",
                f"127.0.0.1:{port}:{registry.REGISTRY_PORT}",
                registry_image,
            ]
        )
        sh(["bash", "-c", registry.CONNECT_SCRIPT], env=env)
        sh(["bash", "-c", registry.HOSTS_SCRIPT], env=env)
        ref = f"localhost:{port}/e2e/pulled:v1"
        sh(["docker", "tag", "wal-e2e.local/debian:trixie", ref])
        wait(
            "the registry to answer",
            lambda: sh(["curl", "-sf", f"http://localhost:{port}/v2/"], check=False).returncode == 0,
            60,
        )
        sh(["docker", "push", ref])
        cluster.kubectl("apply", "-f", "-", stdin=pod_manifest("pulled", "default", ref, ["sleep", "3600"]))
        wait("the pod of the pushed image to run", lambda: cluster.all_ready("pods", "default"), 180)


if __name__ == "__main__":
    sys.exit(main())
