"""Preflight against fake CLIs and real sockets: each problem is one exact line with its fix."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.settings import Settings
from components.stack_checks import stack_settings
from ops import preflight as pf
from tests.ops.conftest import MakeTools

LOOPBACK = ["127.0.0.1"]


def settings_for(stack: str, **overrides: object) -> Settings:
    return stack_settings(stack, overrides)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def listener() -> Iterator[int]:
    """A port somebody else holds."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


@pytest.fixture
def ports() -> dict[str, int]:
    return {"ingressHttpPort": free_port(), "ingressHttpsPort": free_port(), "registryPort": free_port()}


def lines(findings: list[pf.Finding]) -> list[str]:
    return [f.line() for f in findings]


def failure(findings: list[pf.Finding]) -> str:
    """The one blocking finding (preflight lists every problem; these scenarios have exactly one)."""
    failed = [f.line() for f in findings if f.level == "fail"]
    assert len(failed) == 1, failed
    return failed[0]


def probes(addresses: list[str] | None = LOOPBACK) -> pf.Probes:
    return pf.Probes(busy=pf.port_busy, resolve=lambda _host: addresses)


def test_docker_cli_missing_comes_first(make_tools: MakeTools, ports: dict[str, int]) -> None:
    env = make_tools("kind", "kubectl", "pulumi")
    found = pf.preflight("dev", env, probes(), settings_for("dev", **ports))
    assert lines(found)[0] == (
        "FAIL docker: the docker CLI is not installed -> fix: install Docker: https://docs.docker.com/get-docker/"
    )
    # What needs Docker's answer is not guessed; the rest is still checked.
    assert "WARN existing clusters: not checked: they are listed through Docker -> fix: see docker above" in lines(
        found
    )
    assert [f.check for f in found][-1] == "host dev.wal-service.local"


def test_every_problem_is_listed_at_once(make_tools: MakeTools, ports: dict[str, int], listener: int) -> None:
    """No Docker, no pulumi, a busy port and an unresolved host name: one run names all four, each with its fix."""
    env = make_tools("kind", "kubectl")
    settings = settings_for("dev", **{**ports, "ingressHttpPort": listener})
    found = pf.preflight("dev", env, probes(None), settings)
    problems = {f.check: f for f in found if f.level != "ok"}
    assert set(problems) >= {"docker", "pulumi", f"port {listener}", "host dev.wal-service.local"}, lines(found)
    assert all(f.fix for f in problems.values()), lines(found)
    assert found[0].check == "docker", "Docker is checked first"


def test_docker_daemon_down(make_tools: MakeTools, ports: dict[str, int]) -> None:
    env = make_tools(FAKE_DOCKER_DOWN="1")
    found = pf.preflight("dev", env, probes(), settings_for("dev", **ports))
    assert lines(found)[0] == (
        "FAIL docker: the Docker daemon is not reachable (Cannot connect to the Docker daemon at "
        "unix:///var/run/docker.sock. Is the docker daemon running?) -> fix: start Docker (Docker Desktop, "
        "or `sudo systemctl start docker`), then `docker info`"
    )
    assert [f.level for f in found].count("fail") == 1, "a daemon that is down is one problem, not several"


def test_all_good_on_a_clean_machine(make_tools: MakeTools, ports: dict[str, int]) -> None:
    found = pf.preflight("dev", make_tools(), probes(), settings_for("dev", **ports))
    assert [f.level for f in found] == ["ok"] * len(found)
    assert [f.check for f in found] == [
        "docker",
        "state",
        "state lock",
        "kind",
        "kubectl",
        "pulumi",
        f"port {ports['ingressHttpPort']}",
        f"port {ports['registryPort']}",
        "kind cluster wal-service-cluster",
        "registry container kind-registry",
        "host dev.wal-service.local",
    ]
    assert found[-3].message == "does not exist yet; pulumi up creates it"


