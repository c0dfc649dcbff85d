"""The dev stack deployed by the product's own `make up` on the real Docker: the second slice of `make e2e-kind`.

From nothing (no cluster, no registry): `make up` runs preflight, builds the kind cluster from the stack, starts the
registry, builds app/ and pushes it, deploys the workload with the policy pack, and NGINX Gateway Fabric's chart,
here the stand-in chart e2e/kind/gateway-chart (`gatewayChart`), whose controller and data plane are ours
(e2e/kind/go/gateway-standin): NGF cannot be built from what our machines reach. Then HTTP from the host takes the
real path: 127.0.0.1:<ingressHttpPort>, the kind port mapping, the node port, the data plane, our NetworkPolicy, the
Service, the pods. The docker resources go through the docker provider stand-in (e2e/toolchain/pulumi), which drives
the real daemon. The stack's own names and ports are moved off the product's defaults so a developer's own dev stack
is never touched; the images no registry serves here are overridden with stand-ins, each named below.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from components.app_config import HTTP_PORT
from components.database import POSTGRES_NAME
from components.labels import APP_NAME
from components.registry import REGISTRY_PORT
from e2e.harness import NAMESPACE, PROJECT, STACK, E2EFailure, Run, default_root, timed, toolchain_bin, wait
from e2e.kind.cluster_check import (
    CLIENT_IMAGE,
    CLUSTER,
    HERE,
    REGISTRY,
    REGISTRY_HOST_PORT,
    Cluster,
    node_image,
    pod_manifest,
    sh,
    stand_in_images,
)
from ops import stack as stack_mod

HTTP_HOST_PORT = 18080
CHART = HERE / "gateway-chart"
# What stand-ins cannot show (a short pipCaFile: only the CAs this machine adds, not the whole bundle).
LOCAL_CAS = Path("/usr/local/share/ca-certificates")


def overrides(work: Path) -> dict[str, str]:
    """Every key the e2e sets on the dev stack, and why: the rest is the stack as committed."""
    images = stand_in_images()
    keys = {
        # A developer's own dev stack (wal-service-cluster, kind-registry, ports 80 and 6000) is never touched.
        "kindClusterName": CLUSTER,
        "registryName": REGISTRY,
        "registryPort": str(REGISTRY_HOST_PORT),
        "ingressHttpPort": str(HTTP_HOST_PORT),
        # Deleting the one pod of a one-replica Deployment is an outage by definition; two show the drain.
        "replicas": "2",
        # No registry serves these here: images.sh and workload-images.sh build stand-ins (README, e2e-kind).
        "kindNodeImage": node_image(),
        "registryImage": images["wal-service:registryImage"],
        "databaseImage": images["wal-service:databaseImage"],
        "pythonImage": images["wal-service:pythonImage"],
        # ghcr.io is out of reach and NGF cannot be built here: the stand-in chart plays controller and data plane.
        "gatewayChart": str(CHART),
    }
    cas = sorted(LOCAL_CAS.glob("*.crt"))
    if cas:
        # This machine reaches PyPI through a TLS-intercepting proxy whose CA a container does not trust.
        bundle = work.parent / "pip-ca.pem"
        bundle.write_text("".join(p.read_text() for p in cas))
        keys["pipCaFile"] = str(bundle)
    return keys


class Stack:
    """The dev stack's working copy, driven with the product's own make targets."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.env = {k: v for k, v in run.env.items() if k != "KUBECONFIG"}
        self.kubeconfig = run.work / ".kube" / f"kind-{CLUSTER}.yaml"
        self.cluster = Cluster(self.kubeconfig)

    def make(self, target: str, timeout: float = 1800) -> float:
        """`make <target> STACK=dev` as a user runs it, its output shown; the seconds it took."""
        print(f"$ make {target} STACK={STACK}", flush=True)
        started = time.monotonic()
        proc = subprocess.run(
            ["make", "--no-print-directory", target, f"STACK={STACK}"],
            cwd=self.run.work, env=self.env, timeout=timeout, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise E2EFailure(f"make {target} exited {proc.returncode}; its output is above")
        return time.monotonic() - started

    def output(self, name: str) -> str:
        return self.run.sh(
            "pulumi", "stack", "output", name, "--show-secrets", "--stack", STACK, echo=False
        ).stdout.strip()

    def deployed_image(self) -> str:
        deployment = self.cluster.json("get", "deployment", APP_NAME, "-n", NAMESPACE)
        return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


class Client:
    """curl on the host, through 127.0.0.1:<ingressHttpPort> and the host name, as the README tells users to."""

    def __init__(self, host: str, token: str) -> None:
        self.host = host
        self.token = token
        self.base = f"http://{host}:{HTTP_HOST_PORT}"

    def records(self, log: str) -> str:
        return f"{self.base}/api/v1/logs/{log}/records"

    def curl(self, *args: str) -> list[str]:
        return ["curl", "-s", "--max-time", "5", "--resolve", f"{self.host}:{HTTP_HOST_PORT}:127.0.0.1", *args]

    def status(self, *args: str) -> str:
        return sh([*self.curl("-o", "/dev/null", "-w", "%{http_code}", *args)], check=False).stdout.strip()

    def append(self, log: str, body: str) -> str:
        return self.status("-X", "POST", self.records(log), "-H", f"Authorization: Bearer {self.token}",
                           "-H", "content-type: application/json", "-d", body)  # fmt: skip

    def read(self, log: str, from_lsn: int) -> Any:
        got = sh([*self.curl("-f", f"{self.records(log)}?from_lsn={from_lsn}&limit=1000",
                             "-H", f"Authorization: Bearer {self.token}")])  # fmt: skip
        return json.loads(got.stdout)


def main(look_around: list[str] | None = None, keep: bool = False) -> int:
    look_around = [] if look_around is None else look_around
    run = Run(default_root().with_name(default_root().name + "-kind"), toolchain_bin())
    stack = Stack(run)
    try:
        with timed("the dev stack's working copy, its stand-in keys set"):
            run.prepare()
            run.sh("pulumi", "stack", "init", STACK, "--non-interactive")
            for key, value in overrides(run.work).items():
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
        with timed("make verify: every layer, HTTP, DNS and network included"):
            stack.make("verify", timeout=600)
        inner = rolling_update(stack, client, Appender(client, "e2e-kind-rolling"))
        print(f"    FIGURE inner loop, app change to new pods serving through make up: {inner:.0f} s")
        pod_deleted(stack, Appender(client, "e2e-kind-pod-deleted"))
        database_restart(stack, Appender(client, "e2e-kind-db-restart"))
        if keep:
            look_around.extend(
                f"{k}={run.env[k]}" for k in ("PATH", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE_FILE")
            )
            look_around.append(f"KUBECONFIG={stack.kubeconfig}")
            look_around.append(f"STACK={STACK}")
            look_around.append(f"URL={client.base}/ (curl --resolve {settings.host}:{HTTP_HOST_PORT}:127.0.0.1)")
            look_around.append(f"# clean up: cd {run.work} && make down STACK={STACK} (with the variables above)")
            return 0
        with timed("make down: nothing of ours left"):
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
        tags = json.loads(sh(["curl", "-sf", f"http://localhost:{REGISTRY_HOST_PORT}/v2/{APP_NAME}/tags/list"]).stdout)
        print(f"    {image}; pushed tags {tags['tags']}")


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


class Appender:
    """A client on the host appending {"i": n} every 0.1 s to one log for a while, and what came of it."""

    def __init__(self, client: Client, log: str) -> None:
        self.client = client
        self.log = log
        self.process: subprocess.Popen[str] | None = None

    def start(self, seconds: int) -> None:
        curl = " ".join(f"'{a}'" for a in self.client.curl())
        loop = (
            f"end=$(( $(date +%s) + {seconds} )); i=0; "
            "while [ $(date +%s) -lt $end ]; do i=$((i+1)); "
            f"code=$({curl} -o /dev/null -w '%{{http_code}} %{{time_total}}' -X POST {self.client.records(self.log)} "
            f"-H 'Authorization: Bearer {self.client.token}' -H 'content-type: application/json' "
            '-d "{\\"i\\":$i}"); '
            'echo "$i $code"; sleep 0.1; done'
        )
        self.process = subprocess.Popen(["sh", "-c", loop], stdout=subprocess.PIPE, text=True)

    def outcome(self, timeout: float) -> tuple[list[int], list[tuple[int, str, float]]]:
        """The acknowledged appends' numbers, and (number, status, seconds) of the others."""
        assert self.process is not None
        out, _ = self.process.communicate(timeout=timeout)
        acked, failed = [], []
        for line in out.splitlines():
            number, code, took = line.split()
            if code == "201":
                acked.append(int(number))
            else:
                failed.append((int(number), code, float(took)))
        if not acked:
            raise E2EFailure(f"no append was acknowledged; the client printed {out[-300:]!r}")
        return acked, failed

    def check_nothing_lost(self, acked: list[int]) -> None:
        held: list[int] = []
        next_from = 1
        while True:
            page = self.client.read(self.log, next_from)
            if not page["records"]:
                break
            held.extend(r["data"]["i"] for r in page["records"])
            next_from = page["next_from_lsn"]
        if [n for n in held if n in set(acked)] != acked:
            raise E2EFailure(f"{len(acked)} appends acknowledged, but the log does not hold them all in order")
        print(f"    {len(acked)} acknowledged appends, all read back in order")


def no_failures(what: str, appender: Appender, seconds: int) -> None:
    acked, failed = appender.outcome(seconds + 60)
    if failed:
        raise E2EFailure(f"{len(failed)} appends failed {what}, e.g. {failed[:5]}")
    appender.check_nothing_lost(acked)


def rolling_update(stack: Stack, client: Client, appender: Appender) -> float:
    """A change to app code, then make up, while a client appends: one new digest, a rolling update, no failure.
    Returns the seconds from make up to the new pods serving."""
    seconds = 150
    with timed(f"app code changed, then make up, while a client appends for {seconds}s"):
        tags = f"http://localhost:{REGISTRY_HOST_PORT}/v2/{APP_NAME}/tags/list"
        before_tags = set(json.loads(sh(["curl", "-sf", tags]).stdout)["tags"])
        before = stack.deployed_image()
        entry = stack.run.work / "app" / "src" / "wal_service" / "__init__.py"
        entry.write_text(entry.read_text() + "\n# e2e-kind: a code change, so a new image digest\n")
        appender.start(seconds)
        took = stack.make("up")
        after = stack.deployed_image()
        new_tags = set(json.loads(sh(["curl", "-sf", tags]).stdout)["tags"]) - before_tags
        if after == before or after.split("@")[-1] != stack.output("imageDigest"):
            raise E2EFailure(f"the Deployment did not roll to the new digest (it runs {after})")
        if len(new_tags) != 1:
            raise E2EFailure(f"expected exactly one new image tag, the registry has {sorted(new_tags)} more")
        wait("the new pods serving", lambda: stack.cluster.all_ready("pods", NAMESPACE), 120)
        print(f"    {before} -> {after}")
        no_failures("during the rolling update", appender, seconds)
    return took


def pod_deleted(stack: Stack, appender: Appender) -> None:
    seconds = 60
    with timed(f"a service pod deleted while a client appends for {seconds}s"):
        appender.start(seconds)
        time.sleep(10)
        pods = stack.cluster.json("get", "pods", "-n", NAMESPACE, "-l", f"app.kubernetes.io/name={APP_NAME}")
        victim = pods["items"][0]["metadata"]["name"]
        stack.cluster.kubectl("delete", "pod", victim, "-n", NAMESPACE, "--wait=false")
        no_failures(f"after {victim} was deleted", appender, seconds)


def database_restart(stack: Stack, appender: Appender) -> None:
    """PostgreSQL's pod deleted under load: appends fail fast with 503 while it is away, then resume."""
    seconds = 90
    with timed(f"the PostgreSQL pod deleted while a client appends for {seconds}s"):
        appender.start(seconds)
        time.sleep(10)
        stack.cluster.kubectl("delete", "pod", f"{POSTGRES_NAME}-0", "-n", NAMESPACE, "--wait=false")
        acked, failed = appender.outcome(seconds + 60)
        slowest = max((took for _, _, took in failed), default=0.0)
        print(
            f"    {len(acked)} acknowledged, {len(failed)} refused while the database was away (slowest {slowest:.1f}s)"
        )
        # An answer at all (curl gives up after 5 s with 000) and the one that says "try again".
        wrong = [f for f in failed if f[1] != "503"]
        if wrong:
            raise E2EFailure(f"appends failed otherwise than with 503: {wrong[:5]}")
        if failed and max(acked) < max(n for n, _, _ in failed):
            raise E2EFailure("appends did not resume after the database came back")
        appender.check_nothing_lost(acked)


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
