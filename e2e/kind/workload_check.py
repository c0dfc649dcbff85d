"""The dev stack's workload on real pods: the second slice of `make e2e-kind`.

On the kind cluster `cluster_check --keep` leaves (the product's kind config, its registry wiring), it deploys the
dev stack as `make e2e` does (real Pulumi CLI and Kubernetes provider, clusterMode existing, the policy pack),
with the app image built from app/ on the Python stand-in and pushed to the local registry, and PostgreSQL from
its stand-in. Then what only real pods show: PostgreSQL Ready on a bound volume, the service's pods Ready by their
own probes under the restricted profile, records appended and read back through the Service from a pod the
NetworkPolicy admits (one labelled as the Gateway's data plane), and refused from any other pod.
NGINX Gateway Fabric cannot be built here: the harness writes the Gateway's status, and nothing proxies the host.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from components.app_config import HTTP_PORT
from components.database import POSTGRES_NAME
from components.labels import APP_NAME, GATEWAY_NAME_LABEL
from e2e.harness import NAMESPACE, PROJECT, ROOT, STACK, E2EFailure, Run, default_root, timed, toolchain_bin, wait
from e2e.kind.cluster_check import (
    CLIENT_IMAGE,
    CLUSTER,
    REGISTRY_HOST_PORT,
    Cluster,
    pod_manifest,
    sh,
    stand_in_images,
)
from e2e.steps import teardown

IMAGE_REPO = f"localhost:{REGISTRY_HOST_PORT}/{APP_NAME}"
# The service as pods in the cluster reach it.
SERVICE_URL = f"http://{APP_NAME}.{NAMESPACE}.svc.cluster.local:{HTTP_PORT}"


def records_url(log: str) -> str:
    return f"{SERVICE_URL}/api/v1/logs/{log}/records"


def kind_kubeconfig(context: str) -> str:
    """kind's kubeconfig for the cluster, its context renamed to the one the e2e stack is configured with."""
    config = yaml.safe_load(sh(["kind", "get", "kubeconfig", "--name", CLUSTER]).stdout)
    config["contexts"][0]["name"] = context
    config["current-context"] = context
    return yaml.safe_dump(config)


def build_app(images: dict[str, str], source: Path = ROOT / "app", tag_suffix: str = "e2e-kind") -> str:
    """The production image of an app/ tree, pushed; its reference by digest."""
    ca = "".join(p.read_text() for p in sorted(Path("/usr/local/share/ca-certificates").glob("*.crt")))
    tag = f"{IMAGE_REPO}:{tag_suffix}"
    sh(
        ["docker", "build", "-q", "--target", "production", "-t", tag,
         "--build-arg", f"PYTHON_IMAGE={images['wal-service:pythonImage']}", "--build-arg", f"PIP_EXTRA_CA_PEM={ca}",
         str(source)],
        timeout=1200,
    )  # fmt: skip
    sh(["docker", "push", tag])
    digests = json.loads(sh(["docker", "image", "inspect", tag, "--format", "{{json .RepoDigests}}"]).stdout)
    return str(next(d for d in digests if d.startswith(IMAGE_REPO + "@")))