def test_missing_and_old_tools_warn_with_the_fetch_command(make_tools: MakeTools, ports: dict[str, int]) -> None:
    env = make_tools("docker", "kind", "kubectl", FAKE_KIND_VERSION="v0.20.0")
    found = pf.preflight("dev", env, probes(), settings_for("dev", **ports))
    assert lines(found)[3:6] == [
        "WARN kind: v0.20.0 is older than the minimum v0.33.0 -> fix: `python -m ops.tools --install` fetches "
        "kind v0.33.0 into bin/ (make up does it too)",
        "ok   kubectl: v1.37.1 at " + env["PATH"] + "/kubectl",
        "WARN pulumi: not found (need >= v3.272.0) -> fix: `python -m ops.tools --install` fetches "
        "pulumi v3.274.1 into bin/ (make up does it too)",
    ]
    assert "FAIL" not in "".join(lines(found))


def test_occupied_port_is_blocking(make_tools: MakeTools, ports: dict[str, int], listener: int) -> None:
    settings = settings_for("staging", **{**ports, "ingressHttpsPort": listener, "tlsSecretName": "wal-tls"})
    found = pf.preflight("staging", make_tools(), probes(), settings)
    assert failure(found) == (
        f"FAIL port {listener}: 127.0.0.1:{listener} (ingressHttpsPort) is in use by another process -> fix: "
        f"stop it (find it with `sudo lsof -nP -iTCP:{listener} -sTCP:LISTEN`) or pick a free port: "
        "pulumi config set wal-service:ingressHttpsPort <port> --stack staging"
    )


def test_the_https_port_is_not_claimed_without_an_https_listener(
    make_tools: MakeTools, ports: dict[str, int], listener: int
) -> None:
    """No TLS secret, no HTTPS listener, no mapping: a web server on 443 must not stop `make up`."""
    settings = settings_for("staging", **{**ports, "ingressHttpsPort": listener})
    found = pf.preflight("staging", make_tools(), probes(), settings)
    assert not [f for f in found if f.level == "fail"], lines(found)
    assert [f.check for f in found if f.check.startswith("port ")] == [
        f"port {ports['ingressHttpPort']}",
        f"port {ports['registryPort']}",
    ]


def test_a_cgroup_v1_docker_host_is_named_with_what_the_stack_does(
    make_tools: MakeTools, ports: dict[str, int]
) -> None:
    found = pf.preflight("dev", make_tools(FAKE_DOCKER_CGROUP="1"), probes(), settings_for("dev", **ports))
    assert lines(found)[1] == (
        "ok   cgroup: Docker at unix:///var/run/docker.sock runs cgroup v1: the kind config sets the kubelet's "
        "failCgroupV1: false, without which kubelet 1.37 does not start"
    )
    # On cgroup v2 nothing changes, and nothing is said.
    found = pf.preflight("dev", make_tools(), probes(), settings_for("dev", **ports))
    assert "cgroup" not in [f.check for f in found]


def test_port_held_by_a_foreign_container_names_it(make_tools: MakeTools, ports: dict[str, int], listener: int) -> None:
    env = make_tools(FAKE_DOCKER_PS=f"some-web\t0.0.0.0:{listener}->80/tcp, [::]:{listener}->80/tcp\n")
    found = pf.preflight("dev", env, probes(), settings_for("dev", **{**ports, "registryPort": listener}))
    assert failure(found) == (
        f"FAIL port {listener}: 127.0.0.1:{listener} (registryPort) is in use by container some-web -> fix: "
        f"stop it (`docker stop some-web`) or pick a free port: pulumi config set wal-service:registryPort <port> "
        "--stack dev"
    )


