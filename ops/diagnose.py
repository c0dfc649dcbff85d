"""Pure diagnosis over Kubernetes API objects, layer by layer: pods, service, route, DNS, network.

Every function takes client model objects (V1Pod, CoreV1Event, V1EndpointSlice, V1Ingress,
V1NetworkPolicy...) or, for Gateway API kinds, the dicts the custom-objects API returns, exactly as
the API returns them, and gives Checks: pass/fail, what was seen, and on failure the likely cause
and the next command. No I/O here. The route layer is "gateway" (Gateway + HTTPRoute) or "ingress".
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

APP = "wal-service"
CONTAINER = APP
INGRESS_NAME = f"{APP}-ingress"
ROUTE_NAME = APP
GATEWAY_GROUP = "gateway.networking.k8s.io"
# GEP-1762: the controller labels the data-plane pods it provisions with their Gateway's name.
GATEWAY_NAME_LABEL = f"{GATEWAY_GROUP}/gateway-name"
INSTANCE_LABEL = "app.kubernetes.io/instance"


@dataclass(frozen=True)
class Ctx:
    """What the diagnosis needs to know about the stack."""

    stack: str
    context: str
    namespace: str
    host: str
    health_path: str = "/api/v1/health"
    ingress_namespace: str = "ingress-nginx"
    cluster: str = ""
    """kind cluster name; empty for existing clusters."""
    registry_name: str = ""
    """Local registry container; empty for an external registry."""
    registry_port: int = 6000
    routing: str = "ingress"
    """gateway (an HTTPRoute on gateway_namespace/gateway_name) or ingress."""
    gateway_namespace: str = ""
    gateway_name: str = ""
    rewrite_hosts: str = ""
    kubectl_base: str = ""
    """kubectl aimed at the stack's cluster (Settings.kubectl); empty means `kubectl --context <context>`."""
    """The command that writes the nodes' registry hosts.toml again (the stack's recoveryCommands output)."""

    @property
    def cluster_kubectl(self) -> str:
        return self.kubectl_base or f"kubectl --context {self.context}"

    @property
    def kubectl(self) -> str:
        return f"{self.cluster_kubectl} -n {self.namespace}"

    @property
    def layer(self) -> str:
        """Name of the route layer in check lines."""
        return "gateway" if self.routing == "gateway" else "ingress"

    @property
    def instance(self) -> str:
        """The stack's app.kubernetes.io/instance: objects carrying it are ours, whatever their namespace."""
        return f"{APP}-{self.stack}"

    @property
    def traffic_source(self) -> str:
        """What routes traffic to the pods, as the NetworkPolicy must admit it."""
        if self.routing == "gateway":
            pods = f"pods {GATEWAY_NAME_LABEL}={self.gateway_name}"
            return f"the Gateway's data plane (namespace {self.gateway_namespace}, {pods})"
        return f"namespace {self.ingress_namespace}"


@dataclass(frozen=True)
class Check:
    layer: str
    name: str
    ok: bool
    detail: str
    cause: str = ""
    next: str = ""

    def line(self) -> str:
        head = f"{'PASS' if self.ok else 'FAIL'} {self.layer}/{self.name}: {self.detail}"
        if self.ok:
            return head
        return head + (f"; cause: {self.cause}" if self.cause else "") + (f" -> next: {self.next}" if self.next else "")


# ----------------------------------------------------------------------------------------- helpers
def selector_matches(selector: Any, labels: Mapping[str, str] | None) -> bool:
    """metav1.LabelSelector semantics: matchLabels AND matchExpressions; an empty selector matches all."""
    labels = labels or {}
    if selector is None:
        return True
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.match_expressions or []:
        present = expr.key in labels
        values = set(expr.values or [])
        if expr.operator == "In" and not (present and labels[expr.key] in values):
            return False
        if expr.operator == "NotIn" and present and labels[expr.key] in values:
            return False
        if expr.operator == "Exists" and not present:
            return False
        if expr.operator == "DoesNotExist" and present:
            return False
    return True


def describe_selector(selector: Any) -> str:
    if selector is None:
        return "any"
    parts = [f"{k}={v}" for k, v in sorted((selector.match_labels or {}).items())]
    for expr in selector.match_expressions or []:
        values = ",".join(expr.values or [])
        parts.append(f"{expr.key} {expr.operator}" + (f" ({values})" if values else ""))
    return ",".join(parts) or "any"


