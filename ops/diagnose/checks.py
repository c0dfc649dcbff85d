"""What every layer of the diagnosis shares: the Gateway API group and version it reads, the stack's Ctx, the Check it
returns, and the pod and selector helpers more than one layer (and ops/verify.py) needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.gateway import GATEWAY_API
from components.labels import GATEWAY_NAME_LABEL, instance_name

# The layers import the names of what verify reads (APP_NAME, CONTAINER_NAME, INGRESS_NAME, ...) from the
# components that declare them; tests/ops/diagnose/test_checks.py checks them against the objects the program
# creates.
GATEWAY_GROUP, GATEWAY_VERSION = GATEWAY_API.split("/")


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
    """The command that writes the nodes' registry hosts.toml again (the stack's recoveryCommands output)."""
    kubectl_base: str = ""
    """kubectl aimed at the stack's cluster (Settings.kubectl); empty means `kubectl --context <context>`."""

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
        return instance_name(self.stack)

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


def is_ready(pod: Any) -> bool:
    conditions = (pod.status.conditions if pod.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def restarts(pod: Any) -> int:
    return sum(cs.restart_count or 0 for cs in (pod.status.container_statuses or [])) if pod.status else 0


def check_http(layer: str, name: str, target: str, ok: bool, summary: str, cause: str, next_cmd: str) -> Check:
    """One GET through a layer: the Service (a port-forward to a pod) or the route."""
    if ok:
        return Check(layer, name, True, f"GET {target}: {summary}")
    return Check(layer, name, False, f"GET {target}: {summary}", cause, next_cmd)
