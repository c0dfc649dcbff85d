"""The Gateway API side of the e2e cluster: the pinned CRDs, and a stand-in for the controller's status writer.

The CRDs are those the program installs on kind (e2e/upstream_files.py: from the pinned Go module, through the
program's own checked fetch). The real API server then validates our Gateway and HTTPRoute against them, CEL rules
included. kwok runs no data plane, so the harness writes the status a controller would: the GatewayClass and Gateway
accepted and programmed with an address, each route accepted by its parent when the parent exists and admits it,
its refs resolved when the Services exist.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from components.gateway_controller import CONTROLLER_NAME
from e2e.controlplane import ControlPlane

GATEWAY_ADDRESS = "127.0.0.1"


def install(cluster: ControlPlane, files: Sequence[Path]) -> None:
    """Apply the standard channel and wait until the API server serves the kinds."""
    # Server-side, as the Gateway API install guide says: the HTTPRoute CRD is too large for the
    # last-applied annotation of a client-side apply.
    cluster.kubectl("apply", "--server-side", *(arg for path in files for arg in ("-f", str(path))))
    names = [
        f"crd/{doc['metadata']['name']}"
        for path in files
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "CustomResourceDefinition"
    ]
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)


def condition(kind: str, generation: int, status: str = "True", reason: str = "") -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason or kind,
        "message": "set by the e2e harness standing in for the controller",
        "observedGeneration": generation,
        "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def namespace_admitted(
    allowed: Mapping[str, Any], gateway_ns: str, route_ns: str, ns_labels: Mapping[str, str]
) -> bool:
    """A listener's allowedRoutes.namespaces (Same by default; All; Selector with matchLabels)."""
    namespaces = allowed.get("namespaces") or {}
    source = namespaces.get("from", "Same")
    if source == "All":
        return True
    if source == "Same":
        return route_ns == gateway_ns
    wanted = (namespaces.get("selector") or {}).get("matchLabels") or {}
    return source == "Selector" and all(ns_labels.get(k) == v for k, v in wanted.items())


def hostnames_meet(listener: Mapping[str, Any], route: Mapping[str, Any]) -> bool:
    """Exact hostnames only: the program never uses wildcards."""
    host = listener.get("hostname")
    names = route.get("spec", {}).get("hostnames") or []
    return not host or not names or host in names


def route_parent_status(
    route: Mapping[str, Any],
    ref: Mapping[str, Any],
    gateway: Mapping[str, Any] | None,
    ns_labels: Mapping[str, str],
    services: set[str],
) -> dict[str, Any]:
    """The status.parents entry the controller would write for one parentRef."""
    generation = int(route["metadata"].get("generation", 1))
    route_ns = route["metadata"]["namespace"]
    accepted = condition("Accepted", generation)
    if gateway is None:
        accepted = condition("Accepted", generation, "False", "NoMatchingParent")
    else:
        gateway_ns = gateway["metadata"]["namespace"]
        listeners = [
            lst
            for lst in gateway["spec"].get("listeners", [])
            if ref.get("sectionName") in (None, lst["name"])
            and namespace_admitted(lst.get("allowedRoutes") or {}, gateway_ns, route_ns, ns_labels)
        ]
        if not listeners:
            accepted = condition("Accepted", generation, "False", "NotAllowedByListeners")
        elif not any(hostnames_meet(lst, route) for lst in listeners):
            accepted = condition("Accepted", generation, "False", "NoMatchingListenerHostname")
    backends = [
        b
        for rule in route["spec"].get("rules", [])
        for b in rule.get("backendRefs", [])
        if b.get("kind", "Service") == "Service"
    ]
    resolved = all(f"{b.get('namespace', route_ns)}/{b['name']}" in services for b in backends)
    return {
        "parentRef": dict(ref),
        "controllerName": CONTROLLER_NAME,
        "conditions": [
            accepted,
            condition(
                "ResolvedRefs", generation, "True" if resolved else "False", "" if resolved else "BackendNotFound"
            ),
        ],
    }


def stale(obj: Mapping[str, Any], conditions: list[Mapping[str, Any]]) -> bool:
    generation = obj["metadata"].get("generation", 1)
    return not conditions or any(c.get("observedGeneration") != generation for c in conditions)


class GatewayControllerStandIn(threading.Thread):
    """Writes the status a Gateway API controller for `gateway_class` would, once a second."""

    def __init__(self, cluster: ControlPlane, gateway_class: str) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.gateway_class = gateway_class
        self.stopped = threading.Event()

    def items(self, resource: str) -> list[Any]:
        proc = self.cluster.kubectl("get", resource, "-A", "-o", "json", check=False)
        return list(json.loads(proc.stdout).get("items", [])) if proc.returncode == 0 else []

    def patch_status(self, resource: str, obj: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        meta = obj["metadata"]
        args = [
            "patch",
            resource,
            meta["name"],
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": status}),
        ]
        if meta.get("namespace"):
            args += ["-n", meta["namespace"]]
        self.cluster.kubectl(*args, check=False)

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            self.reconcile()

    def reconcile(self) -> None:
        for gc in self.items("gatewayclasses.gateway.networking.k8s.io"):
            if gc["spec"].get("controllerName") == CONTROLLER_NAME and stale(
                gc, gc.get("status", {}).get("conditions", [])
            ):
                gen = int(gc["metadata"].get("generation", 1))
                self.patch_status(
                    "gatewayclasses.gateway.networking.k8s.io", gc, {"conditions": [condition("Accepted", gen)]}
                )
        gateways = {
            f"{g['metadata']['namespace']}/{g['metadata']['name']}": g
            for g in self.items("gateways.gateway.networking.k8s.io")
            if g["spec"].get("gatewayClassName") == self.gateway_class
        }
        for gw in gateways.values():
            if stale(gw, gw.get("status", {}).get("conditions", [])):
                gen = int(gw["metadata"].get("generation", 1))
                status = {
                    "addresses": [{"type": "IPAddress", "value": GATEWAY_ADDRESS}],
                    "conditions": [condition("Accepted", gen), condition("Programmed", gen)],
                }
                self.patch_status("gateways.gateway.networking.k8s.io", gw, status)
        namespaces = {n["metadata"]["name"]: n["metadata"].get("labels", {}) for n in self.items("namespaces")}
        services = {f"{s['metadata']['namespace']}/{s['metadata']['name']}" for s in self.items("services")}
        for route in self.items("httproutes.gateway.networking.k8s.io"):
            route_ns = route["metadata"]["namespace"]
            ours = [r for r in route["spec"].get("parentRefs", []) if r.get("kind", "Gateway") == "Gateway"]
            parents = [
                route_parent_status(
                    route,
                    ref,
                    gateways.get(f"{ref.get('namespace', route_ns)}/{ref['name']}"),
                    namespaces.get(route_ns, {}),
                    services,
                )
                for ref in ours
            ]
            current = [c for p in route.get("status", {}).get("parents", []) for c in p.get("conditions", [])]
            if parents and (stale(route, current) or current_outcome(route) != outcome(parents)):
                self.patch_status("httproutes.gateway.networking.k8s.io", route, {"parents": parents})


def outcome(parents: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    return [(c["type"], c["status"], c["reason"]) for p in parents for c in p["conditions"]]


def current_outcome(route: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    return outcome(route.get("status", {}).get("parents", []))


def platform_objects(gateway_class: str, namespace: str) -> list[dict[str, Any]]:
    """What a cluster's platform team installs with its controller: its namespace and GatewayClass."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": gateway_class},
            "spec": {"controllerName": CONTROLLER_NAME},
        },
    ]
