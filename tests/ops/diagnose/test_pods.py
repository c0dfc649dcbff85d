"""Layer 1, pods: one test per failure a pod can meet, from its status and events."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from kubernetes.client import (
    CoreV1Event,
    V1ContainerState,
    V1ContainerStateTerminated,
    V1ContainerStateWaiting,
    V1Deployment,
    V1DeploymentSpec,
    V1DeploymentStatus,
    V1LabelSelector,
    V1ObjectMeta,
    V1ObjectReference,
    V1PodTemplateSpec,
)

from ops.diagnose import pods as d
from ops.diagnose.checks import Check
from tests.ops.diagnose.builders import CTX, IMAGE, NOW, NS, SELECTOR, pod


def event(pod_name: str, reason: str, message: str, type_: str = "Warning", age: int = 10) -> CoreV1Event:
    return CoreV1Event(
        metadata=V1ObjectMeta(name=f"{pod_name}.1845f0a3b2c1d0e9", namespace=NS),
        involved_object=V1ObjectReference(kind="Pod", name=pod_name, namespace=NS, api_version="v1"),
        reason=reason,
        message=message,
        type=type_,
        count=3,
        first_timestamp=NOW - timedelta(seconds=age + 60),
        last_timestamp=NOW - timedelta(seconds=age),
    )


def waiting(reason: str, message: str = "") -> V1ContainerState:
    return V1ContainerState(waiting=V1ContainerStateWaiting(reason=reason, message=message or None))


POD = "wal-service-5d8f7c9b6-x2k4q"


def pull_failure(message: str) -> Check | None:
    p = pod(POD, ready=False, state=waiting("ImagePullBackOff", f'Back-off pulling image "{IMAGE}"'))
    events = [
        event(POD, "Pulling", f'Pulling image "{IMAGE}"', "Normal", 90),
        event(POD, "Failed", f'Failed to pull image "{IMAGE}": {message}', age=30),
        event(POD, "Failed", "Error: ErrImagePull", age=29),
        event(POD, "BackOff", f'Back-off pulling image "{IMAGE}"', "Normal", 5),
    ]
    return d.diagnose_pod(p, events, "", CTX)


def test_pull_fails_when_nodes_cannot_resolve_the_registry() -> None:
    check = pull_failure(
        "failed to pull and unpack image: failed to resolve reference: failed to do request: "
        'Head "https://kind-registry:5000/v2/wal-service/manifests/sha256:abab": dial tcp: lookup kind-registry '
        "on 172.18.0.1:53: no such host"
    )
    assert check is not None and not check.ok
    assert check.detail == f"ImagePullBackOff for {IMAGE}"
    assert "not attached to the kind network" in check.cause
    assert check.next == "docker network connect kind kind-registry"


def test_pull_fails_over_https_without_hosts_toml() -> None:
    check = pull_failure(
        'failed to resolve reference: failed to do request: Head "https://kind-registry:5000/v2/wal-service/manifests/'
        'sha256:abab": http: server gave HTTP response to HTTPS client'
    )
    assert check is not None
    assert (
        check.cause == "containerd tried HTTPS: the node has no /etc/containerd/certs.d/kind-registry:5000/hosts.toml"
    )
    assert check.next.startswith("docker exec wal-service-cluster-control-plane ls /etc/containerd/certs.d/")
    # `pulumi refresh` cannot bring a hosts.toml back (local.Command has no Read): the stack's recovery command can.
    assert check.next.endswith("; pulumi stack output recoveryCommands --stack dev"), check.next
    rewrite = "pulumi up --replace 'urn:pulumi:dev::wal-service::x$command:local:Command::wal-dev-registry-node-hosts'"
    p = pod(POD, ready=False, state=waiting("ImagePullBackOff", f'Back-off pulling image "{IMAGE}"'))
    failed = [event(POD, "Failed", f'Failed to pull image "{IMAGE}": http: server gave HTTP response to HTTPS client')]
    named = d.diagnose_pod(p, failed, "", dataclasses.replace(CTX, rewrite_hosts=rewrite))
    assert named is not None and named.next.endswith(f"; {rewrite}"), named


def test_pull_fails_when_the_registry_refuses_connections() -> None:
    check = pull_failure(
        'Head "http://kind-registry:5000/v2/wal-service/manifests/sha256:abab": dial tcp '
        "172.18.0.3:5000: connect: connection refused"
    )
    assert check is not None
    assert check.cause == "nothing answers at the registry (kind-registry stopped or restarting)"
    assert check.next == "docker start kind-registry && curl -s http://localhost:6000/v2/_catalog"


def test_crash_loop_shows_exit_code_and_last_log_lines() -> None:
    p = pod(
        POD,
        ready=False,
        restarts=4,
        state=waiting("CrashLoopBackOff", "back-off 1m20s restarting failed container=wal-service"),
        last=V1ContainerState(terminated=V1ContainerStateTerminated(exit_code=2, reason="Error", finished_at=NOW)),
    )
    log = (
        '{"level": "info", "msg": "starting"}\n'
        "wal-service: configuration error: PORT='eighty' is invalid: must be an integer\n"
    )
    check = d.diagnose_pod(p, [event(POD, "BackOff", "Back-off restarting failed container wal-service")], log, CTX)
    assert check is not None
    assert check.detail == "CrashLoopBackOff, 4 restarts, last exit 2 (Error)"
    assert check.cause == (
        'configuration error at start-up; last log lines: {"level": "info", "msg": "starting"} | '
        "wal-service: configuration error: PORT='eighty' is invalid: must be an integer"
    )
    assert check.next == f"kubectl --context kind-wal-service-cluster -n {NS} logs {POD} --previous --tail=50"


def test_oom_killed_crash_names_the_memory_limit() -> None:
    p = pod(
        POD,
        ready=False,
        restarts=2,
        state=waiting("CrashLoopBackOff"),
        last=V1ContainerState(terminated=V1ContainerStateTerminated(exit_code=137, reason="OOMKilled")),
    )
    check = d.diagnose_pod(p, [], "", CTX)
    assert check is not None and check.cause == "killed for exceeding its memory limit; raise wal-service:memoryLimit"


def test_startup_probe_failure_gives_path_and_budget() -> None:
    p = pod(POD, ready=False, restarts=1)
    events = [
        event(
            POD,
            "Unhealthy",
            'Startup probe failed: Get "http://10.244.0.7:8080/api/v1/health": dial tcp '
            "10.244.0.7:8080: connect: connection refused",
            age=3,
        ),
        event(POD, "Killing", "Container wal-service failed startup probe, will be restarted", "Normal", 2),
    ]
    check = d.diagnose_pod(p, events, "", CTX)
    assert check is not None
    assert check.detail.startswith('Startup probe failing: Get "http://10.244.0.7:8080/api/v1/health"')
    assert "startup probe GET /api/v1/health: 60 x 2 s = 120 s" in check.cause
    assert "1 restarts so far" in check.cause and "wal-service:startupBudgetSeconds" in check.cause


def test_readiness_probe_503_means_not_ready_app() -> None:
    p = pod(POD, ready=False)
    events = [event(POD, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503")]
    check = d.diagnose_pod(p, events, "", CTX)
    assert check is not None
    assert check.detail == "Readiness probe failing: HTTP probe failed with statuscode: 503"
    assert check.cause == (
        "the app says it is not ready (database or schema) (readiness probe GET /api/v1/ready: 2 x 5 s = 10 s)"
    )


def test_unschedulable_pod_quotes_the_scheduler() -> None:
    p = pod(POD, ready=False, phase="Pending", scheduled=False)
    msg = "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available"
    check = d.diagnose_pod(p, [event(POD, "FailedScheduling", msg)], "", CTX)
    assert check is not None and check.detail == "not scheduled" and check.cause == msg


def deployment(replicas: int, updated: int, available: int, total: int) -> V1Deployment:
    return V1Deployment(
        metadata=V1ObjectMeta(name="wal-service", namespace=NS, generation=3),
        spec=V1DeploymentSpec(
            replicas=replicas, selector=V1LabelSelector(match_labels=SELECTOR), template=V1PodTemplateSpec()
        ),
        status=V1DeploymentStatus(
            observed_generation=3,
            replicas=total,
            updated_replicas=updated,
            available_replicas=available,
            ready_replicas=available,
        ),
    )


def test_rollout_complete_and_stuck() -> None:
    assert d.check_rollout(deployment(2, 2, 2, 2), CTX).ok
    stuck = d.check_rollout(deployment(2, 1, 1, 3), CTX)
    assert stuck.line() == (
        "FAIL pods/rollout: not complete (1/2 updated, 1 available, 3 total); cause: new pods are not becoming "
        f"available; see the pod lines below -> next: kubectl --context kind-wal-service-cluster -n {NS} rollout "
        "status deployment/wal-service --timeout=60s"
    )


def test_pod_summary_counts_ready_and_restarts() -> None:
    checks = d.check_pods([pod("a", restarts=1), pod("b")], [], {}, CTX)
    assert [c.line() for c in checks] == ["PASS pods/ready: 2/2 Ready, 1 restarts"]
    # One line that counts, then one per pod that is not Ready.
    lines = [c.line() for c in d.check_pods([pod("a", ready=False), pod("b")], [], {}, CTX)]
    assert lines == [
        "FAIL pods/ready: 1/2 Ready, 0 restarts; cause: see the pod lines below -> next: "
        f"kubectl --context kind-wal-service-cluster -n {NS} get pods -o wide",
        "FAIL pods/a: not Ready (phase Running); cause: no event explains it yet -> next: "
        f"kubectl --context kind-wal-service-cluster -n {NS} describe pod a",
    ]


def test_the_first_failed_pull_is_diagnosed_like_the_back_off_after_it() -> None:
    """ErrImagePull comes before ImagePullBackOff: a verify run in that window must say the same thing."""
    p = pod(POD, ready=False, state=waiting("ErrImagePull", "rpc error: code = NotFound"))
    check = d.diagnose_pod(p, [], "", CTX)
    assert check is not None and not check.ok and check.detail == f"ErrImagePull for {IMAGE}"


def test_a_container_the_kubelet_cannot_create_names_the_reason_and_its_message() -> None:
    """A missing Secret or ConfigMap key: the pod never starts, and no probe or restart says why."""
    message = 'secret "wal-service-database" not found'
    p = pod(POD, ready=False, state=waiting("CreateContainerConfigError", message))
    check = d.diagnose_pod(p, [], "", CTX)
    assert check is not None
    assert check.line() == (
        f"FAIL pods/{POD}: CreateContainerConfigError; cause: {message} -> next: "
        f"kubectl --context kind-wal-service-cluster -n {NS} describe pod {POD}"
    )


def test_a_pod_not_ready_with_nothing_to_explain_it_still_fails() -> None:
    check = d.diagnose_pod(pod(POD, ready=False), [], "", CTX)
    assert check is not None
    assert check.line() == (
        f"FAIL pods/{POD}: not Ready (phase Running); cause: no event explains it yet -> next: "
        f"kubectl --context kind-wal-service-cluster -n {NS} describe pod {POD}"
    )


def test_probe_budgets_come_from_the_service_container_whatever_its_position() -> None:
    """A sidecar injected first (a mesh, a log shipper) must not lend its probes to the diagnosis."""
    from kubernetes.client import V1Container

    p = pod(POD, ready=False)
    service = p.spec.containers[0]
    p.spec.containers = [V1Container(name="istio-proxy", image="proxy"), service]
    assert d._container(p) is service
    p.spec.containers = [V1Container(name="only", image="other")]
    assert d._container(p).name == "only", "without ours, the pod's one container"
    p.spec.containers = []
    assert d._container(p) is None


def test_a_crash_loop_before_the_kubelet_records_a_last_state_still_says_it_exits() -> None:
    p = pod(POD, ready=False, state=waiting("CrashLoopBackOff", "back-off"))
    p.status.container_statuses[0].last_state = None
    check = d.diagnose_pod(p, [], "", CTX)
    assert check is not None and check.detail == "CrashLoopBackOff, 0 restarts, last exited"


def test_on_an_existing_cluster_the_pull_fix_names_no_kind_node() -> None:
    cause, fix = d.pull_cause("http response to HTTPS client", dataclasses.replace(CTX, cluster=""))
    assert cause == "containerd tried HTTPS: the node has no /etc/containerd/certs.d/kind-registry:5000/hosts.toml"
    assert fix == "docker exec <node> ls /etc/containerd/certs.d/; pulumi stack output recoveryCommands --stack dev"