def _event_time(event: Any) -> datetime:
    moment = event.last_timestamp or event.event_time or event.first_timestamp
    if moment is None and event.metadata is not None:
        moment = event.metadata.creation_timestamp
    return moment or datetime.min.replace(tzinfo=UTC)


def events_for(events: Iterable[Any], kind: str, name: str) -> list[Any]:
    """The object's events, newest first."""
    found = [
        e
        for e in events
        if e.involved_object is not None and e.involved_object.kind == kind and e.involved_object.name == name
    ]
    return sorted(found, key=_event_time, reverse=True)


def is_ready(pod: Any) -> bool:
    conditions = (pod.status.conditions if pod.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def restarts(pod: Any) -> int:
    return sum(cs.restart_count or 0 for cs in (pod.status.container_statuses or [])) if pod.status else 0


def _container(pod: Any) -> Any:
    containers = pod.spec.containers if pod.spec else []
    return next((c for c in containers if c.name == CONTAINER), containers[0] if containers else None)


def last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-count:])


# -------------------------------------------------------------------------------------- 1. pods
def check_rollout(deployment: Any, ctx: Ctx) -> Check:
    if deployment is None:
        return Check(
            "pods",
            "rollout",
            False,
            f"no Deployment {APP} in {ctx.namespace}",
            "the stack is not deployed",
            f"make up STACK={ctx.stack}",
        )
    spec_replicas = deployment.spec.replicas if deployment.spec.replicas is not None else 1
    status = deployment.status
    updated = status.updated_replicas or 0
    available = status.available_replicas or 0
    total = status.replicas or 0
    observed = (status.observed_generation or 0) >= (deployment.metadata.generation or 0)
    detail = f"{updated}/{spec_replicas} updated, {available} available, {total} total"
    if observed and updated >= spec_replicas and available >= spec_replicas and total == updated:
        return Check("pods", "rollout", True, f"complete ({detail})")
    return Check(
        "pods",
        "rollout",
        False,
        f"not complete ({detail})",
        "new pods are not becoming available; see the pod lines below",
        f"{ctx.kubectl} rollout status deployment/{APP} --timeout=60s",
    )


def pull_cause(message: str, ctx: Ctx) -> tuple[str, str]:
    """Why an image pull failed, from the kubelet's event text."""
    reg = ctx.registry_name
    node = f"{ctx.cluster}-control-plane" if ctx.cluster else "<node>"
    text = message.lower()
    if "no such host" in text or (reg and f"lookup {reg}" in text):
        return (
            f"the nodes cannot resolve the registry name {reg or 'of the image'}: the registry container is not "
            "attached to the kind network (or is gone)",
            f"docker network connect kind {reg}" if reg else "check the registry host name",
        )
    if "http response to https client" in text:
        return (
            f"containerd tried HTTPS: the node has no /etc/containerd/certs.d/{reg}:5000/hosts.toml",
            f"docker exec {node} ls /etc/containerd/certs.d/; "
            + (ctx.rewrite_hosts or f"pulumi stack output recoveryCommands --stack {ctx.stack}"),
        )
    if "connection refused" in text:
        return (
            f"nothing answers at the registry ({reg or 'registry'} stopped or restarting)",
            f"docker start {reg} && curl -s http://localhost:{ctx.registry_port}/v2/_catalog"
            if reg
            else "check that the registry is up",
        )
    if "not found" in text or "manifest unknown" in text:
        return (
            "the registry does not have this image (push failed, or the registry was recreated empty)",
            f"curl -s http://localhost:{ctx.registry_port}/v2/{APP}/tags/list; make up STACK={ctx.stack} pushes again"
            if reg
            else f"check the image exists in the registry; make up STACK={ctx.stack}",
        )
    if "unauthorized" in text or "authentication required" in text or "403 forbidden" in text:
        return (
            "the registry refused the pull credentials",
            f"pulumi config set --secret wal-service:registryPassword <token> --stack {ctx.stack} && make up",
        )
    if "i/o timeout" in text or "deadline exceeded" in text:
        return ("the node cannot reach the registry in time (network)", f"docker exec {node} crictl pull <image>")
    return (message.strip() or "image pull failed", f"{ctx.kubectl} describe pod")


