"""`make status`: the stack's outputs and one screen about its namespace.

python -m ops.status --stack dev
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from components.labels import APP_NAME
from components.routes import HTTP_ROUTE_NAME, INGRESS_NAME
from components.settings import Settings
from ops import diagnose as d
from ops import stack as stack_mod
from ops.kube import TIMEOUT, api_client, get_or_none
from ops.proc import cli


def pod_rows(pods: Sequence[Any]) -> list[str]:
    """NAME READY STATUS RESTARTS IMAGE, like `kubectl get pods` with the image."""
    rows = [f"{'POD':<40} {'READY':<6} {'STATUS':<18} {'RESTARTS':<8} IMAGE"]
    for pod in pods:
        statuses = pod.status.container_statuses or []
        ready = sum(1 for s in statuses if s.ready)
        waiting = next((s.state.waiting.reason for s in statuses if s.state and s.state.waiting), None)
        state = waiting or pod.status.phase or "?"
        image = ",".join(c.image.rsplit("/", 1)[-1][:40] for c in pod.spec.containers)
        rows.append(f"{pod.metadata.name:<40} {ready}/{len(statuses):<4} {state:<18} {d.restarts(pod):<8} {image}")
    return rows


def route_rows(settings: Settings, api: Any, namespace: str) -> list[str]:
    """The Gateway's state and address and our HTTPRoute's acceptance, or the Ingress address."""
    from kubernetes import client

    if settings.routing != "gateway":
        ingress = get_or_none(client.NetworkingV1Api(api).read_namespaced_ingress, INGRESS_NAME, namespace)
        return [f"{'ingress':<12} {', '.join(d.ingress_addresses(ingress)) or 'no address'}"]
    custom = client.CustomObjectsApi(api)
    gateway = get_or_none(
        custom.get_namespaced_custom_object,
        d.GATEWAY_GROUP,
        d.GATEWAY_VERSION,
        settings.gateway_namespace,
        "gateways",
        settings.gateway_name,
    )
    route = get_or_none(
        custom.get_namespaced_custom_object,
        d.GATEWAY_GROUP,
        d.GATEWAY_VERSION,
        namespace,
        "httproutes",
        HTTP_ROUTE_NAME,
    )
    ctx = d.Ctx(
        stack=settings.stack,
        context="",
        namespace=namespace,
        host=settings.host,
        routing="gateway",
        gateway_namespace=settings.gateway_namespace,
        gateway_name=settings.gateway_name,
    )
    return [
        f"{'gateway':<12} {d.check_gateway(gateway, ctx).detail}",
        f"{'route':<12} {d.check_route(route, ctx).detail}",
    ]


@cli
def main(argv: list[str] | None = None) -> int:
    from kubernetes import client

    parser = argparse.ArgumentParser(description="Show a stack's outputs and its namespace at a glance.")
    parser.add_argument("--stack", default="dev")
    args = parser.parse_args(argv)
    settings = stack_mod.load(args.stack)
    outputs = stack_mod.outputs(args.stack, stack_mod.pulumi_env(args.stack))
    for key in ("url", "namespace", "kubeContext", "image", "imageDigest", "revision"):
        print(f"{key:<12} {outputs.get(key, '')}")
    print(f"{'reach it':<12} {stack_mod.resolve_hint(settings)[-1]}")
    api = api_client(settings, str(outputs["kubeContext"]))
    ns = str(outputs["namespace"])
    deployment = get_or_none(client.AppsV1Api(api).read_namespaced_deployment, APP_NAME, ns)
    if deployment is not None:
        st = deployment.status
        print(f"deployment   {st.ready_replicas or 0}/{st.replicas or 0} ready, {st.updated_replicas or 0} up to date")
    pods: list[Any] = client.CoreV1Api(api).list_namespaced_pod(ns, _request_timeout=TIMEOUT).items
    print("\n".join(pod_rows(pods)))
    print("\n".join(route_rows(settings, api, ns)))
    debug = outputs.get("debugCommands")
    if isinstance(debug, dict):
        print("debug        " + json.dumps(debug, indent=1, sort_keys=True).replace("\n", "\n             "))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(None))