def main(look_around: list[str] | None = None, destroy: bool = True) -> int:
    look_around = [] if look_around is None else look_around
    images = stand_in_images()
    run = Run(default_root().with_name(default_root().name + "-kind"), toolchain_bin())
    try:
        with timed("app image from app/ on the Python stand-in, pushed to the local registry"):
            image_ref = build_app(images)
            print(f"    {image_ref}")
        with timed("PostgreSQL stand-in loaded into the node (no registry serves it)"):
            sh(["kind", "load", "docker-image", "--name", CLUSTER, images["wal-service:databaseImage"]])
        with timed("the dev stack's working copy, pointed at the kind cluster"):
            run.prepare()
            run.cluster.root.mkdir(parents=True, exist_ok=True)
            run.cluster.kubeconfig.write_text(kind_kubeconfig("wal-e2e"))
            run.configure()
            overrides = {
                "registryServer": f"localhost:{REGISTRY_HOST_PORT}",
                "imageRef": image_ref,
                "databaseImage": images["wal-service:databaseImage"],
            }
            for key, value in overrides.items():
                run.pulumi("config", "set", f"{PROJECT}:{key}", value)
            run.gateway_platform()
        with timed("pulumi up with the policy pack"):
            run.start_gateway_controller()
            run.up()
        check_workload(run, images)
        if destroy:
            with timed(teardown.destroy.title + ", with real pods, volumes and finalizers"):
                teardown.destroy.action(run)
    except E2EFailure as err:
        print(f"FAILED: {err}", file=sys.stderr)
        return 1
    finally:
        run.stop_gateway_controller()
    # For a look around with plain kubectl, pulumi and curl (through the Service: nothing proxies the host).
    look_around.extend(
        f"{key}={run.env[key]}" for key in ("KUBECONFIG", "PATH", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE_FILE")
    )
    look_around.append(f"STACK={STACK}")
    look_around.append(f"URL={SERVICE_URL}/ (from a pod in the Gateway's namespace)")
    look_around.append(f"# run pulumi in {run.work}")
    return 0


def check_workload(run: Run, images: dict[str, str]) -> None:
    cluster = Cluster(run.cluster.kubeconfig)

    def ready(kind: str) -> bool:
        items: list[Any] = cluster.json("get", kind, "-n", NAMESPACE)["items"]
        return bool(items) and all(i["status"].get("readyReplicas", 0) == i["spec"].get("replicas", 1) for i in items)

    with timed("PostgreSQL and the service Ready by their own probes"):
        wait("the StatefulSet Ready", lambda: ready("statefulsets"), 300)
        wait("the Deployment Ready", lambda: ready("deployments"), 300)
    # Not echoed: a token stays out of logs, even a throwaway one.
    token = run.sh(
        "pulumi", "stack", "output", "apiToken", "--show-secrets", "--stack", STACK, echo=False
    ).stdout.strip()
    gateways = cluster.json("get", "gateways", "-A")["items"]
    if len(gateways) != 1:
        raise E2EFailure(f"expected the stack's one Gateway, found {len(gateways)}")
    gw_ns, gw_name = gateways[0]["metadata"]["namespace"], gateways[0]["metadata"]["name"]
    url = records_url("e2e-kind")
    append = (
        f"curl -sf --max-time 5 -X POST {url} -H 'Authorization: Bearer {token}' -H 'content-type: application/json'"
    )
    # Debian with curl (images.sh); as the Gateway's data plane: its namespace, its gateway-name label.
    for name, namespace, labels in (
        ("dataplane", gw_ns, {GATEWAY_NAME_LABEL: gw_name}),
        ("stranger", "default", {"app": "stranger"}),
    ):
        cluster.kubectl(
            "apply", "-f", "-", stdin=pod_manifest(name, namespace, CLIENT_IMAGE, ["sleep", "3600"], labels)
        )

    def pod_ready(name: str, namespace: str) -> bool:
        jsonpath = "jsonpath={.status.containerStatuses[0].ready}"
        return cluster.kubectl("get", "pod", name, "-n", namespace, "-o", jsonpath, check=False).stdout == "true"

    wait("the client pods Ready", lambda: pod_ready("dataplane", gw_ns) and pod_ready("stranger", "default"), 120)

    def in_pod(name: str, namespace: str, script: str) -> subprocess.CompletedProcess[str]:
        return cluster.kubectl("exec", "-n", namespace, name, "--", "sh", "-c", script, check=False)

    with timed("records appended and read back in order through the Service, from the Gateway's data plane"):
        for body in ('{"n":1}', '{"n":2}'):
            got = in_pod("dataplane", gw_ns, f"{append} -d '{body}'")
            if got.returncode != 0:
                raise E2EFailure(f"append {body} failed: {got.stderr.strip() or got.stdout.strip()}")
        read = in_pod(
            "dataplane", gw_ns, f"curl -sf --max-time 5 '{url}?from_lsn=1' -H 'Authorization: Bearer {token}'"
        )
        print(f"    {read.stdout.strip()[:300]}")
        if (
            read.returncode != 0
            or read.stdout.find('"n":1') < 0
            or read.stdout.find('"n":1') > read.stdout.find('"n":2')
        ):
            raise E2EFailure(f"the read did not return both records in order: {read.stdout.strip()[:300]}")
        anonymous = in_pod(
            "dataplane", gw_ns, f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 -X POST {url} -d '{{}}'"
        )
        if anonymous.stdout.strip() != "401":
            raise E2EFailure(f"an append without a key answered {anonymous.stdout.strip()!r}, not 401")
    with timed("a pod in another namespace cannot reach the service"):
        if in_pod("stranger", "default", f"{append} -d '{{}}'").returncode == 0:
            raise E2EFailure("a pod outside the Gateway's data plane appended a record")
    rolling_update(run, images, cluster, Appender(cluster, gw_ns, token, "e2e-kind-rolling"))
    database_restart(cluster, Appender(cluster, gw_ns, token, "e2e-kind-db-restart"))


class Appender:
    """A client in the data-plane pod appending {"i": n} every 0.1 s to one log for a while, and what came of it."""

    def __init__(self, cluster: Cluster, gw_ns: str, token: str, log: str) -> None:
        self.exec = ["kubectl", "--kubeconfig", str(cluster.kubeconfig), "exec", "-n", gw_ns, "dataplane", "--"]
        self.token = token
        self.log = records_url(log)
        self.client: subprocess.Popen[str] | None = None

    def start(self, seconds: int) -> None:
        loop = (
            f"end=$(( $(date +%s) + {seconds} )); i=0; "
            "while [ $(date +%s) -lt $end ]; do i=$((i+1)); "
            f"code=$(curl -s -o /dev/null -w '%{{http_code}} %{{time_total}}' --max-time 5 -X POST {self.log} "
            f"-H 'Authorization: Bearer {self.token}' -H 'content-type: application/json' -d \"{{\\\"i\\\":$i}}\"); "
            'echo "$i $code"; sleep 0.1; done'
        )
        self.client = subprocess.Popen([*self.exec, "sh", "-c", loop], stdout=subprocess.PIPE, text=True)

    def outcome(self, timeout: float) -> tuple[list[int], list[tuple[int, str, float]]]:
        """The acknowledged appends' numbers, and (number, status, seconds) of the others."""
        assert self.client is not None
        out, _ = self.client.communicate(timeout=timeout)
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

    def read_back(self) -> list[int]:
        records: list[Any] = []
        next_from = 1
        while True:
            read = ["curl", "-sf", "--max-time", "5", f"{self.log}?from_lsn={next_from}&limit=1000"]
            page = sh([*self.exec, *read, "-H", f"Authorization: Bearer {self.token}"])
            body = json.loads(page.stdout)
            if not body["records"]:
                return [r["data"]["i"] for r in records]
            records.extend(body["records"])
            next_from = body["next_from_lsn"]

    def check_nothing_lost(self, acked: list[int]) -> None:
        held = self.read_back()
        if [n for n in held if n in set(acked)] != acked:
            raise E2EFailure(f"{len(acked)} appends acknowledged, but the log does not hold them all in order")
        print(f"    {len(acked)} acknowledged appends, all read back in order")


def rolling_update(run: Run, images: dict[str, str], cluster: Cluster, appender: Appender) -> None:
    """A change to app code and an up, while a client appends in a loop: the seed's graduated probes and drain."""
    seconds = 120
    deployment = ("get", "deployment", APP_NAME, "-n", NAMESPACE)
    with timed(f"app code changed, pushed and rolled out by pulumi up while a client appends for {seconds}s"):
        source = run.root / "app-changed"
        shutil.rmtree(source, ignore_errors=True)
        shutil.copytree(ROOT / "app", source, ignore=shutil.ignore_patterns(".venv", "__pycache__", "*.egg-info"))
        entry = source / "src" / "wal_service" / "__init__.py"
        entry.write_text(entry.read_text() + "\n# e2e-kind: a code change, so a new image digest\n")
        changed = build_app(images, source, "e2e-kind-changed")
        appender.start(seconds)
        before = cluster.json(*deployment)
        run.pulumi("config", "set", f"{PROJECT}:imageRef", changed)
        run.up()
        after = cluster.json(*deployment)
        acked, failed = appender.outcome(seconds + 60)
        image = after["spec"]["template"]["spec"]["containers"][0]["image"]
        if image != changed or after["metadata"]["generation"] == before["metadata"]["generation"]:
            raise E2EFailure(f"the Deployment did not roll to {changed} (it runs {image})")
        if failed:
            raise E2EFailure(f"{len(failed)} appends failed during the rolling update, e.g. {failed[:5]}")
        appender.check_nothing_lost(acked)


def database_restart(cluster: Cluster, appender: Appender) -> None:
    """PostgreSQL's pod deleted under load: appends fail fast with 503 while it is away, then resume."""
    seconds = 90
    with timed(f"the PostgreSQL pod deleted while a client appends for {seconds}s"):
        appender.start(seconds)
        time.sleep(10)
        cluster.kubectl("delete", "pod", f"{POSTGRES_NAME}-0", "-n", NAMESPACE, "--wait=false")
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


if __name__ == "__main__":
    sys.exit(main())
