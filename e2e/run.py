"""`make e2e`: the program through the real Pulumi CLI and Kubernetes provider against a real API server.

    python -m e2e.run            # build (or reuse) the toolchain, run every step, tear everything down
    E2E_KEEP=1 python -m e2e.run # leave the control plane and the stack up; print how to reach them
    python -m e2e.run --clean    # `make e2e-clean`: stop and remove what a kept run left

The stack is the dev stack from a snapshot of the working tree, switched to `existing` cluster mode
with `pulumi config set` (the only overrides): it targets a throwaway control plane whose nodes kwok
simulates. What the cluster lacks, the harness provides the way the real thing would: PersistentVolumes
for the database claim (a provisioner's job), the pinned Gateway API CRDs with a GatewayClass (a
platform team's), and the Gateway and HTTPRoute status (their controller's; see e2e/gateway_api.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.gateway_api_crds import VERSION as GATEWAY_API_VERSION
from components.settings import amount
from e2e import gateway_api
from e2e.compare import differences
from e2e.controlplane import CONTEXT, ControlPlane
from e2e.upstream_files import UpstreamError, gateway_api_crds_files, service_monitor_crd
from ops.stack import DEV_PASSPHRASE

ROOT = Path(__file__).resolve().parent.parent
TOOLCHAIN_BUILD = ROOT / "e2e" / "toolchain" / "build.sh"
STACK = "dev"
NAMESPACE = "wal-service-dev"
PROJECT = "wal-service"
# Two digests of one repository: the "release" deployed first and the one rolled back from.
DIGEST_A = "sha256:" + "a1" * 32
DIGEST_B = "sha256:" + "b2" * 32
REGISTRY = "registry.e2e.local"
IMAGE_REPO = f"{REGISTRY}/wal-service"
STEP_TIMEOUT = 15 * 60
# The dev stack's defaults: its own Gateway of class nginx in nginx-gateway, which the harness's
# platform provides on this existing cluster.
GATEWAY_CLASS = "nginx"
GATEWAY_NAMESPACE = "nginx-gateway"
# What stack policies read; Secrets are never recorded (their outputs hold ciphertext).
RECORDED_TYPES = frozenset(
    {
        "kubernetes:apps/v1:Deployment",
        "kubernetes:apps/v1:StatefulSet",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "kubernetes:policy/v1:PodDisruptionBudget",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "kubernetes:networking.k8s.io/v1:Ingress",
        "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
    }
)
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # sdk/go/common/resource/sig: a secret value in state


class E2EFailure(Exception):
    """A step whose outcome differs from what the program promises."""


def default_root() -> Path:
    """E2E_DIR, or a directory of this checkout's own: two worktrees' runs must not wipe each other's."""
    checkout = hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]
    return Path(os.environ.get("E2E_DIR") or Path(tempfile.gettempdir()) / f"wal-service-e2e-{checkout}")