def _probe(container: Any, kind: str) -> Any:
    return getattr(container, f"{kind}_probe", None) if container is not None else None


def probe_summary(container: Any, kind: str) -> str:
    probe = _probe(container, kind)
    if probe is None:
        return f"no {kind} probe"
    path = probe.http_get.path if probe.http_get else "(not HTTP)"
    period = probe.period_seconds or 10
    failures = probe.failure_threshold or 3
    delay = probe.initial_delay_seconds or 0
    budget = delay + period * failures
    return (
        f"{kind} probe GET {path}: {failures} x {period} s"
        + (f" + {delay} s delay" if delay else "")
        + f" = {budget} s"
    )


_PROBE_EVENT = re.compile(r"^(Startup|Readiness|Liveness) probe failed: (.*)$", re.S)


def diagnose_pod(pod: Any, events: Sequence[Any], log: str, ctx: Ctx) -> Check | None:
    """What is wrong with one pod, or None when it is Ready."""
    name = pod.metadata.name
    pod_events = events_for(events, "Pod", name)
    logs_cmd = f"{ctx.kubectl} logs {name} --previous --tail=50"
    describe = f"{ctx.kubectl} describe pod {name}"
    phase = pod.status.phase if pod.status else "Unknown"
    conditions = (pod.status.conditions if pod.status else None) or []
    unscheduled = next((c for c in conditions if c.type == "PodScheduled" and c.status == "False"), None)
    if phase == "Pending" and unscheduled is not None:
        event = next((e for e in pod_events if e.reason == "FailedScheduling"), None)
        why = event.message if event else (unscheduled.message or unscheduled.reason or "unschedulable")
        return Check("pods", name, False, "not scheduled", why, describe)

    for status in (pod.status.container_statuses if pod.status else None) or []:
        waiting = status.state.waiting if status.state else None
        if waiting is not None and waiting.reason in ("ErrImagePull", "ImagePullBackOff"):
            pulls = (e for e in pod_events if e.reason == "Failed" and (e.message or "").startswith("Failed to pull"))
            event = next(pulls, None)
            cause, fix = pull_cause(event.message if event else (waiting.message or ""), ctx)
            return Check("pods", name, False, f"{waiting.reason} for {status.image}", cause, fix)
        if waiting is not None and waiting.reason == "CrashLoopBackOff":
            term = status.last_state.terminated if status.last_state else None
            exit_info = f"exit {term.exit_code} ({term.reason})" if term else "exited"
            if term is not None and term.reason == "OOMKilled":
                cause = "killed for exceeding its memory limit; raise wal-service:memoryLimit"
            elif term is not None and term.exit_code == 2:
                cause = "configuration error at start-up"
            else:
                cause = "the process exits"
            tail = last_lines(log)
            cause += f"; last log lines: {tail}" if tail else ""
            return Check(
                "pods",
                name,
                False,
                f"CrashLoopBackOff, {status.restart_count} restarts, last {exit_info}",
                cause,
                logs_cmd,
            )
        if waiting is not None and waiting.reason in (
            "CreateContainerConfigError",
            "CreateContainerError",
            "InvalidImageName",
        ):
            return Check("pods", name, False, waiting.reason, waiting.message or waiting.reason, describe)

    if is_ready(pod):
        return None
    container = _container(pod)
    for event in pod_events:
        if event.reason != "Unhealthy":
            continue
        match = _PROBE_EVENT.match((event.message or "").strip())
        if not match:
            continue
        kind, failure = match.group(1).lower(), match.group(2).strip()
        summary = probe_summary(container, kind)
        if kind == "startup":
            cause = (
                f"the app did not answer within the startup budget ({summary}); the kubelet restarts it "
                f"({restarts(pod)} restarts so far). Slow start: raise wal-service:startupBudgetSeconds"
            )
        elif kind == "readiness":
            reason = (
                "the app says it is not ready (database or schema)" if "503" in failure else "the app does not answer"
            )
            cause = f"{reason} ({summary})"
        else:
            cause = f"the app stopped answering its liveness probe ({summary})"
        return Check(
            "pods",
            name,
            False,
            f"{match.group(1)} probe failing: {failure}",
            cause,
            f"{ctx.kubectl} logs {name} --tail=50",
        )
    return Check("pods", name, False, f"not Ready (phase {phase})", "no event explains it yet", describe)


