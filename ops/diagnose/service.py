"""Layer 2, service: the Service selects the Deployment's pods and its EndpointSlices list the Ready ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.labels import APP_NAME
from ops.diagnose.checks import Check, Ctx, is_ready


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
            f"no Service {APP_NAME}",
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
            f"{ctx.kubectl} get endpointslices -l kubernetes.io/service-name={APP_NAME}",
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
