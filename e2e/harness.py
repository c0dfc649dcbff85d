"""The e2e harness: a Run (the stack's working copy, its Pulumi and kubectl plumbing, the control plane)
and the helpers every step module uses. The steps live in e2e/steps/, their order in e2e/run.py.

`up` and `preview` pass the guardrails policy pack unless told not to (`policy_pack=False`), as `make up`
and `make preview` do.
"""

from __future__ import annotations

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
from e2e import gateway_api, inventory
from e2e.compare import differences
from e2e.controlplane import CONTEXT, ControlPlane
from e2e.upstream_files import UpstreamError, gateway_api_crds_files
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
# The guardrails pack (policy/), as `make up` and `make preview` pass it.
POLICY_PACK = ("--policy-pack", "policy")


class E2EFailure(Exception):
    """A step whose outcome differs from what the program promises."""


@contextmanager
def timed(title: str, timings: list[tuple[str, float]] | None = None) -> Iterator[None]:
    """One step in the log (and in `timings`, when given)."""
    print(f"\n==> {title}", flush=True)
    started = time.monotonic()
    yield
    elapsed = time.monotonic() - started
    if timings is not None:
        timings.append((title, elapsed))
    print(f"    ok ({elapsed:.1f} s)", flush=True)


def wait(what: str, predicate: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise E2EFailure(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(1)


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
    notes: list[str] = field(default_factory=list)
    """Lines the summary repeats after the timings (each fault case's outcome)."""
    _renders: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    controller: gateway_api.GatewayControllerStandIn | None = None

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
    def timed(self, title: str) -> Iterator[None]:
        """One step in the log and the timing table."""
        with timed(title, self.timings):
            yield

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

    def up(self, *args: str, policy_pack: bool = True, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`pulumi up --yes *args`, with the policy pack unless told not to."""
        return self.pulumi("up", "--yes", *args, *(POLICY_PACK if policy_pack else ()), check=check)

    def preview(self, *args: str, policy_pack: bool = True, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`pulumi preview *args`, with the policy pack unless told not to."""
        return self.pulumi("preview", *args, *(POLICY_PACK if policy_pack else ()), check=check)

    def expect_refused(self, key: str, value: str) -> None:
        """`pulumi config set key value` makes the real preview fail with one message naming the key and no
        traceback; then the key gets back the value it had (or is removed if it had none), so that a step
        leaves the stack's config as it found it."""
        before = self.pulumi("config", "get", key, check=False)
        self.pulumi("config", "set", key, value)
        try:
            proc = self.preview(policy_pack=False, check=False)
        finally:
            if before.returncode != 0:
                self.pulumi("config", "rm", key)
            else:
                self.pulumi("config", "set", key, before.stdout.strip())
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

    # ------------------------------------------------------------------ the platform and the stack
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

    def start_gateway_controller(self) -> None:
        """Gateway and HTTPRoute status, as their controller would write it (see e2e/gateway_api.py)."""
        self.controller = gateway_api.GatewayControllerStandIn(self.cluster, GATEWAY_CLASS)
        self.controller.start()

    def stop_gateway_controller(self) -> None:
        if self.controller is not None:
            self.controller.stopped.set()

    # ------------------------------------------------------------------ checks
    def rendered(self) -> list[dict[str, Any]]:
        """`make render` of the stack as configured now (the program does not change during a run)."""
        config = (self.work / f"Pulumi.{STACK}.yaml").read_text()
        if config not in self._renders:
            proc = self.sh(sys.executable, "-m", "tools.render", STACK, echo=False)
            self._renders[config] = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
        return self._renders[config]

    def live(self, obj: Mapping[str, Any]) -> Any:
        meta = obj.get("metadata", {})
        args = ["get", f"{obj['kind']}.{obj['apiVersion'].split('/')[0]}" if "/" in obj["apiVersion"] else obj["kind"],
                meta["name"]]  # fmt: skip
        if meta.get("namespace"):
            args += ["-n", meta["namespace"]]
        return self.kubectl_json(*args)

    def compare_with_render(self, objects: list[dict[str, Any]] | None = None) -> None:
        problems: list[str] = []
        objects = self.rendered() if objects is None else objects
        for obj in objects:
            label = f"{obj['kind']}/{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"
            problems += [f"{label}: {p}" for p in differences(obj, self.live(obj))]
        if problems:
            raise E2EFailure("live objects differ from `make render`:\n  " + "\n  ".join(problems))
        print(f"    {len(objects)} rendered objects match the live ones field for field")

    def converged(self) -> None:
        """The live cluster is `make render`, field for field, with no object missing, left over or doubled, and the
        state records exactly those objects (e2e/inventory.py)."""
        objects = self.rendered()
        self.compare_with_render(objects)
        problems = self.disagreements(self.export())
        if problems:
            raise E2EFailure("the cluster, the state and the program disagree:\n  " + "\n  ".join(problems))
        print(f"    no object missing, left over or doubled; the state records the {len(objects)} objects")

    def disagreements(self, state: Any) -> list[str]:
        """inventory.problems of `make render`, the live cluster and `state` (`pulumi stack export`)."""
        objects = self.rendered()
        live = [o for k in inventory.kinds(objects, state) for o in self.kubectl_json("get", k.resource, "-A")["items"]]
        return inventory.problems(objects, live, state)

    def export(self) -> Any:
        """`pulumi stack export`: the state as the backend holds it."""
        return json.loads(self.sh("pulumi", "stack", "export", "--stack", STACK, echo=False).stdout)

    def urn(self, type_: str, name_suffix: str) -> str:
        """The URN of the one resource of `type_` whose name ends with `name_suffix`, from the stack's state."""
        state = self.export()
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
        wait(what, predicate, timeout)

    def wait_namespace_gone(self, namespace: str = NAMESPACE, timeout: float = 120.0) -> None:
        self.wait(
            f"namespace {namespace} to be gone",
            lambda: self.cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0,
            timeout,
        )

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


def clean(root: Path) -> None:
    """`make e2e-clean`: stop and remove what a kept run left."""
    pids_owner = ControlPlane(root / "cluster", Path("."))
    pids_owner.stop()
    shutil.rmtree(root, ignore_errors=True)
    print(f"removed {root}")