def check_pods(pods: Sequence[Any], events: Sequence[Any], logs: Mapping[str, str], ctx: Ctx) -> list[Check]:
    """A summary line, then one diagnosis per unhealthy pod."""
    if not pods:
        return [
            Check("pods", "ready", False, "no pods", "the Deployment has created none", f"{ctx.kubectl} get rs,events")
        ]
    ready = [p for p in pods if is_ready(p)]
    total_restarts = sum(restarts(p) for p in pods)
    detail = f"{len(ready)}/{len(pods)} Ready, {total_restarts} restarts"
    checks = [
        Check(
            "pods",
            "ready",
            len(ready) == len(pods),
            detail,
            "see the pod lines below",
            f"{ctx.kubectl} get pods -o wide",
        )
    ]
    for pod in pods:
        problem = diagnose_pod(pod, events, logs.get(pod.metadata.name, ""), ctx)
        if problem is not None:
            checks.append(problem)
    return checks


# ------------------------------------------------------------------------------------ 2. service
def endpoint_pods(slices: Sequence[Any], service: str) -> tuple[set[str], set[str]]:
    """(ready, not ready) pod names behind a Service, from its EndpointSlices."""
    ready: set[str] = set()
    not_ready: set[str] = set()
    for eps in slices:
        labels = eps.metadata.labels or {}
        if labels.get("kubernetes.io/service-name") != service:
            continue
        for endpoint in eps.endpoints or []:
            ref = endpoint.target_ref
            if ref is None or ref.kind != "Pod":
                continue
            # The API says a nil `ready` means unknown, to be treated as ready.
            up = endpoint.conditions is None or endpoint.conditions.ready is not False
            (ready if up else not_ready).add(ref.name)
    return ready, not_ready


def check_endpoints(service: Any, slices: Sequence[Any], pods: Sequence[Any], ctx: Ctx) -> Check:
    if service is None:
        return Check(
            "service",
            "endpoints",
            False,
            f"no Service {APP}",
            "the stack is not deployed",
            f"make up STACK={ctx.stack}",
        )
    selector = service.spec.selector or {}
    chosen = [p for p in pods if all((p.metadata.labels or {}).get(k) == v for k, v in selector.items())]
    shown = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    if not chosen:
        carried = sorted(
            {f"{k}={v}" for p in pods for k, v in (p.metadata.labels or {}).items() if k.startswith("app.")}
        )
        return Check(
            "service",
            "endpoints",
            False,
            f"selector {shown} matches none of the {len(pods)} pods in {ctx.namespace}",
            f"selector mismatch: the pods carry {', '.join(carried) or 'no app labels'}",
            f"{ctx.kubectl} get pods --show-labels",
        )
    ready, not_ready = endpoint_pods(slices, service.metadata.name)
    ready_pods = {p.metadata.name for p in chosen if is_ready(p)}
    if not ready:
        return Check(
            "service",
            "endpoints",
            False,
            f"no ready endpoints ({len(not_ready)} not ready, {len(chosen)} selected pods)",
            "the selected pods are not Ready (see the pod checks)",
            f"{ctx.kubectl} get endpointslices -l kubernetes.io/service-name={APP}",
        )
    if ready != ready_pods:
        return Check(
            "service",
            "endpoints",
            False,
            f"endpoints {sorted(ready)} differ from the Ready selected pods {sorted(ready_pods)}",
            "the EndpointSlices lag behind or a pod outside the Deployment carries the selector labels",
            f"{ctx.kubectl} get endpointslices,pods -o wide --show-labels",
        )
    return Check("service", "endpoints", True, f"{len(ready)} ready endpoints, matching the selected pods")


def check_http(layer: str, name: str, target: str, ok: bool, summary: str, cause: str, next_cmd: str) -> Check:
    if ok:
        return Check(layer, name, True, f"GET {target}: {summary}")
    return Check(layer, name, False, f"GET {target}: {summary}", cause, next_cmd)