def test_port_held_by_this_stacks_own_node_is_fine(make_tools: MakeTools, ports: dict[str, int], listener: int) -> None:
    env = make_tools(
        FAKE_DOCKER_PS=(
            f"wal-service-cluster-control-plane\t127.0.0.1:{listener}->80/tcp, 127.0.0.1:41234->6443/tcp\n"
            "kind-registry\t127.0.0.1:6000->5000/tcp\n"
        )
    )
    found = pf.preflight("dev", env, probes(), settings_for("dev", **{**ports, "ingressHttpPort": listener}))
    assert (
        f"ok   port {listener}: 127.0.0.1:{listener} (ingressHttpPort) is held by this stack's container "
        "wal-service-cluster-control-plane"
    ) in lines(found)


def test_cluster_the_stack_did_not_create_is_blocking(make_tools: MakeTools, ports: dict[str, int]) -> None:
    env = make_tools(FAKE_KIND_CLUSTERS="kind\nwal-service-cluster\n")
    found = pf.preflight("dev", env, probes(), settings_for("dev", **ports))
    assert failure(found) == (
        "FAIL kind cluster wal-service-cluster: exists but stack dev did not create it (not in its state) -> fix: "
        "`kind delete cluster --name wal-service-cluster` if it is disposable, or set another name: "
        "pulumi config set wal-service:kindClusterName <name> --stack dev"
    )


def export(cluster: str, registry: str) -> str:
    return json.dumps(
        {
            "version": 3,
            "deployment": {
                "resources": [
                    {
                        "urn": "urn:pulumi:dev::wal-service::wal:platform:Environment$wal:platform:ClusterTarget$"
                        "wal:platform:KindCluster$command:local:Command::wal-dev-cluster-kind-create",
                        "type": "command:local:Command",
                        "inputs": {"environment": {"KIND_CLUSTER": cluster}, "create": "..."},
                        "outputs": {"environment": {"KIND_CLUSTER": cluster}, "stdout": ""},
                    },
                    {
                        "urn": "urn:pulumi:dev::wal-service::...$docker:index/container:Container::"
                        "wal-dev-registry-container",
                        "type": "docker:index/container:Container",
                        "inputs": {"name": registry},
                        "outputs": {"name": registry, "id": "0123abcd"},
                    },
                ]
            },
        }
    )


def test_cluster_and_registry_in_the_stacks_state_are_its_own(make_tools: MakeTools, ports: dict[str, int]) -> None:
    env = make_tools(
        FAKE_KIND_CLUSTERS="wal-service-cluster\n",
        FAKE_DOCKER_ALL="kind-registry\nwal-service-cluster-control-plane\n",
        FAKE_PULUMI_STATE=export("wal-service-cluster", "kind-registry"),
    )
    found = pf.preflight("dev", env, probes(), settings_for("dev", **ports))
    assert lines(found)[-3:-1] == [
        "ok   kind cluster wal-service-cluster: exists and belongs to stack dev",
        "ok   registry container kind-registry: exists and belongs to stack dev",
    ]


def test_a_lost_cluster_is_rebuilt_by_replacing_its_command(make_tools: MakeTools, ports: dict[str, int]) -> None:
    """`pulumi refresh` cannot notice a deleted kind cluster (local.Command has no Read): the fix names the URN."""
    state = export("wal-service-cluster", "kind-registry")
    env = make_tools(FAKE_KIND_CLUSTERS="", FAKE_DOCKER_ALL="kind-registry\n", FAKE_PULUMI_STATE=state)
    found = pf.preflight("dev", env, probes(), settings_for("dev", **ports))
    urn = json.loads(state)["deployment"]["resources"][0]["urn"]
    assert (
        f"WARN kind cluster wal-service-cluster: stack dev's state lists it but it is gone -> fix: "
        f"pulumi up --replace '{urn}' --stack dev, which rebuilds it and everything in it"
    ) in lines(found), lines(found)


