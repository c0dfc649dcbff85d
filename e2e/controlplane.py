"""A throwaway Kubernetes control plane for the e2e run: etcd, kube-apiserver (PodSecurity admission on, as in
every cluster since 1.25), kube-controller-manager, kube-scheduler and kwok, which plays the kubelets of
simulated nodes so that Deployments and StatefulSets become Ready. Everything lives in one directory;
`stop()` (or `make e2e-clean`) ends the processes by the pids recorded there. For the fault cases, kube-apiserver
stops and starts alone, and `reset()` wipes etcd; both keep the address and certificates of the first start.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CONTEXT = "wal-e2e"
NODE_ANNOTATION = "kwok.x-k8s.io/node"
PIDS_FILE = "pids.json"
PORTS_FILE = "ports.json"


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports. Every socket stays bound until all are chosen: a port released at once
    can be handed out again by the next bind (etcd and kube-apiserver once got the same one)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(pki: Path) -> None:
    """A CA and one admin certificate (system:masters, served on 127.0.0.1), as kwokctl's binary runtime does."""
    pki.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "7", "-subj", "/CN=wal-e2e-ca", cwd=pki)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "admin.key", "-out", "admin.csr",
             "-subj", "/O=system:masters/CN=kubernetes-admin", cwd=pki)  # fmt: skip
    (pki / "admin.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    _openssl("x509", "-req", "-in", "admin.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "admin.crt", "-days", "7", "-extfile", "admin.ext", cwd=pki)  # fmt: skip


def kubeconfig_text(server: str, pki: Path) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": CONTEXT, "cluster": {"server": server, "certificate-authority": str(pki / "ca.crt")}}
            ],
            "users": [
                {
                    "name": CONTEXT,
                    "user": {
                        "client-certificate": str(pki / "admin.crt"),
                        "client-key": str(pki / "admin.key"),
                    },
                }
            ],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT}}],
            "current-context": CONTEXT,
        },
        indent=2,
    )