# ------------------------------------------------------------------------------------ 3. ingress
def check_controller(pods: Sequence[Any], ctx: Ctx) -> Check:
    ready = [p for p in pods if is_ready(p)]
    next_cmd = f"{ctx.cluster_kubectl} -n {ctx.ingress_namespace} get pods,events"
    if not pods:
        return Check(
            "ingress",
            "controller",
            False,
            f"no controller pods in {ctx.ingress_namespace}",
            "the controller is not installed",
            next_cmd,
        )
    if not ready:
        return Check(
            "ingress", "controller", False, f"0/{len(pods)} controller pods Ready", "the controller is not up", next_cmd
        )
    return Check("ingress", "controller", True, f"{len(ready)}/{len(pods)} controller pods Ready")


def ingress_addresses(ingress: Any) -> list[str]:
    lb = ingress.status.load_balancer if ingress is not None and ingress.status else None
    return [entry.ip or entry.hostname for entry in (lb.ingress if lb else None) or [] if entry.ip or entry.hostname]


def check_ingress_address(ingress: Any, ctx: Ctx) -> Check:
    if ingress is None:
        return Check(
            "ingress",
            "address",
            False,
            f"no Ingress {INGRESS_NAME}",
            "the stack is not deployed",
            f"make up STACK={ctx.stack}",
        )
    addresses = ingress_addresses(ingress)
    if not addresses:
        return Check(
            "ingress",
            "address",
            False,
            "no address in .status.loadBalancer",
            "the controller has not admitted it (wrong ingressClassName, or the controller does not publish a status)",
            f"{ctx.kubectl} describe ingress {INGRESS_NAME}",
        )
    return Check("ingress", "address", True, f"address {', '.join(addresses)}")


def ingress_hosts(ingress: Any) -> set[str]:
    spec = ingress.spec
    hosts = {rule.host for rule in (spec.rules or []) if rule.host}
    hosts |= {h for tls in (spec.tls or []) for h in (tls.hosts or [])}
    return hosts


def route_hostnames(route: Mapping[str, Any]) -> set[str]:
    return {str(h).lower() for h in (route.get("spec") or {}).get("hostnames") or []}


def check_host_claims(ingresses: Sequence[Any], routes: Sequence[Mapping[str, Any]], ctx: Ctx) -> Check:
    """One route per host in the whole cluster. Ours are the objects with the stack's instance label, in any
    namespace (a renamed namespace leaves our old route behind until the stack deletes it)."""
    host = ctx.host.lower()
    others: list[tuple[str, str, str]] = [
        ("ingress", i.metadata.namespace, i.metadata.name)
        for i in ingresses
        if host in {h.lower() for h in ingress_hosts(i)}
        and (i.metadata.labels or {}).get(INSTANCE_LABEL) != ctx.instance
    ]
    others += [
        ("httproute", r["metadata"].get("namespace", ""), r["metadata"]["name"])
        for r in routes
        if host in route_hostnames(r) and (r["metadata"].get("labels") or {}).get(INSTANCE_LABEL) != ctx.instance
    ]
    if not others:
        return Check(ctx.layer, "host", True, f"no other Ingress or HTTPRoute claims {ctx.host}")
    kind, namespace, name = others[0]
    named = ", ".join(f"{k} {ns}/{n}" for k, ns, n in others)
    return Check(
        ctx.layer,
        "host",
        False,
        f"{named} also claim{'s' if len(others) == 1 else ''} {ctx.host} "
        f"(not this stack's: no {INSTANCE_LABEL}={ctx.instance})",
        "two routes for one host route unpredictably: the controller merges or picks between them, so "
        "requests may reach the other backend",
        f"{ctx.cluster_kubectl} -n {namespace} delete {kind} {name}",
    )


def conditions(obj: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in ((obj or {}).get("status") or {}).get("conditions") or []}


def _state(condition: Mapping[str, Any] | None) -> str:
    if condition is None:
        return "not reported"
    reason = f" ({condition.get('reason')}: {condition.get('message')})" if condition.get("reason") else ""
    return f"{condition.get('status')}{reason}"


def gateway_addresses(gateway: Mapping[str, Any] | None) -> list[str]:
    return [str(a["value"]) for a in ((gateway or {}).get("status") or {}).get("addresses") or [] if a.get("value")]


