"""Diagnosis over API objects shaped as the API server returns them, one test per failure a deployment can meet."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes.client import (
    CoreV1Event,
    V1Container,
    V1ContainerState,
    V1ContainerStateRunning,
    V1ContainerStateTerminated,
    V1ContainerStateWaiting,
    V1ContainerStatus,
    V1Deployment,
    V1DeploymentSpec,
    V1DeploymentStatus,
    V1Endpoint,
    V1EndpointConditions,
    V1EndpointSlice,
    V1HTTPGetAction,
    V1HTTPIngressPath,
    V1HTTPIngressRuleValue,
    V1Ingress,
    V1IngressBackend,
    V1IngressLoadBalancerIngress,
    V1IngressLoadBalancerStatus,
    V1IngressRule,
    V1IngressServiceBackend,
    V1IngressSpec,
    V1IngressStatus,
    V1LabelSelector,
    V1NetworkPolicy,
    V1NetworkPolicyEgressRule,
    V1NetworkPolicyIngressRule,
    V1NetworkPolicyPeer,
    V1NetworkPolicyPort,
    V1NetworkPolicySpec,
    V1ObjectMeta,
    V1ObjectReference,
    V1Pod,
    V1PodCondition,
    V1PodSpec,
    V1PodStatus,
    V1PodTemplateSpec,
    V1Probe,
    V1Service,
    V1ServiceBackendPort,
    V1ServiceSpec,
)

from ops import diagnose as d

NS = "wal-service-dev"
CTX = d.Ctx(
    stack="dev",
    context="kind-wal-service-cluster",
    namespace=NS,
    host="dev.wal-service.local",
    cluster="wal-service-cluster",
    registry_name="kind-registry",
    registry_port=6000,
)
SELECTOR = {"app.kubernetes.io/name": "wal-service", "app.kubernetes.io/instance": "wal-service-dev"}
LABELS = {**SELECTOR, "app.kubernetes.io/version": "3f2a9c1d7e4b", "pod-template-hash": "5d8f7c9b6"}
IMAGE = "kind-registry:5000/wal-service@sha256:" + "ab" * 32
NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def probe(path: str, period: int, failures: int) -> V1Probe:
    return V1Probe(
        http_get=V1HTTPGetAction(path=path, port="http", scheme="HTTP"),
        period_seconds=period,
        failure_threshold=failures,
        timeout_seconds=2,
        success_threshold=1,
    )


def pod(
    name: str,
    *,
    ready: bool = True,
    state: V1ContainerState | None = None,
    last: V1ContainerState | None = None,
    restarts: int = 0,
    labels: dict[str, str] | None = None,
    phase: str = "Running",
    scheduled: bool = True,
) -> V1Pod:
    conditions = [
        V1PodCondition(
            type="PodScheduled", status="True" if scheduled else "False", reason=None if scheduled else "Unschedulable"
        ),
    ]
    if scheduled:
        conditions += [
            V1PodCondition(type="Initialized", status="True"),
            V1PodCondition(type="ContainersReady", status=str(ready)),
            V1PodCondition(type="Ready", status=str(ready), reason=None if ready else "ContainersNotReady"),
        ]
    statuses = (
        [
            V1ContainerStatus(
                name="wal-service",
                image=IMAGE,
                image_id="",
                ready=ready,
                restart_count=restarts,
                started=ready,
                state=state or V1ContainerState(running=V1ContainerStateRunning(started_at=NOW)),
                last_state=last or V1ContainerState(),
            )
        ]
        if scheduled
        else None
    )
    return V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=V1ObjectMeta(name=name, namespace=NS, labels=labels or LABELS),
        spec=V1PodSpec(
            containers=[
                V1Container(
                    name="wal-service",
                    image=IMAGE,
                    startup_probe=probe("/api/v1/health", 2, 60),
                    readiness_probe=probe("/api/v1/ready", 5, 2),
                    liveness_probe=probe("/api/v1/health", 10, 3),
                )
            ]
        ),
        status=V1PodStatus(phase=phase, conditions=conditions, container_statuses=statuses),
    )


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


def pull_failure(message: str) -> d.Check | None:
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
    assert not stuck.ok and stuck.detail == "not complete (1/2 updated, 1 available, 3 total)"
    assert (
        stuck.next
        == f"kubectl --context kind-wal-service-cluster -n {NS} rollout status deployment/wal-service --timeout=60s"
    )


def test_pod_summary_counts_ready_and_restarts() -> None:
    checks = d.check_pods([pod("a", restarts=1), pod("b")], [], {}, CTX)
    assert [c.line() for c in checks] == ["PASS pods/ready: 2/2 Ready, 1 restarts"]


def service(selector: dict[str, str]) -> V1Service:
    return V1Service(metadata=V1ObjectMeta(name="wal-service", namespace=NS), spec=V1ServiceSpec(selector=selector))


def slice_(*endpoints: tuple[str, bool]) -> V1EndpointSlice:
    return V1EndpointSlice(
        address_type="IPv4",
        metadata=V1ObjectMeta(
            name="wal-service-7xk2p",
            namespace=NS,
            labels={
                "kubernetes.io/service-name": "wal-service",
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
        ),
        endpoints=[
            V1Endpoint(
                addresses=[f"10.244.0.{i + 5}"],
                conditions=V1EndpointConditions(ready=up, serving=up),
                target_ref=V1ObjectReference(kind="Pod", name=name, namespace=NS),
            )
            for i, (name, up) in enumerate(endpoints)
        ],
    )


def test_endpoints_match_the_ready_pods() -> None:
    check = d.check_endpoints(service(SELECTOR), [slice_(("a", True), ("b", True))], [pod("a"), pod("b")], CTX)
    assert check.line() == "PASS service/endpoints: 2 ready endpoints, matching the selected pods"


def test_selector_mismatch_is_spotted() -> None:
    wrong = {**SELECTOR, "app.kubernetes.io/instance": "wal-service-staging"}
    check = d.check_endpoints(service(wrong), [], [pod("a")], CTX)
    assert check.detail == (
        "selector app.kubernetes.io/instance=wal-service-staging,app.kubernetes.io/name=wal-service matches none "
        f"of the 1 pods in {NS}"
    )
    assert check.cause == (
        "selector mismatch: the pods carry app.kubernetes.io/instance=wal-service-dev, "
        "app.kubernetes.io/name=wal-service, app.kubernetes.io/version=3f2a9c1d7e4b"
    )


def test_endpoints_of_unknown_readiness_count_as_ready() -> None:
    """The API says a nil `ready` condition means unknown, to be treated as ready."""
    unknown = slice_(("a", True), ("b", True))
    unknown.endpoints[0].conditions = None
    unknown.endpoints[1].conditions = V1EndpointConditions(ready=None)
    check = d.check_endpoints(service(SELECTOR), [unknown], [pod("a"), pod("b")], CTX)
    assert check.line() == "PASS service/endpoints: 2 ready endpoints, matching the selected pods"


def test_a_ready_pod_missing_from_the_endpoints_is_spotted() -> None:
    check = d.check_endpoints(service(SELECTOR), [slice_(("a", True))], [pod("a"), pod("b")], CTX)
    assert not check.ok and check.detail == "endpoints ['a'] differ from the Ready selected pods ['a', 'b']"


def test_no_ready_endpoints_points_at_the_pods() -> None:
    check = d.check_endpoints(service(SELECTOR), [slice_(("a", False))], [pod("a", ready=False)], CTX)
    assert check.detail == "no ready endpoints (1 not ready, 1 selected pods)"


def ingress(
    namespace: str, name: str, host: str, address: str | None = "localhost", instance: str | None = None
) -> V1Ingress:
    backend = V1IngressBackend(
        service=V1IngressServiceBackend(name="wal-service", port=V1ServiceBackendPort(name="http"))
    )
    return V1Ingress(
        metadata=V1ObjectMeta(
            name=name, namespace=namespace, labels={"app.kubernetes.io/instance": instance} if instance else None
        ),
        spec=V1IngressSpec(
            ingress_class_name="nginx",
            rules=[
                V1IngressRule(
                    host=host,
                    http=V1HTTPIngressRuleValue(
                        paths=[V1HTTPIngressPath(path="/", path_type="Prefix", backend=backend)]
                    ),
                )
            ],
        ),
        status=V1IngressStatus(
            load_balancer=V1IngressLoadBalancerStatus(
                ingress=[V1IngressLoadBalancerIngress(hostname=address)] if address else None
            )
        ),
    )


def test_ingress_without_address_and_with_address() -> None:
    assert d.check_ingress_address(ingress(NS, "wal-service-ingress", CTX.host), CTX).line() == (
        "PASS ingress/address: address localhost"
    )
    bare = d.check_ingress_address(ingress(NS, "wal-service-ingress", CTX.host, None), CTX)
    assert not bare.ok and bare.detail == "no address in .status.loadBalancer"


def test_another_ingress_claiming_the_host_in_another_namespace_fails() -> None:
    ours = ingress(NS, "wal-service-ingress", CTX.host, instance="wal-service-dev")
    stale = ingress("default", "wal-service-ingress", CTX.host)
    other = ingress("default", "shop", "shop.local")
    assert d.check_host_claims([ours, other], [], CTX).ok
    check = d.check_host_claims([ours, stale, other], [], CTX)
    assert check.detail == (
        "ingress default/wal-service-ingress also claims dev.wal-service.local "
        "(not this stack's: no app.kubernetes.io/instance=wal-service-dev)"
    )
    assert check.next == "kubectl --context kind-wal-service-cluster -n default delete ingress wal-service-ingress"


def test_our_own_route_in_a_renamed_namespace_is_not_a_conflict() -> None:
    """After a namespace rename the old route is still ours: recognised by the instance label, not the namespace."""
    old = ingress("wal-service-old", "wal-service-ingress", CTX.host, instance="wal-service-dev")
    assert d.check_host_claims([old], [http_route("wal-service-old")], GW).ok
    staging = http_route("wal-service-staging", instance="wal-service-staging")
    check = d.check_host_claims([], [staging], GW)
    assert not check.ok and check.layer == "gateway"
    assert (
        check.next == "kubectl --context kind-wal-service-cluster -n wal-service-staging delete httproute wal-service"
    )


GW = dataclasses.replace(CTX, routing="gateway", gateway_namespace="nginx-gateway", gateway_name="wal-service")


def condition(kind: str, status: str = "True", reason: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason or kind, "message": "m"}


def http_route(
    namespace: str = NS, instance: str = "wal-service-dev", host: str = "dev.wal-service.local", **parent: Any
) -> dict[str, Any]:
    ref = {"name": "wal-service", "namespace": "nginx-gateway", **parent.pop("ref", {})}
    return {
        "metadata": {"name": "wal-service", "namespace": namespace, "labels": {"app.kubernetes.io/instance": instance}},
        "spec": {"hostnames": [host.upper()], "parentRefs": [ref]},
        "status": {
            "parents": [
                {
                    "parentRef": ref,
                    "conditions": parent.get("conditions", [condition("Accepted"), condition("ResolvedRefs")]),
                }
            ]
        },
    }


def test_gateway_programmed_with_an_address() -> None:
    gateway = {
        "metadata": {"name": "wal-service", "namespace": "nginx-gateway"},
        "status": {"conditions": [condition("Programmed")], "addresses": [{"type": "IPAddress", "value": "10.96.0.9"}]},
    }
    assert d.check_gateway(gateway, GW).line() == (
        "PASS gateway/programmed: Gateway nginx-gateway/wal-service programmed, address 10.96.0.9"
    )
    pending = {**gateway, "status": {"conditions": [condition("Programmed", "False", "Pending")]}}
    check = d.check_gateway(pending, GW)
    assert not check.ok and check.detail == "Gateway nginx-gateway/wal-service Programmed=False (Pending: m)"
    assert check.next == "kubectl --context kind-wal-service-cluster -n nginx-gateway describe gateway wal-service"
    assert not d.check_gateway({**gateway, "status": {"conditions": [condition("Programmed")]}}, GW).ok
    missing = d.check_gateway(None, GW)
    assert not missing.ok and missing.next == "make up STACK=dev"


def test_route_accepted_by_its_parent_with_the_backend_resolved() -> None:
    assert d.check_route(http_route(), GW).line() == (
        "PASS gateway/route: accepted by Gateway nginx-gateway/wal-service, backend resolved"
    )
    refused = d.check_route(http_route(conditions=[condition("Accepted", "False", "NotAllowedByListeners")]), GW)
    assert not refused.ok and "NotAllowedByListeners" in refused.detail and "allowedRoutes" in refused.cause
    unresolved = d.check_route(
        http_route(conditions=[condition("Accepted"), condition("ResolvedRefs", "False", "BackendNotFound")]), GW
    )
    assert not unresolved.ok and "BackendNotFound" in unresolved.detail
    # Status from another parent says nothing about ours.
    elsewhere = d.check_route(http_route(ref={"name": "other"}), GW)
    assert not elsewhere.ok and elsewhere.detail == "no status from Gateway nginx-gateway/wal-service"
    assert not d.check_route(None, GW).ok


def test_a_localhost_ingress_address_means_loopback() -> None:
    """kind publishes `localhost` as the ingress address: both loopback addresses match it."""
    assert d.expected_addresses(["localhost", "198.51.100.4"]) == {"127.0.0.1", "::1", "198.51.100.4"}
    assert d.check_dns(["::1"], ["localhost"], CTX, local=False).ok


def test_dns_loopback_for_kind_and_stale_record() -> None:
    assert d.check_dns(["127.0.0.1"], ["localhost"], CTX, local=True).ok
    assert not d.check_dns(None, ["localhost"], CTX, local=True).ok
    stale = d.check_dns(["203.0.113.9"], ["198.51.100.4"], CTX, local=False)
    assert stale.detail == "dev.wal-service.local -> 203.0.113.9, not the ingress address 198.51.100.4"


def policy(name: str, selector: dict[str, str], types: list[str], **rules: Any) -> V1NetworkPolicy:
    return V1NetworkPolicy(
        metadata=V1ObjectMeta(name=name, namespace=NS),
        spec=V1NetworkPolicySpec(
            pod_selector=V1LabelSelector(match_labels=selector or None), policy_types=types, **rules
        ),
    )


DEFAULT_DENY = policy("default-deny", {}, ["Ingress", "Egress"])
ALLOW_DNS = policy(
    "allow-dns-egress",
    {},
    ["Egress"],
    egress=[
        V1NetworkPolicyEgressRule(
            to=[
                V1NetworkPolicyPeer(
                    namespace_selector=V1LabelSelector(match_labels={"kubernetes.io/metadata.name": "kube-system"}),
                    pod_selector=V1LabelSelector(match_labels={"k8s-app": "kube-dns"}),
                )
            ],
            ports=[V1NetworkPolicyPort(protocol="UDP", port=53), V1NetworkPolicyPort(protocol="TCP", port=53)],
        )
    ],
)
ALLOW_CONTROLLER = policy(
    "allow-ingress-controller",
    SELECTOR,
    ["Ingress"],
    ingress=[
        # `from` is a Python keyword: the model takes the API's field name through its alias.
        V1NetworkPolicyIngressRule(
            **{
                "from": [
                    V1NetworkPolicyPeer(
                        namespace_selector=V1LabelSelector(
                            match_labels={"kubernetes.io/metadata.name": "ingress-nginx"}
                        )
                    )
                ],
                "ports": [V1NetworkPolicyPort(protocol="TCP", port="http")],
            }
        )
    ],
)


def test_network_policies_allow_the_path_and_deny_the_rest() -> None:
    checks = d.check_network([DEFAULT_DENY, ALLOW_DNS, ALLOW_CONTROLLER], LABELS, CTX)
    assert all(c.ok for c in checks)
    assert checks[0].detail == (
        "isolated both ways; allowed in: from namespaces kubernetes.io/metadata.name=ingress-nginx on TCP/http | "
        "out: to namespaces kubernetes.io/metadata.name=kube-system/pods k8s-app=kube-dns on UDP/53, TCP/53"
    )


ALLOW_GATEWAY = policy(
    "allow-gateway",
    SELECTOR,
    ["Ingress"],
    ingress=[
        V1NetworkPolicyIngressRule(
            **{
                "from": [
                    V1NetworkPolicyPeer(
                        namespace_selector=V1LabelSelector(
                            match_labels={"kubernetes.io/metadata.name": "nginx-gateway"}
                        ),
                        pod_selector=V1LabelSelector(
                            match_labels={"gateway.networking.k8s.io/gateway-name": "wal-service"}
                        ),
                    )
                ],
                "ports": [V1NetworkPolicyPort(protocol="TCP", port="http")],
            }
        )
    ],
)


def test_gateway_routing_needs_the_gateways_data_plane_admitted() -> None:
    checks = d.check_network([DEFAULT_DENY, ALLOW_DNS, ALLOW_GATEWAY], LABELS, GW)
    assert all(c.ok for c in checks), [c.line() for c in checks]
    # The ingress controller's namespace is not the Gateway's data plane.
    path = d.check_network([DEFAULT_DENY, ALLOW_DNS, ALLOW_CONTROLLER], LABELS, GW)[1]
    assert not path.ok and path.detail == (
        "no policy admits the Gateway's data plane (namespace nginx-gateway, "
        "pods gateway.networking.k8s.io/gateway-name=wal-service) on port 8080"
    )
    other_gateway = dataclasses.replace(GW, gateway_name="shared")
    assert not d.check_network([DEFAULT_DENY, ALLOW_DNS, ALLOW_GATEWAY], LABELS, other_gateway)[1].ok


def test_network_without_controller_rule_or_dns_fails() -> None:
    checks = d.check_network([DEFAULT_DENY], LABELS, CTX)
    assert [c.ok for c in checks] == [True, False, False]
    assert checks[1].detail == "no policy admits namespace ingress-nginx on port 8080"
    assert checks[2].cause == (
        "the pods cannot resolve any host name, the database's included: default-deny egress drops DNS "
        "unless a rule allows it"
    )
    open_checks = d.check_network([], LABELS, CTX)
    assert open_checks[0].detail.startswith("ingress and egress not isolated")


def test_selector_expressions() -> None:
    from kubernetes.client import V1LabelSelectorRequirement as Req

    sel = V1LabelSelector(
        match_expressions=[Req(key="tier", operator="In", values=["api"]), Req(key="canary", operator="DoesNotExist")]
    )
    assert d.selector_matches(sel, {"tier": "api"})
    assert not d.selector_matches(sel, {"tier": "api", "canary": "1"})
    assert not d.selector_matches(sel, {"tier": "db"})


# --- the API keys, through the route ------------------------------------------------------------------------

API = f"http://127.0.0.1:80{d.PROBE_PATH}"


def test_an_anonymous_append_refused_with_401_passes() -> None:
    check = d.check_anonymous_append(API, 401, "401 in 3 ms", "", "unauthorized", GW)
    assert check.ok and check.line() == f"PASS gateway/anonymous-append: POST {API} without a key: 401 in 3 ms " \
        "(refused, as it must be)"  # fmt: skip


def test_a_service_that_takes_anonymous_appends_fails() -> None:
    # 201: it wrote; 400 empty_body: it read the request past any key check (the empty body wrote nothing).
    for status, detail in ((201, ""), (400, "empty_body"), (413, "body_too_large")):
        check = d.check_anonymous_append(API, status, f"{status} in 2 ms", "", detail, GW)
        assert not check.ok, status
        assert "takes appends from anyone who reaches dev.wal-service.local" in check.detail
        assert "AUTH=disabled" in check.cause
        assert "get configmap wal-service-config" in check.next and "make up STACK=dev" in check.next


def test_an_answer_that_is_not_the_services_says_nothing_about_keys() -> None:
    """The ingress's default backend (404 without the service's JSON) or no answer: the check cannot tell."""
    for status, detail, cause in ((404, "", "the ingress controller has no rule"), (None, "", "nothing listens")):
        check = d.check_anonymous_append(API, status, "x", cause, detail, CTX)
        assert not check.ok
        assert check.detail.endswith("cannot tell whether keys are required") and check.cause == cause


def test_the_stacks_key_reads() -> None:
    check = d.check_authenticated_read(API, 200, "200 in 4 ms", "", "the stack output apiToken", GW)
    assert check.ok and check.detail == f"GET {API} with the stack output apiToken: 200 in 4 ms"


def test_a_refused_key_points_at_the_rollout_and_the_stacks_keys() -> None:
    check = d.check_authenticated_read(API, 401, "401 in 4 ms", "x", "WAL_API_TOKEN", GW)
    assert not check.ok and "the key is refused" in check.detail
    assert "rotation" in check.cause
    assert check.next == f"{GW.kubectl} rollout status deployment/wal-service; pulumi stack output apiKeys --stack dev"


def test_without_a_token_the_read_check_fails_with_how_to_give_one() -> None:
    check = d.check_authenticated_read(API, None, "", "", "", CTX)
    assert not check.ok and "export WAL_API_TOKEN=" in check.next
