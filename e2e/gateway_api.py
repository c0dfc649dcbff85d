"""The Gateway API side of the e2e cluster: the pinned CRD bundle, and a stand-in for the controller's status writer.

The CRDs come from the Go module sigs.k8s.io/gateway-api at the version the program pins, through the
module under e2e/gatewayapi/ whose committed go.sum is the integrity check (the toolchain's cache key
covers e2e/toolchain/ only, so this costs no rebuild). The real API server then validates our Gateway and
HTTPRoute against those CRDs, CEL rules included. kwok runs no data plane, so the harness writes the
status a controller would: the GatewayClass and Gateway accepted and programmed with an address, each
route accepted by its parent when the parent exists and admits it, its refs resolved when the Services exist.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from components.gateway_controller import CONTROLLER_NAME, GATEWAY_API_BUNDLE, GATEWAY_API_VERSION
from e2e.controlplane import ControlPlane

ROOT = Path(__file__).resolve().parent.parent
GO_MODULE = ROOT / "e2e" / "gatewayapi"
MODULE = "sigs.k8s.io/gateway-api"
GATEWAY_ADDRESS = "127.0.0.1"


class BundleError(Exception):
    """The pinned bundle could not be fetched or differs from the one the program installs."""


def module_dir() -> Path:
    """The module's directory in the Go module cache, downloaded and checked against e2e/gatewayapi/go.sum."""
    env = {**os.environ, "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local"}
    proc = subprocess.run(
        ["go", "mod", "download", "-json", MODULE], cwd=GO_MODULE, env=env, capture_output=True, text=True, check=False
    )
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or info.get("Error"):
        raise BundleError(f"go mod download {MODULE} failed: {info.get('Error') or proc.stderr.strip()}")
    if info.get("Version") != GATEWAY_API_VERSION:
        raise BundleError(
            f"e2e/gatewayapi/go.mod pins {MODULE} {info.get('Version')}, the program installs {GATEWAY_API_VERSION}"
        )
    return Path(info["Dir"])


def bundle_differences(module: Path) -> list[str]:
    """Where crds/gateway-api/standard/ differs from the module's config/crd/standard/ (file names and bytes)."""
    upstream = {p.name: p.read_bytes() for p in (module / "config" / "crd" / "standard").glob("*.yaml")}
    ours = {p.name: p.read_bytes() for p in GATEWAY_API_BUNDLE.glob("*.yaml")}
    vendored = GATEWAY_API_BUNDLE.relative_to(ROOT)
    problems = [f"{name}: missing from {vendored}" for name in sorted(upstream.keys() - ours.keys())]
    problems += [f"{name}: in {vendored} but not upstream" for name in sorted(ours.keys() - upstream.keys())]
    problems += [
        f"{name}: bytes differ" for name in sorted(upstream.keys() & ours.keys()) if upstream[name] != ours[name]
    ]
    return problems


def install(cluster: ControlPlane, module: Path) -> None:
    """Apply the module's standard channel and wait until the API server serves the kinds."""
    bundle = module / "config" / "crd" / "standard"
    # Server-side, as the Gateway API install guide says: the HTTPRoute CRD is too large for the
    # last-applied annotation of a client-side apply.
    cluster.kubectl("apply", "--server-side", "-f", str(bundle))
    names = [
        f"crd/{doc['metadata']['name']}"
        for path in sorted(bundle.glob("*.yaml"))
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