def check_gateway(gateway: Mapping[str, Any] | None, ctx: Ctx) -> Check:
    """Programmed by its controller, with an address: the data plane exists and serves the listeners."""
    where = f"{ctx.gateway_namespace}/{ctx.gateway_name}"
    describe = f"{ctx.cluster_kubectl} -n {ctx.gateway_namespace} describe gateway {ctx.gateway_name}"
    if gateway is None:
        return Check(
            "gateway",
            "programmed",
            False,
            f"no Gateway {where}",
            "the stack is not deployed, or the shared Gateway it names does not exist",
            f"make up STACK={ctx.stack}",
        )
    programmed = conditions(gateway).get("Programmed")
    if programmed is None or programmed.get("status") != "True":
        return Check(
            "gateway",
            "programmed",
            False,
            f"Gateway {where} Programmed={_state(programmed)}",
            "its controller has not programmed it: the GatewayClass has no running controller, or the controller "
            "rejected a listener",
            describe,
        )
    addresses = gateway_addresses(gateway)
    if not addresses:
        return Check(
            "gateway", "programmed", False, f"Gateway {where} has no address in .status.addresses", "", describe
        )
    return Check("gateway", "programmed", True, f"Gateway {where} programmed, address {', '.join(addresses)}")


def check_route(route: Mapping[str, Any] | None, ctx: Ctx) -> Check:
    """Accepted by our parent Gateway, with its backend resolved (route status is per parent)."""
    describe = f"{ctx.kubectl} describe httproute {ROUTE_NAME}"
    if route is None:
        return Check(
            "gateway",
            "route",
            False,
            f"no HTTPRoute {ROUTE_NAME}",
            "the stack is not deployed",
            f"make up STACK={ctx.stack}",
        )
    route_ns = route["metadata"].get("namespace", ctx.namespace)
    ours = [
        p
        for p in (route.get("status") or {}).get("parents") or []
        if p.get("parentRef", {}).get("name") == ctx.gateway_name
        and p.get("parentRef", {}).get("namespace", route_ns) == ctx.gateway_namespace
    ]
    parent = f"Gateway {ctx.gateway_namespace}/{ctx.gateway_name}"
    if not ours:
        return Check(
            "gateway",
            "route",
            False,
            f"no status from {parent}",
            "the Gateway's controller has not seen the route: it is down, or the parentRef names another Gateway",
            describe,
        )
    found = {str(c.get("type")): c for c in ours[0].get("conditions") or []}
    accepted, resolved = found.get("Accepted"), found.get("ResolvedRefs")
    if accepted is None or accepted.get("status") != "True":
        return Check(
            "gateway",
            "route",
            False,
            f"not accepted by {parent}: Accepted={_state(accepted)}",
            "no listener admits it: the listener's hostname or allowedRoutes namespaces exclude the route",
            describe,
        )
    if resolved is None or resolved.get("status") != "True":
        return Check(
            "gateway",
            "route",
            False,
            f"accepted by {parent}, backend not resolved: ResolvedRefs={_state(resolved)}",
            f"the Service {APP} or its port 8080 does not exist in {route_ns}",
            describe,
        )
    return Check("gateway", "route", True, f"accepted by {parent}, backend resolved")


# ------------------------------------------------------------------------------ 3. route: API keys
# The log the checks below touch: the anonymous append sends no body, so even a service that took it
# would write nothing (400 empty_body), and the authenticated read only reads.
PROBE_LOG = "wal-verify"
PROBE_PATH = f"/api/v1/logs/{PROBE_LOG}/records"


