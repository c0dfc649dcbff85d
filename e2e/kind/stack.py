"""The dev stack's working copy for `make e2e-kind`, driven with the product's own make targets, and a client that
reaches it from the host as the README tells users to."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from components.labels import APP_NAME
from e2e.harness import NAMESPACE, STACK, E2EFailure, Run
from e2e.kind.cluster_check import CLUSTER, HERE, REGISTRY, REGISTRY_HOST_PORT, Cluster, node_image, sh, stand_in_images

HTTP_HOST_PORT = 18080
CHART = HERE / "gateway-chart"
# The CAs this machine adds to the system bundle: a short pipCaFile, as it travels as a build argument.
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

    def make_captured(self, target: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """`make <target> STACK=dev` as a user runs it, its output returned instead of shown."""
        return self._make(target, timeout, capture=True)

    def make(self, target: str, timeout: float = 1800) -> float:
        """`make <target> STACK=dev` as a user runs it, its output shown; the seconds it took."""
        print(f"$ make {target} STACK={STACK}", flush=True)
        started = time.monotonic()
        proc = self._make(target, timeout, capture=False)
        if proc.returncode != 0:
            raise E2EFailure(f"make {target} exited {proc.returncode}; its output is above")
        return time.monotonic() - started

    def _make(self, target: str, timeout: float, capture: bool) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "--no-print-directory", target, f"STACK={STACK}"],
            cwd=self.run.work, env=self.env, capture_output=capture, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def change_app(self, why: str) -> None:
        """A change to app code in the working copy: a new source revision, so a new image digest."""
        entry = self.run.work / "app" / "src" / "wal_service" / "__init__.py"
        entry.write_text(entry.read_text() + f"\n# e2e-kind: {why}\n")

    def output(self, name: str) -> str:
        return self.run.sh(
            "pulumi", "stack", "output", name, "--show-secrets", "--stack", STACK, echo=False
        ).stdout.strip()

    def deployed_image(self) -> str:
        deployment = self.cluster.json("get", "deployment", APP_NAME, "-n", NAMESPACE)
        return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def registry_tags() -> list[str]:
    """The app image's tags in the stack's registry, as the host reaches it."""
    url = f"http://localhost:{REGISTRY_HOST_PORT}/v2/{APP_NAME}/tags/list"
    return list(json.loads(sh(["curl", "-sf", url]).stdout).get("tags") or [])


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
