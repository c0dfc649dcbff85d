"""Verify a deployed stack layer by layer, outside in: pods, service, route (Gateway or Ingress), DNS, network.

    python -m ops.verify --stack dev

Reads the stack outputs (kubeContext, namespace), talks to the API with the Kubernetes client,
and prints PASS/FAIL per check with the cause and the next command. Exit 1 when any check fails.
Through the route it also checks the API keys: an append without a key must get 401, a read with
the stack's apiToken output (or WAL_API_TOKEN, for a stack that generates none) must get 200.
"""

from __future__ import annotations

import argparse
from typing import Any

from components.app_config import HTTP_PORT
from components.labels import APP_NAME, GATEWAY_NAME_LABEL
from components.pod_spec import CONTAINER_NAME
from components.routes import HTTP_ROUTE_NAME, INGRESS_NAME
from ops import diagnose as d
from ops import stack as stack_mod
from ops.httpcheck import http_get, http_request
from ops.kube import TIMEOUT, api_client, get_or_none
from ops.preflight import resolve
from ops.proc import UserError, cli

PORT_FORWARD_TIMEOUT = 10.0


def _port_forward_get(core: Any, pod: str, namespace: str, path: str) -> tuple[bool, str, str]:
    """GET path on the pod's HTTP port through the API server's port-forward."""
    from kubernetes.stream import portforward

    from ops.httpcheck import http_get as get

    try:
        forward = portforward(core.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(HTTP_PORT))
    except Exception as exc:  # noqa: BLE001 - any failure to open the stream is one diagnosis
        return False, f"port-forward failed: {exc}", "the API server could not open a stream to the pod"
    try:
        result = get(
            f"http://127.0.0.1:{HTTP_PORT}{path}", timeout=PORT_FORWARD_TIMEOUT, sock=forward.socket(HTTP_PORT)
        )
    finally:
        forward.close()
    return result.ok, result.summary, result.cause


