"""The dev stack deployed by the product's own `make up` on the real Docker: the second slice of `make e2e-kind`.

From nothing (no cluster, no registry): `make up` runs preflight, builds the kind cluster from the stack, starts the
registry, builds app/ and pushes it, deploys the workload with the policy pack, and NGINX Gateway Fabric's chart,
here the stand-in chart e2e/kind/gateway-chart (`gatewayChart`), whose controller and data plane are ours
(e2e/kind/go/gateway-standin): NGF cannot be built from what our machines reach. Then HTTP from the host takes the
real path: 127.0.0.1:<ingressHttpPort>, the kind port mapping, the node port, the data plane, our NetworkPolicy, the
Service, the pods. The docker resources go through the docker provider stand-in (e2e/toolchain/pulumi), which drives
the real daemon. The keys the run sets, and why, are in stack.py.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from components.app_config import HTTP_PORT
from components.labels import APP_NAME
from components.registry import REGISTRY_PORT
from e2e.harness import NAMESPACE, PROJECT, STACK, E2EFailure, Run, default_root, timed, toolchain_bin, wait
from e2e.kind.cluster_check import (
    CLIENT_IMAGE,
    CLUSTER,
    REGISTRY,
    REGISTRY_HOST_PORT,
    pod_manifest,
    sh,
)
from e2e.kind.stack import HTTP_HOST_PORT, Client, Stack, overrides, registry_tags
from e2e.kind.under_load import Appender, database_restart, inner_loop_by_hand, pod_deleted, rolling_update
from ops import stack as stack_mod


def main(look_around: list[str] | None = None, keep: bool = False) -> int:
    look_around = [] if look_around is None else look_around
    run = Run(default_root().with_name(default_root().name + "-kind"), toolchain_bin())
    stack = Stack(run)
    try:
        with timed("the dev stack's working copy, its stand-in keys set"):
            run.prepare()
            run.sh("pulumi", "stack", "init", STACK, "--non-interactive")
            keys = overrides(run.work)
            for key, value in keys.items():
                print(f"    {key}={value}")
                run.pulumi("config", "set", f"{PROJECT}:{key}", value)
        settings = stack_mod.load(STACK, root=run.work)
        with timed("make up from nothing: cluster, registry, image build and push, NGF stand-in, workload"):
            first_up = stack.make("up")
        client = Client(settings.host, stack.output("apiToken"))
        with timed("the first append through 127.0.0.1, the kind port mapping and the Gateway's data plane"):
            wait("the first append", lambda: client.append("e2e-kind", '{"n":0}') == "201", 120)
        print(f"    FIGURE make up from nothing to the first append: {first_up:.0f} s")
        check_platform(stack)
        check_http(stack, client)
        verify(stack, settings.host)
        first_tags, first_image = registry_tags(), stack.deployed_image()
        replace_node_hosts(stack)
        inner = rolling_update(stack, client, Appender(client, "e2e-kind-rolling"))
        registry_gc_then_repush(stack, first_tags, first_image)
        pod_deleted(stack, Appender(client, "e2e-kind-pod-deleted"))
        database_restart(stack, Appender(client, "e2e-kind-db-restart"))
        by_hand = inner_loop_by_hand(stack, keys)
        print(f"    FIGURE inner loop: make up {inner:.0f} s, by hand {by_hand:.0f} s (ratio {inner / by_hand:.2f})")
        if keep:
            look_around.append(
                f"# with these set: kubectl, pulumi (in {run.work}), curl --resolve {settings.host}:{HTTP_HOST_PORT}:"
                f"127.0.0.1 $URL...; clean up with: cd {run.work} && make down STACK=$STACK"
            )
            look_around.append(f"KUBECONFIG={stack.kubeconfig}")
            look_around.extend(
                f"{k}={run.env[k]}" for k in ("PATH", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE_FILE")
            )
            look_around.append(f"STACK={STACK}")
            look_around.append(f"URL={client.base}/")
            return 0
        with timed("make down: nothing of ours left"):
            stack.make("down", timeout=1200)
            check_nothing_left(stack)
        with timed("make up again, the cluster deleted by hand (kind delete cluster), then make down: nothing left"):
            stack.make("up")
            sh(["kind", "delete", "cluster", "--name", CLUSTER, "--kubeconfig", str(run.root / "throwaway-kubeconfig")])
            stack.make("down", timeout=1200)
            check_nothing_left(stack)
    except E2EFailure as err:
        print(f"FAILED: {err}", file=sys.stderr)
        return 1
    return 0


def check_platform(stack: Stack) -> None:
    """What make up built: our kind config, the registry on the kind network, the node pulling what was pushed."""
    node = f"{CLUSTER}-control-plane"
    with timed("the cluster has our config; the registry sits on the kind network; the node pulled our push"):
        inspect = json.loads(sh(["docker", "inspect", node]).stdout)[0]
        bindings = inspect["HostConfig"]["PortBindings"]
        mapped = [(b["HostIp"], b["HostPort"]) for b in bindings.get("30080/tcp", [])]
        if mapped != [("127.0.0.1", str(HTTP_HOST_PORT))]:
            raise E2EFailure(f"node port 30080 is mapped to {mapped}, not 127.0.0.1:{HTTP_HOST_PORT}")
        config = sh(["docker", "exec", node, "cat", "/etc/containerd/config.toml"]).stdout
        if '"/etc/containerd/certs.d"' not in config:
            raise E2EFailure("the node's containerd has no config_path for certs.d")
        registry = json.loads(sh(["docker", "inspect", REGISTRY]).stdout)[0]
        if "kind" not in registry["NetworkSettings"]["Networks"]:
            raise E2EFailure(f"the registry is on {list(registry['NetworkSettings']['Networks'])}, not kind")
        volumes = [m.get("Name") for m in registry["Mounts"] if m["Type"] == "volume"]
        if volumes != [f"{REGISTRY}-data"]:
            raise E2EFailure(f"the registry stores into {volumes}, not its named volume")
        image = stack.deployed_image()
        pull_repo = f"{REGISTRY}:{REGISTRY_PORT}/{APP_NAME}"
        if not image.startswith(pull_repo + "@sha256:"):
            raise E2EFailure(f"the Deployment runs {image}, not {pull_repo}@<digest>")
        pulled = sh(["docker", "exec", node, "crictl", "images", "--digests", "-o", "json"]).stdout
        digests = {d for i in json.loads(pulled)["images"] for d in i.get("repoDigests") or []}
        if image not in digests:
            raise E2EFailure(f"containerd on {node} holds no {image}")
        print(f"    {image}; pushed tags {registry_tags()}")


def check_http(stack: Stack, client: Client) -> None:
    with timed("records appended and read back in order from the host; 401 without a key; 404 for another host"):
        for n in (1, 2):
            code = client.append("e2e-kind", f'{{"n":{n}}}')
            if code != "201":
                raise E2EFailure(f"append {n} answered {code}")
        data = [r["data"]["n"] for r in client.read("e2e-kind", 1)["records"]]
        if data != [0, 1, 2]:
            raise E2EFailure(f"read back {data}, not [0, 1, 2]")
        anonymous = client.status("-X", "POST", client.records("e2e-kind"), "-d", "{}")
        if anonymous != "401":
            raise E2EFailure(f"an append without a key answered {anonymous}, not 401")
        stranger = Client("not-ours.example", client.token)
        if stranger.append("e2e-kind", "{}") == "201":
            raise E2EFailure("a request for another host reached the service")
    with timed("a pod in another namespace cannot reach the service; the service resolves and reaches PostgreSQL"):
        stack.cluster.kubectl(
            "apply", "-f", "-", stdin=pod_manifest("stranger", "default", CLIENT_IMAGE, ["sleep", "3600"])
        )
        wait("the stranger pod Ready", lambda: stack.cluster.all_ready("pods", "default"), 120)
        url = f"http://{APP_NAME}.{NAMESPACE}.svc.cluster.local:{HTTP_PORT}/"
        if stack.cluster.exec_ok("default", "stranger", "curl", "-sf", "--max-time", "5", url):
            raise E2EFailure("a pod outside the Gateway's data plane reached the service")
        stack.cluster.kubectl("delete", "pod", "stranger", "-n", "default", "--wait=false")
        # Ready means the readiness probe, which reads PostgreSQL: DNS and the egress policy let it through.
        wait("the service pods Ready", lambda: stack.cluster.all_ready("pods", NAMESPACE), 60)


HOSTS = Path("/etc/hosts")


@contextmanager
def hosts_line(host: str) -> Iterator[None]:
    """The hosts-file line make up and make verify tell users to add, for the time of the check."""
    line = f"127.0.0.1 {host}  # wal-service make e2e-kind\n"
    with HOSTS.open("a") as hosts:
        hosts.write(line)
    try:
        yield
    finally:
        # In place: a container's /etc/hosts is a bind mount that cannot be replaced.
        kept = [entry for entry in HOSTS.read_text().splitlines(keepends=True) if entry != line]
        HOSTS.write_text("".join(kept))


def verify(stack: Stack, host: str) -> None:
    """make verify as a newcomer meets it: without the hosts-file line only the DNS layer fails, and says how to
    fix it; with it every layer passes."""
    if any(host in entry.split("#")[0].split()[1:] for entry in HOSTS.read_text().splitlines()):
        raise E2EFailure(f"{HOSTS} already names {host}: remove that line, the run checks make verify without it")
    with timed("make verify without the hosts-file line: only dns/host fails, naming the fix"):
        proc = stack.make_captured("verify")
        print(proc.stdout[-4000:], end="")
        failed = [line for line in proc.stdout.splitlines() if line.startswith("FAIL")]
        if proc.returncode == 0 or len(failed) != 1 or not failed[0].startswith("FAIL dns/host"):
            raise E2EFailure(f"expected make verify to fail on dns/host alone, got: {failed or proc.returncode}")
        if f"echo '127.0.0.1 {host}' | sudo tee -a /etc/hosts" not in failed[0]:
            raise E2EFailure(f"the dns/host failure does not name the fix: {failed[0]}")
    with hosts_line(host), timed("make verify with the hosts-file line: every layer, HTTP, DNS and network"):
        stack.make("verify", timeout=600)


def replace_node_hosts(stack: Stack) -> None:
    """The recovery command the stack prints for the nodes' registry config, as an operator would run it; the
    rolling update after it proves a new image still pulls."""
    with timed("pulumi up --replace of the node-hosts command (recoveryCommands.rewriteNodeHosts)"):
        commands = json.loads(stack.run.sh("pulumi", "stack", "output", "recoveryCommands", "--json").stdout)
        words = shlex.split(commands["rewriteNodeHosts"])
        if words[:3] != ["pulumi", "up", "--replace"]:
            raise E2EFailure(f"rewriteNodeHosts is not a pulumi up --replace: {commands['rewriteNodeHosts']}")
        stack.run.up(*words[2:])
        hosts = f"/etc/containerd/certs.d/{REGISTRY}:{REGISTRY_PORT}/hosts.toml"
        sh(["docker", "exec", f"{CLUSTER}-control-plane", "test", "-s", hosts])


def registry_gc_then_repush(stack: Stack, old_tags: list[str], old_image: str) -> None:
    """Garbage collection deletes the older revision's blobs; pushing it again must upload them again (a registry
    that still remembered deleted blobs would skip them and serve a broken image), and the node, which no longer
    holds it, pulls it whole."""
    with timed("make registry-gc keeping one revision; the older image pushed again; the node pulls it"):
        stack.run.pulumi("config", "set", f"{PROJECT}:registryKeepRevisions", "1")
        stack.make("registry-gc", timeout=600)
        gone = [tag for tag in old_tags if tag not in registry_tags()]
        if not gone:
            raise E2EFailure(f"registry-gc kept every tag of the first revision {old_tags}")
        sh(["docker", "push", f"localhost:{REGISTRY_HOST_PORT}/{APP_NAME}:{gone[0]}"])
        node = f"{CLUSTER}-control-plane"
        sh(["docker", "exec", node, "crictl", "rmi", old_image])
        pulled = f"{REGISTRY}:{REGISTRY_PORT}/{APP_NAME}:{gone[0]}"
        sh(["docker", "exec", node, "crictl", "pull", pulled], timeout=300)
        held = sh(["docker", "exec", node, "crictl", "inspecti", "-o", "json", pulled]).stdout
        if old_image.split("@")[-1] not in held:
            raise E2EFailure(f"the node pulled {pulled}, but not as {old_image}")
        print(f"    {gone[0]}: collected, pushed again, pulled by the node")


def check_nothing_left(stack: Stack) -> None:
    if CLUSTER in sh(["kind", "get", "clusters"]).stdout.split():
        raise E2EFailure(f"kind cluster {CLUSTER} is still there after make down")
    containers = sh(["docker", "ps", "-a", "--format", "{{.Names}}"]).stdout.split()
    ours = [c for c in containers if c == REGISTRY or c.startswith(f"{CLUSTER}-")]
    volumes = [
        v for v in sh(["docker", "volume", "ls", "--format", "{{.Name}}"]).stdout.split() if v.startswith(REGISTRY)
    ]
    if ours or volumes:
        raise E2EFailure(f"make down left containers {ours} and volumes {volumes}")
    if stack.kubeconfig.exists():
        raise E2EFailure(f"make down left the stack's kubeconfig {stack.kubeconfig}")


if __name__ == "__main__":
    sys.exit(main())
