"""`make e2e-kind` under load: a client on the host appends every 0.1 s while the stack changes under it (a rolling
update by make up, a service pod deleted, PostgreSQL's pod deleted), and the inner loop by hand for the figure."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from components.database import POSTGRES_NAME
from components.labels import APP_NAME
from components.registry import REGISTRY_PORT
from e2e.harness import NAMESPACE, E2EFailure, timed, wait
from e2e.kind.cluster_check import REGISTRY, REGISTRY_HOST_PORT, sh
from e2e.kind.stack import Client, Stack, registry_tags


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
        before_tags = set(registry_tags())
        before = stack.deployed_image()
        stack.change_app("a code change, so a new image digest")
        appender.start(seconds)
        took = stack.make("up")
        after = stack.deployed_image()
        new_tags = set(registry_tags()) - before_tags
        if after == before or after.split("@")[-1] != stack.output("imageDigest"):
            raise E2EFailure(f"the Deployment did not roll to the new digest (it runs {after})")
        if len(new_tags) != 1:
            raise E2EFailure(f"expected exactly one new image tag, the registry has {sorted(new_tags)} more")
        wait("the new pods serving", lambda: stack.cluster.all_ready("pods", NAMESPACE), 120)
        print(f"    {before} -> {after}")
        no_failures("during the rolling update", appender, seconds)
    return took


def inner_loop_by_hand(stack: Stack, keys: dict[str, str]) -> float:
    """The inner loop by hand on the same cluster, for the figure: docker build and push, kubectl set image, rollout
    status, with the build arguments the stack's keys give make up. The seconds from the build to the rollout done."""
    with timed("the inner loop by hand for comparison: docker build, push, kubectl set image, rollout status"):
        work = stack.run.work
        stack.change_app("the inner loop by hand")
        tag = f"localhost:{REGISTRY_HOST_PORT}/{APP_NAME}:by-hand"
        build = ["docker", "build", "-q", "--target", "production", "-t", tag,
                 "--build-arg", f"PYTHON_IMAGE={keys['pythonImage']}"]  # fmt: skip
        if "pipCaFile" in keys:
            build += ["--build-arg", f"PIP_EXTRA_CA_PEM={Path(keys['pipCaFile']).read_text()}"]
        deployment = stack.cluster.json("get", "deployment", APP_NAME, "-n", NAMESPACE)
        container = deployment["spec"]["template"]["spec"]["containers"][0]["name"]
        started = time.monotonic()
        sh([*build, str(work / "app")], timeout=1200)
        sh(["docker", "push", tag])
        pulled = f"{REGISTRY}:{REGISTRY_PORT}/{APP_NAME}:by-hand"
        stack.cluster.kubectl("set", "image", f"deployment/{APP_NAME}", f"{container}={pulled}", "-n", NAMESPACE)
        stack.cluster.kubectl("rollout", "status", f"deployment/{APP_NAME}", "-n", NAMESPACE, "--timeout=300s")
        return time.monotonic() - started


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