@pytest.mark.parametrize(
    ("pulumi", "reason"),
    [
        (
            {"FAKE_PULUMI_ERROR": "error: failed to decrypt: incorrect passphrase"},
            "pulumi stack export failed: error: failed to decrypt: incorrect passphrase",
        ),
        ({"FAKE_PULUMI_STATE": "<html>proxy error</html>"}, "pulumi stack export gave no JSON"),
    ],
)
def test_a_state_that_cannot_be_read_warns_instead_of_blaming_the_cluster(
    make_tools: MakeTools, ports: dict[str, int], pulumi: dict[str, str], reason: str
) -> None:
    """Without the state nobody can tell whose the cluster is: a warning that says why, not a FAIL that tells
    the user to delete a cluster that may well be the stack's own."""
    env = make_tools(FAKE_KIND_CLUSTERS="wal-service-cluster\n", **pulumi)
    found = pf.preflight("dev", env, probes(), settings_for("dev", **ports))
    assert (
        f"WARN kind cluster wal-service-cluster: exists; cannot tell whether stack dev created it ({reason})"
        in lines(found)
    ), lines(found)
    assert not any(line.startswith("FAIL kind cluster") for line in lines(found))


def test_foreign_registry_container_is_blocking(make_tools: MakeTools, ports: dict[str, int]) -> None:
    env = make_tools(FAKE_DOCKER_ALL="kind-registry\n")
    found = pf.preflight("dev", env, probes(), settings_for("dev", **ports))
    assert failure(found) == (
        "FAIL registry container kind-registry: exists but stack dev did not create it (not in its state) -> fix: "
        "`docker rm -f kind-registry` if it is disposable, or set another name: "
        "pulumi config set wal-service:registryName <name> --stack dev"
    )


def test_unresolved_host_warns_with_hosts_line_and_curl(make_tools: MakeTools, ports: dict[str, int]) -> None:
    found = pf.preflight("staging", make_tools(), probes(None), settings_for("staging", **ports))
    port = ports["ingressHttpPort"]
    assert lines(found)[-1] == (
        "WARN host staging.wal-service.local: does not resolve -> fix: hosts-file line: 127.0.0.1 "
        "staging.wal-service.local   (echo '127.0.0.1 staging.wal-service.local' | sudo tee -a /etc/hosts) ; "
        f"without it: curl --resolve staging.wal-service.local:{port}:127.0.0.1 "
        f"http://staging.wal-service.local:{port}/api/v1/health"
    )


PROMOTED = "registry.example.com/wal-service@sha256:" + "ab" * 32


def test_existing_cluster_stack_needs_neither_kind_nor_ports(make_tools: MakeTools) -> None:
    env = {**make_tools("kubectl", "pulumi"), "PULUMI_BACKEND_URL": "https://api.pulumi.com"}
    found = pf.preflight("prod", env, probes(["203.0.113.7"]), settings_for("prod", imageRef=PROMOTED))
    assert lines(found) == [
        "ok   state: backend https://api.pulumi.com",
        "ok   kubectl: v1.37.1 at " + make_tools("kubectl")["PATH"] + "/kubectl",
        "ok   pulumi: v3.274.1 at " + make_tools("pulumi")["PATH"] + "/pulumi",
        "ok   host wal-service.example.com: resolves to 203.0.113.7",
    ]


def test_the_placeholder_digest_is_refused_with_the_promote_command(make_tools: MakeTools) -> None:
    """prod's stack file names an all-zero digest until something is promoted: no registry serves it, and the pods
    would sit in ImagePullBackOff until the rollout gives up."""
    env = {**make_tools("kubectl", "pulumi"), "PULUMI_BACKEND_URL": "https://api.pulumi.com"}
    found = pf.preflight("prod", env, probes(["203.0.113.7"]), settings_for("prod"))
    assert (
        f"FAIL imageRef: registry.example.com/wal-service@sha256:{'0' * 64} is the all-zero placeholder digest, "
        "which no registry serves: the pods would never pull it -> fix: pulumi config set wal-service:imageRef "
        '"registry.example.com/wal-service@$(pulumi stack output imageDigest -s staging)" -s prod '
        "(promote what staging tested)"
    ) in lines(found), lines(found)