def run_checks(stack: str) -> list[d.Check]:
    from kubernetes import client

    settings = stack_mod.load(stack)
    outputs = stack_mod.outputs(stack, stack_mod.pulumi_env(stack))
    context = str(outputs.get("kubeContext") or settings.kube_context)
    ctx = d.Ctx(
        stack=stack,
        context=context,
        namespace=str(outputs["namespace"]),
        host=settings.host,
        health_path=settings.health_path,
        ingress_namespace=settings.ingress_controller_namespace,
        cluster=settings.kind_cluster_name if settings.cluster_mode == "kind" else "",
        registry_name=settings.registry_name if settings.registry_mode == "local" else "",
        registry_port=settings.registry_port,
        routing=settings.routing,
        gateway_namespace=settings.gateway_namespace,
        gateway_name=settings.gateway_name,
        kubectl_base=settings.kubectl,
        rewrite_hosts=str((outputs.get("recoveryCommands") or {}).get("rewriteNodeHosts", "")),
    )
    api = api_client(settings, context)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    net, discovery = client.NetworkingV1Api(api), client.DiscoveryV1Api(api)
    ns = ctx.namespace
    checks: list[d.Check] = []

    # 1. pods
    deployment = get_or_none(apps.read_namespaced_deployment, APP_NAME, ns)
    all_pods: list[Any] = core.list_namespaced_pod(ns, _request_timeout=TIMEOUT).items
    selector = deployment.spec.selector if deployment is not None else None
    pods = [p for p in all_pods if selector is not None and d.selector_matches(selector, p.metadata.labels)]
    events = core.list_namespaced_event(ns, _request_timeout=TIMEOUT).items
    logs: dict[str, str] = {}
    for pod in pods:
        if d.restarts(pod) and not d.is_ready(pod):
            logs[pod.metadata.name] = (
                get_or_none(
                    core.read_namespaced_pod_log,
                    pod.metadata.name,
                    ns,
                    container=CONTAINER_NAME,
                    previous=True,
                    tail_lines=20,
                )
                or ""
            )
    checks.append(d.check_rollout(deployment, ctx))
    checks.extend(d.check_pods(pods, events, logs, ctx))

    # 2. service
    service = get_or_none(core.read_namespaced_service, APP_NAME, ns)
    slices = discovery.list_namespaced_endpoint_slice(
        ns, label_selector=f"kubernetes.io/service-name={APP_NAME}", _request_timeout=TIMEOUT
    ).items
    endpoints = d.check_endpoints(service, slices, all_pods, ctx)
    checks.append(endpoints)
    ready_pods, _ = d.endpoint_pods(slices, APP_NAME)
    if ready_pods:
        target = sorted(ready_pods)[0]
        ok, summary, cause = _port_forward_get(core, target, ns, settings.health_path)
        checks.append(
            d.check_http(
                "service",
                "port-forward",
                f"pod/{target}:{HTTP_PORT}{settings.health_path}",
                ok,
                summary,
                cause,
                f"{ctx.kubectl} port-forward pod/{target} {HTTP_PORT}:{HTTP_PORT} & "
                f"curl -sv localhost:{HTTP_PORT}{settings.health_path}",
            )
        )

    # 3. route: the Gateway and our HTTPRoute, or the ingress controller and our Ingress
    all_ingresses = net.list_ingress_for_all_namespaces(_request_timeout=TIMEOUT).items
    if settings.routing == "gateway":
        custom = client.CustomObjectsApi(api)
        gateway = get_or_none(
            custom.get_namespaced_custom_object,
            d.GATEWAY_GROUP,
            d.GATEWAY_VERSION,
            settings.gateway_namespace,
            "gateways",
            settings.gateway_name,
        )
        checks.append(d.check_gateway(gateway, ctx))
        route = get_or_none(
            custom.get_namespaced_custom_object, d.GATEWAY_GROUP, d.GATEWAY_VERSION, ns, "httproutes", HTTP_ROUTE_NAME
        )
        checks.append(d.check_route(route, ctx))
        listed = get_or_none(custom.list_cluster_custom_object, d.GATEWAY_GROUP, d.GATEWAY_VERSION, "httproutes")
        checks.append(d.check_host_claims(all_ingresses, (listed or {}).get("items", []), ctx))
        addresses = d.gateway_addresses(gateway)
        route_logs = (
            f"{settings.kubectl} -n {settings.gateway_namespace} logs "
            f"-l {GATEWAY_NAME_LABEL}={settings.gateway_name} --tail=50"
        )
    else:
        controller_pods = core.list_namespaced_pod(
            settings.ingress_controller_namespace,
            label_selector="app.kubernetes.io/component=controller",
            _request_timeout=TIMEOUT,
        ).items
        checks.append(d.check_controller(controller_pods, ctx))
        ours = get_or_none(net.read_namespaced_ingress, INGRESS_NAME, ns)
        checks.append(d.check_ingress_address(ours, ctx))
        checks.append(d.check_host_claims(all_ingresses, [], ctx))
        addresses = d.ingress_addresses(ours)
        route_logs = (
            f"{settings.kubectl} -n {settings.ingress_controller_namespace} logs "
            "-l app.kubernetes.io/component=controller --tail=50"
        )
    local = settings.cluster_mode == "kind"
    entry = "127.0.0.1" if local else (addresses[0] if addresses else settings.host)
    port = settings.ingress_port
    scheme = "https" if settings.tls_secret_name else "http"
    url = f"{scheme}://{entry}:{port}{settings.health_path}"
    result = http_get(url, host_header=settings.host)
    checks.append(
        d.check_http(
            ctx.layer, "http", f"{url} (Host: {settings.host})", result.ok, result.summary, result.cause, route_logs
        )
    )
    # Through the same path: the world may not append, the stack's key may read.
    api = f"{scheme}://{entry}:{port}{d.PROBE_PATH}"
    anonymous = http_request(
        "POST", api, host_header=settings.host, headers={"Content-Type": "application/json"}, body=b""
    )
    checks.append(
        d.check_anonymous_append(api, anonymous.status, anonymous.summary, anonymous.cause, anonymous.detail, ctx)
    )
    token, source = stack_mod.api_token(stack, outputs, stack_mod.pulumi_env(stack))
    read = (
        http_request("GET", f"{api}?limit=1", host_header=settings.host, headers={"Authorization": f"Bearer {token}"})
        if token
        else None
    )
    checks.append(
        d.check_authenticated_read(
            f"{api}?limit=1",
            read.status if read else None,
            read.summary if read else "",
            read.cause if read else "",
            source,
            ctx,
        )
    )

    # 4. DNS
    checks.append(d.check_dns(resolve(settings.host), addresses, ctx, local))

    # 5. network
    policies = net.list_namespaced_network_policy(ns, _request_timeout=TIMEOUT).items
    labels: dict[str, str] = dict(pods[0].metadata.labels or {}) if pods else {}
    if not labels and selector is not None:
        labels = dict(selector.match_labels or {})
    checks.extend(d.check_network(policies, labels, ctx))
    return checks


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a deployed stack layer by layer.")
    parser.add_argument("--stack", default="dev")
    args = parser.parse_args(argv)
    try:
        checks = run_checks(args.stack)
    except ImportError as exc:
        raise UserError(f"missing Python package ({exc.name}); run: make venv") from None
    for check in checks:
        print(check.line())
    failed = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)}/{len(checks)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(None))