@dataclass
class ControlPlane:
    """Processes of one control plane under `root`; `bin_dir` holds the toolchain binaries."""

    root: Path
    bin_dir: Path

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    def _start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        with open(logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                [str(self.bin_dir / args[0]), *args[1:]],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                start_new_session=True,  # a Ctrl-C of the harness must not kill the cluster before its cleanup
            )
        pids = self.pids()
        pids[name] = proc.pid
        (self.root / PIDS_FILE).write_text(json.dumps(pids))
        return proc

    def pids(self) -> dict[str, int]:
        path = self.root / PIDS_FILE
        return {k: int(v) for k, v in json.loads(path.read_text()).items()} if path.exists() else {}

    def start(self, nodes: int = 2, timeout: float = 120.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        make_pki(self.pki)
        etcd_port, peer_port, api_port = free_ports(3)
        (self.root / PORTS_FILE).write_text(json.dumps({"etcd": etcd_port, "peer": peer_port, "api": api_port}))
        self.kubeconfig.write_text(kubeconfig_text(self.server, self.pki))
        self._launch(nodes, timeout)

    @property
    def ports(self) -> dict[str, int]:
        return {k: int(v) for k, v in json.loads((self.root / PORTS_FILE).read_text()).items()}

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['api']}"

    def _launch(self, nodes: int, timeout: float) -> None:
        """Every process on the recorded ports and PKI, then the simulated nodes (they live in etcd)."""
        kc = str(self.kubeconfig)
        etcd = self._start("etcd", self._etcd_args())
        apiserver = self._start("kube-apiserver", self._apiserver_args())
        self._wait_ready(self.server, timeout, {"etcd": etcd, "kube-apiserver": apiserver})
        pki = self.pki
        common = [f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
                  "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0"]  # fmt: skip
        self._start(
            "kube-controller-manager",
            [
                "kube-controller-manager",
                *common,
                f"--service-account-private-key-file={pki / 'admin.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                "--use-service-account-credentials=false",
                # kwok does not set a pod Ready again once the node controller has marked it NotReady (a kubelet's
                # status manager does within seconds): past the default grace, the 20 s API server outage of
                # e2e-faults left a Ready pod NotReady for good, and the rollout timed out (seen in CI here).
                "--node-monitor-grace-period=180s",
            ],
        )
        self._start("kube-scheduler", ["kube-scheduler", *common])
        self._start(
            "kwok",
            [
                "kwok",
                f"--kubeconfig={kc}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={NODE_ANNOTATION}=fake",
                "--cidr=10.244.0.1/16",
                "--node-ip=10.0.0.1",
                "--node-lease-duration-seconds=40",
                f"--config={self.bin_dir / 'kwok-stages.yaml'}",
            ],
        )
        self.kubectl("apply", "-f", "-", stdin="\n---\n".join(node_manifest(f"kwok-node-{i}") for i in range(nodes)))
        self.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=120s")

    def _etcd_args(self) -> list[str]:
        ports = self.ports
        return [
            "etcd",
            "--name=e2e",
            f"--data-dir={self.etcd_dir}",
            f"--listen-client-urls=http://127.0.0.1:{ports['etcd']}",
            f"--advertise-client-urls=http://127.0.0.1:{ports['etcd']}",
            f"--listen-peer-urls=http://127.0.0.1:{ports['peer']}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{ports['peer']}",
            f"--initial-cluster=e2e=http://127.0.0.1:{ports['peer']}",
            "--unsafe-no-fsync",  # a throwaway cluster: durability costs seconds per write on slow disks
        ]

    def _apiserver_args(self) -> list[str]:
        pki = self.pki
        return [
            "kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.ports['api']}",
            f"--tls-cert-file={pki / 'admin.crt'}",
            f"--tls-private-key-file={pki / 'admin.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-key-file={pki / 'admin.key'}",
            f"--service-account-signing-key-file={pki / 'admin.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--authorization-mode=Node,RBAC",
            # As kubeadm and kind run it: privileged pods are for PodSecurity admission to refuse.
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
        ]

    @property
    def etcd_dir(self) -> Path:
        return self.root / "etcd"

    # ------------------------------------------------------------------ faults (e2e/steps/faults.py)
    def stop_apiserver(self) -> None:
        """Stop kube-apiserver alone (etcd keeps the data; the controllers and kwok lose their server)."""
        pids = self.pids()
        _terminate(pids.pop("kube-apiserver"))
        (self.root / PIDS_FILE).write_text(json.dumps(pids))

    def start_apiserver(self, timeout: float = 120.0) -> None:
        """kube-apiserver again, on the same port and certificates: every client's kubeconfig still works."""
        proc = self._start("kube-apiserver", self._apiserver_args())
        self._wait_ready(self.server, timeout, {"kube-apiserver": proc})

    def reset(self, nodes: int = 2, timeout: float = 120.0) -> None:
        """The cluster as after `kind delete` and a new create of the same name: every process stopped, etcd's data
        wiped, everything started again on the same address and certificates, with nodes and nothing else."""
        self.stop()
        shutil.rmtree(self.etcd_dir, ignore_errors=True)
        self._launch(nodes, timeout)

    def _wait_ready(self, server: str, timeout: float, watched: dict[str, subprocess.Popen[bytes]]) -> None:
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{server}/readyz", context=context, timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            for name, proc in watched.items():
                if proc.poll() is not None:
                    log = self.root / "logs" / f"{name}.log"
                    last = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(empty log)"]
                    raise RuntimeError(f"{name} exited with status {proc.returncode}: {last[0]} (see {log})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"kube-apiserver not ready within {timeout:g} s; see {self.root / 'logs'}")
            time.sleep(1)

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=check,
            timeout=180,
        )

    def stop(self) -> None:
        """Stop every process this control plane started (newest first), then forget them."""
        for pid in reversed(list(self.pids().values())):
            _terminate(pid)
        (self.root / PIDS_FILE).unlink(missing_ok=True)


def _terminate(pid: int, grace: float = 15.0) -> None:
    """SIGTERM to the process group `pid` leads, SIGKILL after `grace` seconds."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.killpg(pid, signal.SIGKILL)


def node_manifest(name: str) -> str:
    """A node kwok manages, sized like a small real one."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                },
            },
            # Every resource the stack's pods request: the scheduler finds a node without one too small for them.
            "status": {
                "allocatable": {"cpu": "8", "memory": "32Gi", "ephemeral-storage": "100Gi", "pods": "110"},
                "capacity": {"cpu": "8", "memory": "32Gi", "ephemeral-storage": "100Gi", "pods": "110"},
            },
        }
    )
