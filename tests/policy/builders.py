"""Hand-built resources for the policy tests: compliant by default, each builder takes what a test changes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from policy.guardrails.common import Report, StackCheck
from tests.policy.engine import Resource

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
HTTPROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
DIGEST = "registry.example.com/app@sha256:" + "a" * 64
LABELS = {"app.kubernetes.io/name": "app", "app.kubernetes.io/instance": "app-dev"}


def urn(type_: str, name: str, stack: str = "dev") -> str:
    return f"urn:pulumi:{stack}::wal-service::{type_}::{name}"


def probe(path: str = "/health") -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": 2}


def container(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "app",
        "image": DIGEST,
        "startupProbe": probe(),
        "readinessProbe": probe("/ready"),
        "livenessProbe": probe(),
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
            "limits": {"cpu": "1", "memory": "256Mi", "ephemeral-storage": "128Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    base.update(overrides)
    return base


def deployment(
    name: str = "app",
    namespace: str = "app",
    *,
    replicas: int | None = 1,
    containers: list[dict[str, Any]] | None = None,
    stack: str = "dev",
    **spec: Any,
) -> Resource:
    pod = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": containers if containers is not None else [container()],
        **spec,
    }
    props: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": LABELS},
        "spec": {
            "selector": {"matchLabels": LABELS},
            "template": {"metadata": {"labels": LABELS}, "spec": pod},
        },
    }
    if replicas is not None:
        props["spec"]["replicas"] = replicas
    return Resource(DEPLOYMENT, f"{name}-deployment", urn(DEPLOYMENT, f"{name}-deployment", stack), props)


def network_policies(namespace: str = "app", *, dns_ports: tuple[str, ...] = ("UDP", "TCP")) -> list[Resource]:
    deny = {
        "metadata": {"name": "default-deny", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    dns = {
        "metadata": {"name": "allow-dns", "namespace": namespace},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": p, "port": 53} for p in dns_ports],
                }
            ],
        },
    }
    return [
        Resource(NETPOL, f"{namespace}-deny", urn(NETPOL, f"{namespace}-deny"), deny),
        Resource(NETPOL, f"{namespace}-dns", urn(NETPOL, f"{namespace}-dns"), dns),
    ]


def ingress(name: str, host: str | None = "app.example.com", annotations: dict[str, str] | None = None) -> Resource:
    rule: dict[str, Any] = {"http": {"paths": [{"path": "/", "pathType": "Prefix"}]}}
    if host is not None:
        rule["host"] = host
    props = {
        "metadata": {"name": name, "namespace": "app", "annotations": annotations or {}},
        "spec": {"rules": [rule]},
    }
    return Resource(INGRESS, name, urn(INGRESS, name), props)


def httproute(name: str, hostnames: list[str] | None = None) -> Resource:
    """A route as the program declares it: hostnames, PathPrefix / to the Service, no filters."""
    rule: dict[str, Any] = {
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
        "backendRefs": [{"name": "app", "port": 8080}],
    }
    spec: dict[str, Any] = {"parentRefs": [{"name": "gw", "namespace": "edge"}], "rules": [rule]}
    if hostnames is None:
        spec["hostnames"] = ["app.example.com"]
    elif hostnames:
        spec["hostnames"] = hostnames
    return Resource(
        HTTPROUTE, name, urn(HTTPROUTE, name), {"metadata": {"name": name, "namespace": "app"}, "spec": spec}
    )


def hpa(target: str = "app", minimum: int | None = 2, namespace: str = "app") -> Resource:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "maxReplicas": 4,
    }
    if minimum is not None:
        spec["minReplicas"] = minimum
    return Resource(
        HPA, f"{target}-hpa", urn(HPA, f"{target}-hpa"), {"metadata": {"namespace": namespace}, "spec": spec}
    )


def pdb(labels: dict[str, str] | None = None, namespace: str = "app") -> Resource:
    props = {
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels if labels is not None else LABELS}},
    }
    return Resource(PDB, "app-pdb", urn(PDB, "app-pdb"), props)


def findings(check: Callable[[str, Any, Report], None], resource: Resource) -> list[str]:
    found: list[str] = []
    check(resource.resource_type, resource.props, found.append)
    return found


def stack_findings(check: StackCheck, resources: list[Resource]) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None) -> None:
        found.append((message, urn))

    check(resources, report)
    return found


def with_pod(resource: Resource, mutate: Callable[[dict[str, Any]], object]) -> Resource:
    props = copy.deepcopy(resource.props)
    mutate(props["spec"]["template"]["spec"])
    return Resource(resource.resource_type, resource.name, resource.urn, props)