def toolchain_bin() -> Path:
    """Build the toolchain if this revision of it is not cached yet; its bin directory."""
    proc = subprocess.run(["bash", str(TOOLCHAIN_BUILD)], stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise E2EFailure(f"toolchain build failed (exit {proc.returncode}); see the output above")
    return Path(proc.stdout.strip().splitlines()[-1])


@dataclass
class Run:
    root: Path
    bin_dir: Path
    cluster: ControlPlane = field(init=False)
    work: Path = field(init=False)
    env: dict[str, str] = field(init=False)
    timings: list[tuple[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cluster = ControlPlane(self.root / "cluster", self.bin_dir)
        self.work = self.root / "work"
        passphrase = self.root / "passphrase"
        self.env = {
            **os.environ,
            "PATH": os.pathsep.join([str(self.bin_dir), os.environ.get("PATH", "")]),
            "PULUMI_HOME": str(self.root / "pulumi-home"),
            "PULUMI_BACKEND_URL": f"file://{self.root / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_SKIP_CONFIRMATIONS": "true",
            # A path list, as kubectl allows, with a missing file first: the stack must load it with kubectl's
            # rules and its explicit context (wal-service:kubeconfig stays empty).
            "KUBECONFIG": os.pathsep.join([str(self.root / "no-such-kubeconfig"), str(self.cluster.kubeconfig)]),
            "NO_COLOR": "1",
        }
        for key in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN", "PULUMI_STACK"):
            self.env.pop(key, None)

    # ------------------------------------------------------------------ plumbing
    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        print(f"\n==> {title}", flush=True)
        started = time.monotonic()
        yield
        elapsed = time.monotonic() - started
        self.timings.append((title, elapsed))
        print(f"    ok ({elapsed:.1f} s)", flush=True)

    def sh(
        self, *args: str, check: bool = True, echo: bool = True, timeout: float = STEP_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the stack's working copy; its output is shown and returned."""
        if echo:
            print(f"$ {' '.join(args)}", flush=True)
        proc = subprocess.run(
            list(args), cwd=self.work, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if echo:
            sys.stdout.write(proc.stdout)
            sys.stderr.write(proc.stderr)
        if check and proc.returncode != 0:
            raise E2EFailure(f"`{' '.join(args)}` exited {proc.returncode}")
        return proc

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.sh("pulumi", *args, "--stack", STACK, "--non-interactive", check=check)

    def expect_refused(self, key: str, value: str, restore: str | None = None) -> None:
        """`pulumi config set key value` makes the real preview fail with one message naming the key and no
        traceback; then the key is set back to `restore` (or removed)."""
        self.pulumi("config", "set", key, value)
        try:
            proc = self.pulumi("preview", check=False)
        finally:
            if restore is None:
                self.pulumi("config", "rm", key)
            else:
                self.pulumi("config", "set", key, restore)
        output = proc.stdout + proc.stderr
        if proc.returncode == 0:
            raise E2EFailure(f"preview accepted {key}={value}")
        if "Traceback" in output:
            raise E2EFailure(f"{key}={value} produced a Python traceback")
        # The engine shows each diagnostic in the progress and again in the summary: one distinct message.
        # The key opens or names the message: "<key> = 'v' is invalid", "<key> has no effect", "<key>: stack ...".
        names_key = re.compile(re.escape(key) + r"[\s:]")
        messages = {line.split("error: ", 1)[-1].strip() for line in output.splitlines() if names_key.search(line)}
        if len(messages) != 1:
            raise E2EFailure(f"expected one message naming {key}, got: {sorted(messages)}")
        print(f"    {messages.pop()}")

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.cluster.kubectl(*args, "-o", "json").stdout)

    # ------------------------------------------------------------------ setup
    def prepare(self) -> None:
        if self.root.exists():
            ControlPlane(self.root / "cluster", self.bin_dir).stop()
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        # Pulumi.dev.yaml commits the encryptionsalt of the public dev passphrase: the same one, from a file.
        (self.root / "passphrase").write_text(f"{DEV_PASSPHRASE}\n")
        (self.root / "state").mkdir()
        snapshot(ROOT, self.work)

    def configure(self) -> None:
        """Select the dev stack and point it at the simulated cluster; nothing else is overridden."""
        self.sh("pulumi", "stack", "init", STACK, "--non-interactive")
        for key, value in {
            "clusterMode": "existing",
            "kubeContext": CONTEXT,
            # An existing cluster pulls from a registry it can reach (kwok pulls nothing).
            "registryMode": "external",
            "registryServer": REGISTRY,
            "imageRef": f"{IMAGE_REPO}@{DIGEST_A}",
            # The clean-up after `make up` works on a local registry only (refused with an external one).
            "registryGcAfterUp": "false",
        }.items():
            self.pulumi("config", "set", f"{PROJECT}:{key}", value)

    def committed_salt_round_trip(self) -> None:
        """Every machine shares dev's secrets: `stack init` reused the salt Pulumi.dev.yaml commits (it would mint
        a new one, and rewrite the file, otherwise) and a secret set with the public passphrase reads back."""
        committed = yaml.safe_load((ROOT / f"Pulumi.{STACK}.yaml").read_text())["encryptionsalt"]
        now = yaml.safe_load((self.work / f"Pulumi.{STACK}.yaml").read_text()).get("encryptionsalt")
        if now != committed:
            raise E2EFailure(f"stack init replaced the committed encryptionsalt {committed} with {now}")
        probe = f"{PROJECT}:e2eSecretProbe"
        self.pulumi("config", "set", "--secret", probe, "opened-with-the-public-passphrase")
        try:
            value = self.pulumi("config", "get", probe).stdout.strip()
        finally:
            self.pulumi("config", "rm", probe)
        if value != "opened-with-the-public-passphrase":
            raise E2EFailure(f"the secret read back as {value!r}")

    def storage(self, count: int = 2) -> None:
        """PersistentVolumes for the database claim, as a provisioner would make them."""
        volumes = [
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"e2e-pv-{i}", "labels": {"e2e": "storage"}},
                "spec": {
                    "capacity": {"storage": "100Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Delete",
                    "hostPath": {"path": f"/tmp/e2e-pv-{i}"},
                },
            }
            for i in range(count)
        ]
        self.cluster.kubectl("apply", "-f", "-", stdin="\n---\n".join(json.dumps(v) for v in volumes))

    def gateway_platform(self) -> None:
        """The pinned Gateway API CRDs (the files the program installs on kind), and the controller's namespace
        and GatewayClass, as a platform team would have set them up."""
        try:
            files = gateway_api_crds_files()
        except UpstreamError as exc:
            raise E2EFailure(str(exc)) from None
        gateway_api.install(self.cluster, files)
        objects = gateway_api.platform_objects(GATEWAY_CLASS, GATEWAY_NAMESPACE)
        self.cluster.kubectl("apply", "-f", "-", stdin="\n---\n".join(json.dumps(o) for o in objects))
        print(f"    Gateway API {GATEWAY_API_VERSION} standard channel from {files[0].parent}")

    def cel_rules_enforced(self) -> None:
        """Server-side dry runs of broken copies of the live objects: each must be refused by its CEL rule."""
        route = self.kubectl_json("get", "httproutes.gateway.networking.k8s.io", "wal-service", "-n", NAMESPACE)
        gateway = self.kubectl_json("get", "gateways.gateway.networking.k8s.io", "wal-service", "-n", GATEWAY_NAMESPACE)
        no_port = _fresh_copy(route, "e2e-no-port")
        del no_port["spec"]["rules"][0]["backendRefs"][0]["port"]
        twin_listener = _fresh_copy(gateway, "e2e-twin-listener")
        twin_listener["spec"]["listeners"].append({**twin_listener["spec"]["listeners"][0], "port": 8080})
        for obj, rule in ((no_port, "Must have port for Service reference"),
                          (twin_listener, "Listener name must be unique within the Gateway")):  # fmt: skip
            proc = self.cluster.kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(obj), check=False)
            if proc.returncode == 0 or rule not in proc.stderr:
                raise E2EFailure(f"{obj['kind']} breaking {rule!r} was not refused: {proc.stdout}{proc.stderr}")
            print(f"    {obj['kind']}: {rule}")

    # ------------------------------------------------------------------ checks
    def rendered(self) -> list[dict[str, Any]]:
        proc = self.sh(sys.executable, "-m", "tools.render", STACK, echo=False)
        return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]

    def live(self, obj: Mapping[str, Any]) -> Any:
        meta = obj.get("metadata", {})
        args = ["get", f"{obj['kind']}.{obj['apiVersion'].split('/')[0]}" if "/" in obj["apiVersion"] else obj["kind"],
                meta["name"]]  # fmt: skip
        if meta.get("namespace"):
            args += ["-n", meta["namespace"]]
        return self.kubectl_json(*args)

    def compare_with_render(self) -> None:
        problems: list[str] = []
        objects = self.rendered()
        for obj in objects:
            label = f"{obj['kind']}/{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"
            problems += [f"{label}: {p}" for p in differences(obj, self.live(obj))]
        if problems:
            raise E2EFailure("live objects differ from `make render`:\n  " + "\n  ".join(problems))
        print(f"    {len(objects)} rendered objects match the live ones field for field")

    def record_outputs(self, dest: Path) -> int:
        """The outputs the engine keeps for the objects stack policies read (what AnalyzeStack gets), with the
        inputs the program sent beside them: tests/policy/fixtures/deployed-outputs.json is one such record."""
        state = json.loads(self.sh("pulumi", "stack", "export", "--stack", STACK, echo=False).stdout)
        kept = [
            {
                "type": r["type"],
                "name": r["urn"].rsplit("::", 1)[-1],
                "urn": r["urn"],
                "inputs": r["outputs"]["__inputs"],
                "outputs": {k: v for k, v in r["outputs"].items() if not k.startswith("__")},
            }
            for r in state["deployment"]["resources"]
            if r["type"] in RECORDED_TYPES and SECRET_SIG not in json.dumps(r.get("outputs", {}))
        ]
        dest.write_text(json.dumps({"resources": kept}, indent=1, sort_keys=True) + "\n")
        return len(kept)

    def urn(self, type_: str, name_suffix: str) -> str:
        """The URN of the one resource of `type_` whose name ends with `name_suffix`, from the stack's state."""
        state = json.loads(self.sh("pulumi", "stack", "export", "--stack", STACK, echo=False).stdout)
        found = [
            r["urn"]
            for r in state["deployment"]["resources"]
            if r["type"] == type_ and r["urn"].rsplit("::", 1)[-1].endswith(name_suffix)
        ]
        if len(found) != 1:
            raise E2EFailure(f"expected one {type_} named *{name_suffix} in the state, found {found}")
        return str(found[0])

    def statefulset(self) -> Any:
        return self.kubectl_json("get", "statefulset", "postgres", "-n", NAMESPACE)

    def deployment(self) -> Any:
        return self.kubectl_json("get", "deployment", "wal-service", "-n", NAMESPACE)

    def wait(self, what: str, predicate: Callable[[], bool], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise E2EFailure(f"timed out after {timeout:g} s waiting for {what}")
            time.sleep(1)

    def replica_sets(self) -> list[Any]:
        selector = "app.kubernetes.io/name=wal-service"
        items: list[Any] = self.kubectl_json("get", "replicasets", "-n", NAMESPACE, "-l", selector)["items"]
        return items

    def rolled_to(self, template_hash: str) -> bool:
        current = [rs for rs in self.replica_sets() if rs["metadata"]["labels"]["pod-template-hash"] == template_hash]
        return bool(current) and (current[0]["status"].get("readyReplicas") or 0) >= 1

    def template_hash(self) -> str:
        """The pod-template-hash of the Deployment's newest ReplicaSet."""
        revision = "deployment.kubernetes.io/revision"
        newest = max(self.replica_sets(), key=lambda rs: int(rs["metadata"]["annotations"][revision]))
        return str(newest["metadata"]["labels"]["pod-template-hash"])


def _fresh_copy(obj: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A live object's spec under a new name, without server-set metadata or status."""
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {"name": name, "namespace": meta["namespace"]},
        "spec": json.loads(json.dumps(obj["spec"])),
    }


def _rolled(statefulset: Any) -> bool:
    status = statefulset.get("status", {})
    return bool(
        status.get("observedGeneration") == statefulset["metadata"]["generation"]
        and status.get("updateRevision") == status.get("currentRevision")
        and (status.get("readyReplicas") or 0) >= 1
    )


def snapshot(source: Path, dest: Path) -> None:
    """The working tree as git sees it (tracked and untracked, minus ignored files), plus links to the venvs."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=source, capture_output=True, check=True,
    )  # fmt: skip
    for name in filter(None, listing.stdout.decode().split("\0")):
        src = source / name
        if not src.is_file():
            continue  # deleted in the working tree
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    for venv in (".venv", "policy/.venv"):
        if (source / venv).exists():
            (dest / venv).symlink_to(source / venv)


RESTRICTED_VIOLATION = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "e2e-privileged", "namespace": NAMESPACE},
    "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}]},
}


def main_steps(run: Run) -> None:
    with run.step("start the control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok x2 nodes)"):
        run.cluster.start()
        run.storage()
        print(run.cluster.kubectl("version").stdout)

    with run.step("install the pinned Gateway API CRDs from the Go module and a GatewayClass (the platform's part)"):
        run.gateway_platform()

    with run.step("configure the dev stack for the simulated cluster (pulumi config set only)"):
        run.configure()

    with run.step("the committed encryptionsalt opens with the public passphrase and stack init keeps it"):
        run.committed_salt_round_trip()

    with run.step("pulumi preview with the policy pack"):
        run.pulumi("preview", "--policy-pack", "policy")

    controller = gateway_api.GatewayControllerStandIn(run.cluster, GATEWAY_CLASS)
    controller.start()
    with run.step("pulumi up with the policy pack (workloads Ready, Gateway Programmed, HTTPRoute Accepted)"):
        run.pulumi("up", "--yes", "--policy-pack", "policy")

    with run.step("the real API server enforces the CRDs' CEL rules on copies of our Gateway and HTTPRoute"):
        run.cel_rules_enforced()

    with run.step("live objects equal `make render` for every field the program sets"):
        run.compare_with_render()

    with run.step("pulumi preview --expect-no-changes, then a second up: no changes, no mandatory violations"):
        run.pulumi("preview", "--expect-no-changes", "--policy-pack", "policy")
        run.pulumi("up", "--yes", "--expect-no-changes", "--policy-pack", "policy")

    with run.step("a config change (logLevel) rolls the Deployment"):
        before = run.template_hash()
        run.pulumi("config", "set", f"{PROJECT}:logLevel", "warning")
        run.pulumi("up", "--yes", "--policy-pack", "policy")
        after = run.template_hash()
        if after == before:
            raise E2EFailure("logLevel changed but the pod template did not: the pods keep the old config")
        run.wait("the new ReplicaSet to be ready", lambda: run.rolled_to(after))

    with run.step("renaming the namespace and back: the host check takes the old HTTPRoute for the stack's own"):
        # The old route still exists while the new one is created; recognised by the instance label, it is no
        # conflict. The new namespace's database claim needs a volume of its own.
        renamed = f"{NAMESPACE}-renamed"
        run.storage(4)
        run.pulumi("config", "set", f"{PROJECT}:namespace", renamed)
        run.pulumi("up", "--yes", "--policy-pack", "policy")
        run.kubectl_json("get", "httproute", "wal-service", "-n", renamed)
        run.pulumi("config", "rm", f"{PROJECT}:namespace")
        run.pulumi("up", "--yes", "--policy-pack", "policy")
        run.wait(
            f"namespace {renamed} to be gone",
            lambda: run.cluster.kubectl("get", "namespace", renamed, check=False).returncode != 0,
        )

    with run.step("rotating the database password (up --replace) rolls the service and the database pods"):
        # The Secret is updated in place; without a checksum of it in their templates the pods would keep
        # the old password until they happened to restart.
        password = run.urn("random:index/randomPassword:RandomPassword", "-database-password")
        before, server_before = run.template_hash(), run.statefulset()["metadata"]["generation"]
        run.pulumi("up", "--yes", "--replace", password, "--policy-pack", "policy")
        after = run.template_hash()
        if after == before:
            raise E2EFailure("the password changed but the service's pod template did not")
        if run.statefulset()["metadata"]["generation"] == server_before:
            raise E2EFailure("the password changed but the database's pod template did not")
        run.wait("the new ReplicaSet to be ready", lambda: run.rolled_to(after))
        run.wait("the database to roll", lambda: _rolled(run.statefulset()))

    with run.step("an explicit wal-service:kubeconfig path instead of $KUBECONFIG replaces nothing"):
        uid = run.deployment()["metadata"]["uid"]
        run.pulumi("config", "set", f"{PROJECT}:kubeconfig", str(run.cluster.kubeconfig))
        run.pulumi("up", "--yes", "--policy-pack", "policy")
        run.pulumi("preview", "--expect-no-changes", "--policy-pack", "policy")
        run.pulumi("config", "rm", f"{PROJECT}:kubeconfig")
        run.pulumi("up", "--yes", "--policy-pack", "policy")
        if run.deployment()["metadata"]["uid"] != uid:
            raise E2EFailure("changing how the kubeconfig is found replaced the Deployment")

    with run.step("a bad config value fails the real preview with one line and no traceback"):
        run.expect_refused(f"{PROJECT}:logLevel", "LOUD", restore="warning")

    with run.step("a key of the disabled default Kubernetes provider is refused, not silently ignored"):
        run.expect_refused("kubernetes:context", "some-other-cluster")

    with run.step("the all-zero placeholder imageRef: preview shows the plan with a warning, up refuses it"):
        # prod's stack file ships this placeholder until a digest is promoted.
        run.pulumi("config", "set", f"{PROJECT}:imageRef", f"{IMAGE_REPO}@sha256:{'0' * 64}")
        try:
            preview = run.pulumi("preview", check=False)
            up = run.pulumi("up", "--yes", check=False)
        finally:
            run.pulumi("config", "set", f"{PROJECT}:imageRef", f"{IMAGE_REPO}@{DIGEST_A}")
        if preview.returncode != 0 or "all-zero placeholder digest" not in preview.stdout + preview.stderr:
            raise E2EFailure(f"the preview failed or did not warn (exit {preview.returncode}):\n{preview.stdout}")
        if up.returncode == 0 or "pulumi stack output imageDigest -s staging" not in up.stdout + up.stderr:
            raise E2EFailure(f"pulumi up did not refuse the placeholder (exit {up.returncode}):\n{up.stdout}")
        image = run.deployment()["spec"]["template"]["spec"]["containers"][0]["image"]
        if image != f"{IMAGE_REPO}@{DIGEST_A}":
            raise E2EFailure(f"the refused up changed the Deployment's image to {image}")

    with run.step("a stack whose state lives elsewhere refuses the backend the CLI runs against"):
        # The harness runs against its temp file:// backend (PULUMI_BACKEND_URL wins over Pulumi.yaml's):
        # the program must see that backend through the real CLI and language host.
        run.expect_refused(f"{PROJECT}:stateBackend", "https://api.pulumi.com")

    with run.step("the API server refuses a pod that breaks Pod Security 'restricted' in our namespace"):
        proc = run.cluster.kubectl("create", "-f", "-", stdin=json.dumps(RESTRICTED_VIOLATION), check=False)
        if proc.returncode == 0 or 'violates PodSecurity "restricted' not in proc.stderr:
            raise E2EFailure(f"privileged pod was not refused by PodSecurity: {proc.stdout}{proc.stderr}")
        print(f"    {proc.stderr.strip().splitlines()[0]}")

    with run.step("make status and the Kubernetes-API layers of make verify against the live cluster"):
        run.sh(sys.executable, "-m", "ops.status", "--stack", STACK)
        verify = run.sh(sys.executable, "-m", "ops.verify", "--stack", STACK, check=False)
        check_verify(verify.stdout)

    drift_steps(run)
    monitoring_steps(run)

    # Last before rollback: the quota and drift steps scale by hand, which an HPA would undo.
    with run.step("autoscaling on: up and preview with the policy pack, twice (stack policies read live objects)"):
        # Live, the Deployment holds spec.replicas (the API server's default, then the HPA's count), so a
        # policy reading spec.replicas would block every run after the first; it must read who applied it.
        run.pulumi("config", "set", f"{PROJECT}:autoscaling", "true")
        for _ in range(2):
            run.pulumi("up", "--yes", "--policy-pack", "policy")
            run.pulumi("preview", "--expect-no-changes", "--policy-pack", "policy")
        run.kubectl_json("get", "hpa", "wal-service", "-n", NAMESPACE)
        # E2E_RECORD_OUTPUTS=tests/policy/fixtures/deployed-outputs.json refreshes the policy tests' record.
        dest = Path(os.environ.get("E2E_RECORD_OUTPUTS") or run.root / "deployed-outputs.json").resolve()
        print(f"    outputs of {run.record_outputs(dest)} objects recorded in {dest}")

    with run.step("autoscaling off again: the HPA goes before the Deployment takes replicas back; one up settles it"):
        # The pod template changes (no topology spread for one replica) while the Deployment still runs the
        # autoscaler's count, so the quota must hold both modes' pods. The engine deletes the HPA only after
        # updating the Deployment; without the handover the HPA scaled it back to minReplicas in between,
        # leaving 2 pods without a PDB, and the mandatory disruption-budget policy failed that up.
        before = run.template_hash()
        run.pulumi("config", "set", f"{PROJECT}:autoscaling", "false")
        run.pulumi("up", "--yes", "--policy-pack", "policy")
        replicas = run.deployment()["spec"]["replicas"]
        if replicas != 1:
            raise E2EFailure(f"after autoscaling went off the Deployment runs {replicas} replicas, not 1")
        hpas = run.kubectl_json("get", "hpa", "-n", NAMESPACE)["items"]
        if hpas:
            raise E2EFailure(f"autoscaling is off but HPAs remain: {[h['metadata']['name'] for h in hpas]}")
        run.pulumi("preview", "--expect-no-changes", "--policy-pack", "policy")
        after = run.template_hash()
        if after == before:
            raise E2EFailure("autoscaling went off but the pod template did not change")
        run.wait("the new ReplicaSet to be ready", lambda: run.rolled_to(after))

    with run.step("rollback by digest through the real stack history"):
        run.pulumi("config", "set", f"{PROJECT}:imageRef", f"{IMAGE_REPO}@{DIGEST_B}")
        run.pulumi("up", "--yes", "--policy-pack", "policy")
        run.sh(sys.executable, "-m", "ops.rollback", "--stack", STACK, "--to", DIGEST_A)
        image = run.deployment()["spec"]["template"]["spec"]["containers"][0]["image"]
        if image != f"{IMAGE_REPO}@{DIGEST_A}":
            raise E2EFailure(f"after rollback the Deployment runs {image}, not the first release's digest")

    controller.stopped.set()
    if os.environ.get("E2E_KEEP"):
        return

    with run.step("pulumi destroy leaves none of our objects"):
        run.pulumi("destroy", "--yes")
        run.wait(
            f"namespace {NAMESPACE} to be gone",
            lambda: run.cluster.kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0,
        )
        leftovers = run.cluster.kubectl(
            "get", "all,configmaps,secrets,ingresses,networkpolicies,pvc,serviceaccounts,gateways,httproutes", "-A",
            "-l", "app.kubernetes.io/part-of=wal-service", "-o", "name",
        ).stdout.strip()  # fmt: skip
        if leftovers:
            raise E2EFailure(f"objects left after destroy:\n{leftovers}")


# Past what the dev quota holds (maxReplicas 4 + surge, +25%: 6 service pods beside the database).
SCALED_BY_HAND = 10


def drift_steps(run: Run) -> None:
    with run.step("the namespace quota holds the stack and refuses pods beyond it"):
        (quota,) = run.kubectl_json("get", "resourcequota", "-n", NAMESPACE)["items"]
        run.wait("the quota controller to count usage", lambda: bool(quota_status(run).get("used")))
        status = quota_status(run)
        over = [key for key, used in status["used"].items() if amount(used) > amount(status["hard"][key])]
        if over:
            raise E2EFailure(f"the stack's own pods exceed its quota: {over} in {status}")
        print(f"    {quota['metadata']['name']}: used {status['used']} of {status['hard']}")
        # Someone scales by hand past what the quota holds: the ReplicaSet may create only what fits.
        run.cluster.kubectl("scale", "deployment", "wal-service", "-n", NAMESPACE, f"--replicas={SCALED_BY_HAND}")
        run.wait("a pod creation refused with 'exceeded quota'", lambda: quota_refusal(run) is not None, timeout=60)
        print(f"    {quota_refusal(run)}")

    with run.step("make drift reports kubectl's changes one line per resource; pulumi up --refresh undoes them"):
        run.cluster.kubectl(
            "patch", "networkpolicy", "allow-dns-egress", "-n", NAMESPACE, "--type=json",
            "-p", json.dumps([{"op": "remove", "path": "/spec/egress/0/ports/1"}]),
        )  # fmt: skip
        found = run.sh(sys.executable, "-m", "ops.drift", "--stack", STACK, check=False)
        lines = [line for line in found.stdout.splitlines() if line.startswith("drift ")]
        expected = {
            f"drift Deployment {NAMESPACE}/wal-service: changed: spec.replicas {SCALED_BY_HAND} (live) -> 1 (program)",
            f"drift NetworkPolicy {NAMESPACE}/allow-dns-egress: changed: spec.egress[0].ports[1] (absent) (live) -> "
            '{"port":53,"protocol":"TCP"} (program)',
        }
        if found.returncode != 1 or set(lines) != expected:
            raise E2EFailure(f"make drift (exit {found.returncode}) reported {lines}, expected {sorted(expected)}")
        run.pulumi("up", "--yes", "--refresh", "--skip-preview")
        replicas = run.deployment()["spec"]["replicas"]
        ports = run.kubectl_json("get", "networkpolicy", "allow-dns-egress", "-n", NAMESPACE)["spec"]["egress"][0]
        if replicas != 1 or len(ports["ports"]) != 2:
            raise E2EFailure(f"pulumi up --refresh left replicas={replicas}, DNS egress ports {ports['ports']}")
        clean = run.sh(sys.executable, "-m", "ops.drift", "--stack", STACK, check=False)
        if clean.returncode != 0:
            raise E2EFailure(f"make drift still reports drift after pulumi up --refresh (exit {clean.returncode})")


def quota_status(run: Run) -> dict[str, dict[str, str]]:
    status: dict[str, dict[str, str]] = run.kubectl_json("get", "resourcequota", "wal-service-quota", "-n", NAMESPACE)[
        "status"
    ]
    return status


def quota_refusal(run: Run) -> str | None:
    events = run.kubectl_json("get", "events", "-n", NAMESPACE, "--field-selector", "reason=FailedCreate")["items"]
    return next((e["message"] for e in events if "exceeded quota" in e.get("message", "")), None)


def monitoring_steps(run: Run) -> None:
    with run.step("monitoring servicemonitor: refused while the CRD is missing, created once it exists"):
        run.pulumi("config", "set", f"{PROJECT}:monitoring", "servicemonitor")
        refused = run.pulumi("up", "--yes", "--skip-preview", check=False)
        if refused.returncode == 0 or "no CustomResourceDefinition servicemonitors.monitoring.coreos.com" not in (
            refused.stdout + refused.stderr
        ):
            raise E2EFailure("pulumi up did not stop at the missing ServiceMonitor CRD")
        # Server-side: the full CRD is too large for the last-applied annotation of a client-side apply.
        run.cluster.kubectl("apply", "--server-side", "-f", str(service_monitor_crd()))
        run.cluster.kubectl(
            "wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com", "--timeout=60s"
        )
        run.pulumi("up", "--yes", "--skip-preview")
        run.compare_with_render()


# Layers a simulated cluster can answer through the API server alone; the others need a kubelet
# (port-forward), a gateway data plane (HTTP) or host DNS for the stack's name.
API_LAYERS = ("pods/", "service/endpoints", "gateway/programmed", "gateway/route", "gateway/host", "network/")


def check_verify(output: str) -> None:
    lines = [line for line in output.splitlines() if line.startswith(("PASS ", "FAIL "))]
    api = [line for line in lines if line.split(" ", 1)[1].startswith(API_LAYERS)]
    failed = [line for line in api if line.startswith("FAIL ")]
    if not api:
        raise E2EFailure("make verify printed no Kubernetes-API checks")
    if failed:
        raise E2EFailure("make verify failed Kubernetes-API checks:\n  " + "\n  ".join(failed))
    print(f"    {len(api)} Kubernetes-API checks passed; not checkable here: {len(lines) - len(api)}")


def clean(root: Path) -> None:
    pids_owner = ControlPlane(root / "cluster", Path("."))
    pids_owner.stop()
    shutil.rmtree(root, ignore_errors=True)
    print(f"removed {root}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="End-to-end run on the real engine and API server.")
    parser.add_argument("--clean", action="store_true", help="stop and remove what a kept run left")
    args = parser.parse_args(argv)
    root = default_root()
    if args.clean:
        clean(root)
        return 0
    started = time.monotonic()
    try:
        bin_dir = toolchain_bin()
        run = Run(root, bin_dir)
        print((bin_dir / "VERSIONS").read_text())
        run.prepare()
        try:
            main_steps(run)
        finally:
            if not os.environ.get("E2E_KEEP"):
                run.cluster.stop()
    except E2EFailure as exc:
        print(f"\nE2E FAILED: {exc}\nlogs: {root / 'cluster' / 'logs'}", file=sys.stderr)
        return 1
    print(f"\ne2e passed in {time.monotonic() - started:.0f} s")
    for title, seconds in run.timings:
        print(f"  {seconds:7.1f} s  {title}")
    if os.environ.get("E2E_KEEP"):
        print(f"\nkept; `make e2e-clean` removes it. In {run.work}:")
        for key in ("KUBECONFIG", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE_FILE"):
            print(f"{key}={run.env[key]}")
        print(f"STACK={STACK}")
        print(f"PATH={bin_dir}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