def test_a_shared_stack_on_the_local_backend_is_blocking(make_tools: MakeTools) -> None:
    found = pf.preflight("prod", make_tools("kubectl", "pulumi"), probes(["203.0.113.7"]), settings_for("prod"))
    assert lines(found)[0] == (
        "FAIL state: stack prod keeps its state in https://api.pulumi.com, but this shell uses file://~ "
        "-> fix: export PULUMI_BACKEND_URL=https://api.pulumi.com"
    )


def write_lock(home: Path, stack: str, pid: int, hostname: str) -> None:
    """A lock file as the CLI writes it for a project-scoped stack of a file://~ backend (pkg/backend/diy/lock.go)."""
    directory = home / ".pulumi" / "locks" / "organization" / "wal-service" / stack
    directory.mkdir(parents=True)
    body = {"pid": pid, "username": "dev", "hostname": hostname, "timestamp": "2026-12-07T21:00:00Z"}
    (directory / "8f1e6c1a.json").write_text(json.dumps(body))


def test_a_lock_left_by_a_killed_deploy_stops_make_up_with_the_command_that_clears_it(
    make_tools: MakeTools, ports: dict[str, int], tmp_path: Path
) -> None:
    """kill -9 of `pulumi up` (or a crash) leaves the lock file; the next up is refused until `pulumi cancel`.
    Measured by make e2e-faults (SIGKILL cases)."""
    child = subprocess.Popen(["true"])
    child.wait()
    write_lock(tmp_path, "dev", child.pid, socket.gethostname())
    found = pf.preflight("dev", make_tools(), probes(), settings_for("dev", **ports))
    assert failure(found) == (
        f"FAIL state lock: stack dev is locked by a pulumi that no longer runs (pid {child.pid}, since "
        "2026-12-07T21:00:00Z): a deploy was killed before it could unlock -> fix: pulumi cancel --yes --stack dev, "
        "then make up STACK=dev"
    )


def test_a_deploy_that_still_runs_is_waited_for_not_cancelled(make_tools: MakeTools, ports: dict[str, int],
                                                              tmp_path: Path) -> None:  # fmt: skip
    """`pulumi cancel` while the other up runs would let two deploys fight over the stack's objects."""
    write_lock(tmp_path, "dev", os.getpid(), socket.gethostname())
    found = pf.preflight("dev", make_tools(), probes(), settings_for("dev", **ports))
    assert failure(found) == (
        f"FAIL state lock: another pulumi is changing stack dev right now (pid {os.getpid()}, since "
        "2026-12-07T21:00:00Z) -> fix: wait for it to end"
    )


def test_a_lock_from_another_machine_is_named_and_no_lock_is_fine() -> None:
    other_host = [pf.StateLock(1, "build-7", "2026-12-07T21:00:00Z")]
    assert pf.lock_finding("dev", other_host, "laptop", alive=lambda _pid: True).line() == (
        "FAIL state lock: stack dev is locked by a pulumi on build-7 (pid 1, since 2026-12-07T21:00:00Z) -> fix: "
        "wait for it to end; if nothing runs there any more: pulumi cancel --yes --stack dev"
    )
    assert pf.lock_finding("dev", [], "laptop").level == "ok"


def test_only_the_stacks_own_lock_directory_counts(tmp_path: Path) -> None:
    write_lock(tmp_path, "staging", 1, "laptop")
    env = {"HOME": str(tmp_path)}
    assert pf.state_locks("file://~", "dev", env) == []
    assert pf.state_locks("file://~", "staging", env) == [pf.StateLock(1, "laptop", "2026-12-07T21:00:00Z")]
    assert pf.state_locks(f"file://{tmp_path}", "staging", {}) == pf.state_locks("file://~", "staging", env)
    assert pf.state_locks("s3://bucket", "staging", env) == []


