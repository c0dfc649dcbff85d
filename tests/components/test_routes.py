"""The route: one HTTPRoute on our Gateway or one Ingress, one host, `/` to the Service unchanged."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tests.components.workload_objects import WORKLOAD

if TYPE_CHECKING:
    from conftest import MockRuns, StackRun


def test_route(run: StackRun, config: dict[str, str]) -> None:
    """gateway routing: one HTTPRoute, one hostname, PathPrefix / to the Service, no filters; no Ingress."""
    if config["routing"] != "gateway":
        assert run.maybe("HTTPRoute", WORKLOAD) is None, f"stack {run.stack}: an HTTPRoute in ingress mode"
        return
    assert run.maybe("Ingress", WORKLOAD) is None, f"stack {run.stack}: an Ingress in gateway mode"
    route = run.one("HTTPRoute", WORKLOAD)
    assert route.body["apiVersion"] == "gateway.networking.k8s.io/v1", f"{route}: apiVersion"
    assert route.spec["hostnames"] == [config["host"]], f"{route}: hostnames"
    parent = {"namespace": config["gatewayNamespace"], "name": config["gatewayName"]}
    assert [{k: r.get(k) for k in parent} for r in route.spec["parentRefs"]] == [parent], f"{route}: parentRefs"
    service = run.one("Service", WORKLOAD)
    assert route.spec["rules"] == [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "backendRefs": [{"name": service.metadata["name"], "port": 8080}],
        }
    ], f"{route}: rules (no filters, no rewrite)"
    assert service.spec["ports"][0]["port"] == 8080, f"{service}: the route's backend port"
    wait_for = json.loads(route.metadata["annotations"]["pulumi.com/waitFor"])
    # Each condition is read from our Gateway's status entry, never from whichever parent is listed first.
    ours = f'[?(@.parentRef.name=="{parent["name"]}" && @.parentRef.namespace=="{parent["namespace"]}")]'
    assert sorted(wait_for) == sorted(
        f'jsonpath={{.status.parents{ours}.conditions[?(@.type=="{condition}")].status}}=True'
        for condition in ("Accepted", "ResolvedRefs")
    ), f"{route}: up must await acceptance by our Gateway: {wait_for}"


def test_ingress(run: StackRun, config: dict[str, str]) -> None:
    if config["routing"] != "ingress":
        return
    ingress = run.one("Ingress", WORKLOAD)
    spec = ingress.spec
    assert spec.get("ingressClassName") == config["ingressClassName"], f"{ingress}: ingressClassName"
    rules = spec.get("rules", [])
    assert [r.get("host") for r in rules] == [config["host"]], f"{ingress}: hosts {rules}"
    paths = rules[0]["http"]["paths"]
    assert [(p["path"], p["pathType"]) for p in paths] == [("/", "Prefix")], f"{ingress}: paths {paths}"
    backend = paths[0]["backend"]["service"]
    assert backend == {"name": run.one("Service", WORKLOAD).metadata["name"], "port": {"name": "http"}}, (
        f"{ingress}: backend {backend}"
    )
    annotations = ingress.metadata.get("annotations") or {}
    assert not [key for key in annotations if key.endswith(("/rewrite-target", "/use-regex"))], (
        f"{ingress}: path-rewriting annotations {annotations}"
    )
    if config["tlsSecretName"]:
        assert spec.get("tls") == [{"hosts": [config["host"]], "secretName": config["tlsSecretName"]}], (
            f"{ingress}: tls {spec.get('tls')}"
        )
    else:
        assert not spec.get("tls"), f"{ingress}: tls without a tlsSecretName"


def test_production_serves_tls(mockruns: MockRuns) -> None:
    prod = mockruns.get("prod")
    ingress = prod.one("Ingress", WORKLOAD)
    assert ingress.spec.get("tls"), f"{ingress}: production Ingress without TLS"
    assert prod.outputs["url"].startswith("https://"), f"stack prod: url {prod.outputs['url']}"
