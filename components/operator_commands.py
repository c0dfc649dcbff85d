"""The commands a stack hands its operator as outputs: `debugCommands`, layer by layer, and `recoveryCommands`,
for what `pulumi refresh` cannot see."""

from __future__ import annotations

import pulumi

from components.app_config import HTTP_PORT
from components.cluster import ClusterTarget
from components.labels import APP_NAME, GATEWAY_NAME_LABEL, INSTANCE_LABEL, instance_name
from components.registry import LocalRegistry
from components.routes import HTTP_ROUTE_NAME, INGRESS_NAME
from components.settings import Settings


def recovery_commands(
    stack: str, cluster: ClusterTarget, registry: LocalRegistry | None
) -> pulumi.Output[dict[str, str]]:
    """What rebuilds a lost kind cluster or a node's lost hosts.toml. `pulumi refresh` cannot: a local.Command
    has no Read, so only replacing the command that made the thing runs it again."""
    steps: dict[str, pulumi.Output[str]] = {}
    if cluster.kind is not None:
        steps["rebuildCluster"] = cluster.kind.owner.urn
    if registry is not None:
        steps["rewriteNodeHosts"] = registry.hosts_urn
    if not steps:
        return pulumi.Output.from_input({})
    return pulumi.Output.all(**steps).apply(
        lambda urns: {key: f"pulumi up --replace '{urn}' --stack {stack}" for key, urn in urns.items()}
    )


def debug_commands(s: Settings, namespace: str) -> dict[str, str]:
    """Debugging layer by layer (pods, service, route, DNS, network), filled in for this stack."""
    kubectl = f"{s.kubectl} -n {namespace}"
    selector = f"{INSTANCE_LABEL}={instance_name(s.stack)}"
    return {
        "1-pods": f"{kubectl} get pods -l {selector} -o wide && {kubectl} logs -l {selector} --tail=100",
        "2-service": (
            f"{kubectl} port-forward svc/{APP_NAME} {HTTP_PORT}:{HTTP_PORT} & sleep 2; "
            f"curl -fsS http://127.0.0.1:{HTTP_PORT}{s.health_path}"
        ),
        "3-route": route_debug(s, kubectl),
        "4-dns": f"getent hosts {s.host} || echo '127.0.0.1 {s.host}' needs to be in /etc/hosts",
        "5-network": f"{kubectl} get networkpolicy -o wide",
    }


def route_debug(s: Settings, kubectl: str) -> str:
    """The route, then what serves it: the Gateway and its data plane's logs, or the ingress controller's."""
    if s.routing == "gateway":
        gateway = f"{s.kubectl} -n {s.gateway_namespace}"
        return (
            f"{kubectl} describe httproute {HTTP_ROUTE_NAME} && {gateway} describe gateway {s.gateway_name} && "
            f"{gateway} logs -l {GATEWAY_NAME_LABEL}={s.gateway_name} --tail=100"
        )
    return (
        f"{kubectl} describe ingress {INGRESS_NAME} && {s.kubectl} "
        f"-n {s.ingress_controller_namespace} logs -l app.kubernetes.io/component=controller --tail=100"
    )