TYPE = "kubernetes:apps/v1:Deployment"


def pending_export(*operations: tuple[str, str]) -> str:
    return json.dumps(
        {
            "version": 3,
            "deployment": {
                "resources": [],
                "pending_operations": [
                    {"type": kind, "resource": {"urn": f"urn:pulumi:dev::wal-service::{TYPE}::{name}"}}
                    for kind, name in operations
                ],
            },
        }
    )


def test_creates_a_killed_deploy_left_pending_are_named_with_the_refresh_that_clears_them(
    make_tools: MakeTools, ports: dict[str, int]
) -> None:
    """Only creates stay pending through later ups (updates and deletes the engine settles itself)."""
    state = pending_export(("creating", "wal-dev-workload-deployment"), ("updating", "wal-dev-database-statefulset"),
                           ("creating", "wal-dev-gateway-gateway"))  # fmt: skip
    found = pf.preflight("dev", make_tools(FAKE_PULUMI_STATE=state), probes(), settings_for("dev", **ports))
    assert (
        "WARN interrupted deploy: stack dev's state still lists 2 create(s) a killed deploy began "
        "(wal-dev-workload-deployment, wal-dev-gateway-gateway); pulumi up makes them again -> fix: after make up: "
        "pulumi refresh --clear-pending-creates --yes --stack dev"
    ) in lines(found), lines(found)
    assert not [f for f in found if f.level == "fail"], "pending creates do not stop make up"


def test_a_state_without_pending_creates_says_nothing_of_them(make_tools: MakeTools, ports: dict[str, int]) -> None:
    state = pending_export(("updating", "wal-dev-workload-deployment"))
    found = pf.preflight("dev", make_tools(FAKE_PULUMI_STATE=state), probes(), settings_for("dev", **ports))
    assert not [f for f in found if f.check == "interrupted deploy"]


def test_published_ports_parse_docker_ps() -> None:
    text = "a\t127.0.0.1:80->80/tcp, 127.0.0.1:443->443/tcp\nb\t0.0.0.0:6000->5000/tcp, :::6000->5000/tcp\nc\t\n"
    assert pf.published_ports(text) == {80: "a", 443: "a", 6000: "b"}


def test_a_kind_host_must_resolve_to_loopback_only() -> None:
    """A name that also resolves elsewhere may send the browser past the kind ingress ports."""
    settings = settings_for("dev")
    assert pf.host_finding(settings, ["127.0.0.1", "::1"]).level == "ok"
    mixed = pf.host_finding(settings, ["127.0.0.1", "192.0.2.7"])
    assert mixed.level == "warn" and "not 127.0.0.1" in mixed.message, mixed.line()


def test_without_privileges_a_low_port_is_busy_exactly_when_something_answers(
    listener: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below 1024 a user cannot bind to find out (macOS before Mojave, some Linux setups): preflight connects."""
    free = free_port()

    def unprivileged(self: socket.socket, address: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(socket.socket, "bind", unprivileged)
    assert pf.port_busy(listener) is True
    assert pf.port_busy(free) is False


def test_an_existing_cluster_host_may_not_resolve_yet_and_is_told_where_to_point() -> None:
    prod = stack_settings("prod")
    assert pf.host_finding(prod, None).line() == (
        "WARN host wal-service.example.com: does not resolve yet -> fix: point its DNS record at the address of the "
        "route (Gateway or Ingress)"
    )
    assert pf.host_finding(prod, ["203.0.113.7"]).line() == "ok   host wal-service.example.com: resolves to 203.0.113.7"


def test_resolve_gives_every_address_once_and_none_for_a_name_that_cannot_exist() -> None:
    addresses = pf.resolve("localhost")
    assert addresses is not None and "127.0.0.1" in addresses and len(addresses) == len(set(addresses))
    assert pf.resolve("bad..name") is None