def check_anonymous_append(target: str, status: int | None, summary: str, cause: str, detail: str, ctx: Ctx) -> Check:
    """An append without a key must be refused with 401. A 2xx, or the service's own answer about the request
    itself (400 empty_body...), means it got past the key check: it takes writes from whoever reaches it."""
    line = f"POST {target} without a key: {summary}"
    if status == 401:
        return Check(ctx.layer, "anonymous-append", True, f"{line} (refused, as it must be)")
    if status is not None and (200 <= status < 300 or (detail and 400 <= status < 500)):
        return Check(
            ctx.layer,
            "anonymous-append",
            False,
            f"{line}: the service takes appends from anyone who reaches {ctx.host}",
            "the pods run without API keys (AUTH=disabled, or an image from before API keys)",
            f"{ctx.kubectl} get configmap {APP}-config -o yaml | grep -E 'AUTH|API_KEYS_FILE'; "
            f"make up STACK={ctx.stack}",
        )
    return Check(
        ctx.layer,
        "anonymous-append",
        False,
        f"{line}: cannot tell whether keys are required",
        cause or "the answer is not the service's",
        f"{ctx.kubectl} logs deploy/{APP} --tail=50",
    )


def check_authenticated_read(
    target: str, status: int | None, summary: str, cause: str, token_source: str, ctx: Ctx
) -> Check:
    """A read with the stack's key must succeed: the keys the pods loaded include it."""
    if not token_source:
        return Check(
            ctx.layer,
            "api-key",
            False,
            "no API token to check with: the stack exports no apiToken (generateApiKey is false)",
            "the check needs a token the stack's keys include",
            "export WAL_API_TOKEN=<the token of one of the stack's keys (pulumi stack output apiKeys lists them)>",
        )
    line = f"GET {target} with {token_source}: {summary}"
    if status == 200:
        return Check(ctx.layer, "api-key", True, line)
    if status == 401:
        return Check(
            ctx.layer,
            "api-key",
            False,
            f"{line}: the key is refused",
            "the pods know other keys: a rotation whose rollout has not finished, or a key removed from apiKeys",
            f"{ctx.kubectl} rollout status deployment/{APP}; pulumi stack output apiKeys --stack {ctx.stack}",
        )
    return Check(ctx.layer, "api-key", False, line, cause, f"{ctx.kubectl} logs deploy/{APP} --tail=50")


# ---------------------------------------------------------------------------------------- 4. DNS
def expected_addresses(ingress_addrs: Sequence[str]) -> set[str]:
    """IPs the public host should resolve to; `localhost` (kind's published status) means loopback."""
    expected: set[str] = set()
    for addr in ingress_addrs:
        if addr == "localhost":
            expected |= {"127.0.0.1", "::1"}
        else:
            expected.add(addr)
    return expected


def check_dns(resolved: Sequence[str] | None, route_addrs: Sequence[str], ctx: Ctx, local: bool) -> Check:
    expected = expected_addresses(route_addrs)
    fix = (
        f"echo '127.0.0.1 {ctx.host}' | sudo tee -a /etc/hosts"
        if local
        else f"point the DNS record {ctx.host} at {', '.join(sorted(expected))}"
    )
    if not resolved:
        return Check("dns", "host", False, f"{ctx.host} does not resolve", "no DNS record or hosts-file line", fix)
    if local and all(ipaddress.ip_address(a).is_loopback for a in resolved):
        return Check(
            "dns", "host", True, f"{ctx.host} -> {', '.join(resolved)} (loopback, where kind maps the {ctx.layer})"
        )
    if expected & set(resolved):
        return Check("dns", "host", True, f"{ctx.host} -> {', '.join(resolved)} (the {ctx.layer} address)")
    return Check(
        "dns",
        "host",
        False,
        f"{ctx.host} -> {', '.join(resolved)}, not the {ctx.layer} address {', '.join(sorted(expected)) or '?'}",
        "a stale DNS record or hosts-file line",
        fix,
    )


# ------------------------------------------------------------------------------------ 5. network
def _ports(ports: Sequence[Any] | None) -> str:
    if not ports:
        return "all ports"
    return ", ".join(f"{p.protocol or 'TCP'}/{p.port if p.port is not None else 'any'}" for p in ports)


def describe_peer(peer: Any) -> str:
    if peer.ip_block is not None:
        excepts = f" except {', '.join(peer.ip_block.var_except or [])}" if peer.ip_block.var_except else ""
        return f"{peer.ip_block.cidr}{excepts}"
    if peer.namespace_selector is not None:
        ns = describe_selector(peer.namespace_selector)
        pods = f"/pods {describe_selector(peer.pod_selector)}" if peer.pod_selector is not None else ""
        return f"namespaces {ns}{pods}"
    return f"pods {describe_selector(peer.pod_selector)} in this namespace"


def _types(policy: Any) -> set[str]:
    spec = policy.spec
    if spec.policy_types:
        return set(spec.policy_types)
    return {"Ingress"} | ({"Egress"} if spec.egress else set())


def _port_allows(ports: Sequence[Any] | None, number: int, name: str) -> bool:
    return not ports or any(p.port in (number, name) and (p.protocol or "TCP") == "TCP" for p in ports)


def _peer_admits(peer: Any, ctx: Ctx) -> bool:
    """Whether a peer admits what routes our traffic: the Gateway's data-plane pods, or the ingress
    controller's namespace (whose pod labels differ between controllers, so only the namespace counts)."""
    if peer.ip_block is not None or peer.namespace_selector is None:
        return False
    namespace = ctx.gateway_namespace if ctx.routing == "gateway" else ctx.ingress_namespace
    if not selector_matches(peer.namespace_selector, {"kubernetes.io/metadata.name": namespace}):
        return False
    if ctx.routing != "gateway" or peer.pod_selector is None:
        return True
    return selector_matches(peer.pod_selector, {GATEWAY_NAME_LABEL: ctx.gateway_name})


def check_network(policies: Sequence[Any], pod_labels: Mapping[str, str], ctx: Ctx, port: int = 8080) -> list[Check]:
    """What the namespace's policies allow for our pods: what routes traffic in, DNS out, nothing else."""
    applying = [p for p in policies if selector_matches(p.spec.pod_selector, pod_labels)]
    ingress_isolated = any("Ingress" in _types(p) for p in applying)
    egress_isolated = any("Egress" in _types(p) for p in applying)
    allowed_in: list[str] = []
    allowed_out: list[str] = []
    controller_in = dns_out = False
    for policy in applying:
        types = _types(policy)
        for rule in (policy.spec.ingress or []) if "Ingress" in types else []:
            peers = rule.var_from or []
            allowed_in.append(
                f"from {' or '.join(describe_peer(p) for p in peers) or 'anywhere'} on {_ports(rule.ports)}"
            )
            if _port_allows(rule.ports, port, "http") and (not peers or any(_peer_admits(p, ctx) for p in peers)):
                controller_in = True
        for rule in (policy.spec.egress or []) if "Egress" in types else []:
            peers = rule.to or []
            allowed_out.append(
                f"to {' or '.join(describe_peer(p) for p in peers) or 'anywhere'} on {_ports(rule.ports)}"
            )
            if any((p.port == 53 and (p.protocol or "TCP") == "UDP") for p in rule.ports or []) or not rule.ports:
                dns_out = True
    listing = f"in: {'; '.join(allowed_in) or 'nothing'} | out: {'; '.join(allowed_out) or 'nothing'}"
    np_cmd = f"{ctx.kubectl} get networkpolicy -o yaml"
    checks = []
    if ingress_isolated and egress_isolated:
        checks.append(Check("network", "default-deny", True, f"isolated both ways; allowed {listing}"))
    else:
        open_ways = " and ".join(
            w for w, iso in (("ingress", ingress_isolated), ("egress", egress_isolated)) if not iso
        )
        checks.append(
            Check(
                "network",
                "default-deny",
                False,
                f"{open_ways} not isolated; allowed {listing}",
                "no NetworkPolicy selects the pods for that direction, so everything is allowed",
                np_cmd,
            )
        )
    if not ingress_isolated or controller_in:
        checks.append(Check("network", "ingress-path", True, f"{ctx.traffic_source} may reach the pods on {port}"))
    else:
        checks.append(
            Check(
                "network",
                "ingress-path",
                False,
                f"no policy admits {ctx.traffic_source} on port {port}",
                f"the {ctx.layer}'s requests are dropped (502/504 through it)",
                np_cmd,
            )
        )
    if not egress_isolated or dns_out:
        checks.append(Check("network", "dns-egress", True, "DNS (UDP/53) allowed"))
    else:
        checks.append(
            Check(
                "network",
                "dns-egress",
                False,
                "egress is isolated and DNS (UDP/53) is not allowed",
                "the pods cannot resolve any host name, the database's included: default-deny egress drops DNS "
                "unless a rule allows it",
                np_cmd,
            )
        )
    return checks
