"""HostClaimCheck: refuse a host that another Ingress or HTTPRoute in the cluster already serves.

Two routes for one host in one cluster send that host's requests to whichever the controller
prefers. This runs against the live cluster right before our route is created. The stack's own
objects are recognised by its instance label, not by namespace: after a namespace rename the old
route still exists when the check runs, and it is ours. In gateway mode it also checks what the
route needs: the Gateway API CRDs and the GatewayClass (or the shared Gateway). Commands do not run
during `pulumi preview`, so a preview of a cluster that does not exist yet skips it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_command import local

from components.labels import INSTANCE_LABEL

# Leaves the kubectl arguments that reach the stack's cluster in "$@" (see KubectlTarget.environment).
KUBECTL_TARGET = """\
set -eu
set -- --context "$KUBE_CONTEXT"
# What the fix lines tell a person to run: the stack's kubeconfig file, if it has one, and its context.
kubectl_cmd="kubectl ${KUBECONFIG_PATH:+--kubeconfig $KUBECONFIG_PATH }--context $KUBE_CONTEXT"
if [ -n "${KUBECONFIG_DATA:-}" ]; then
  config=$(mktemp)
  trap 'rm -f "$config"' EXIT
  printf '%s\\n' "$KUBECONFIG_DATA" > "$config"
  set -- "$@" --kubeconfig "$config"
elif [ -n "${KUBECONFIG_PATH:-}" ]; then
  set -- "$@" --kubeconfig "$KUBECONFIG_PATH"
fi
"""
CHECK_SCRIPT = (
    KUBECTL_TARGET
    + """\
kinds=ingresses.networking.k8s.io
# HTTPRoutes exist once the Gateway API CRDs are installed; discovery fails on an unreachable cluster.
gateway_api=$(kubectl "$@" api-resources --api-group=gateway.networking.k8s.io -o name)
if printf '%s\\n' "$gateway_api" | grep -qx 'httproutes.gateway.networking.k8s.io'; then
  kinds="$kinds,httproutes.gateway.networking.k8s.io"
elif [ "$ROUTING" = gateway ]; then
  echo "wal-service:routing is gateway but this cluster has no Gateway API CRDs" \\
    "(no httproutes.gateway.networking.k8s.io)." >&2
  echo "Fix: $kubectl_cmd apply --server-side -f" \\
    "https://github.com/kubernetes-sigs/gateway-api/releases/download/$GATEWAY_API_VERSION/standard-install.yaml" \\
    "(and a Gateway API controller), or set wal-service:routing to ingress." >&2
  exit 1
fi
if [ "$ROUTING" = gateway ] && [ -n "$GATEWAY_CLASS" ]; then
  kubectl "$@" get gatewayclasses.gateway.networking.k8s.io "$GATEWAY_CLASS" -o name >/dev/null || {
    echo "GatewayClass $GATEWAY_CLASS does not exist, so no controller would program our Gateway." >&2
    echo "Fix: set wal-service:gatewayClassName to one of: $kubectl_cmd get gatewayclasses" >&2
    exit 1
  }
elif [ "$ROUTING" = gateway ]; then
  kubectl "$@" -n "$GATEWAY_NAMESPACE" get gateways.gateway.networking.k8s.io "$GATEWAY_NAME" -o name >/dev/null || {
    echo "Gateway $GATEWAY_NAMESPACE/$GATEWAY_NAME does not exist, so our HTTPRoute would attach to nothing." >&2
    echo "Fix: set wal-service:gatewayNamespace and wal-service:gatewayName to a Gateway listed by:" \\
      "$kubectl_cmd get gateways -A" >&2
    exit 1
  }
fi
# One line per route: kind<TAB>namespace/name<TAB>instance label<TAB>host host ...
template='{range .items[*]}{.kind}{"\\t"}{.metadata.namespace}/{.metadata.name}{"\\t"}'
template="$template"'{.metadata.labels."""
    # kubectl's JSONPath escapes the dots of a label key.
    + INSTANCE_LABEL.replace(".", "\\.")
    + """}{"\\t"}'
template="$template"'{range .spec.hostnames[*]}{@}{" "}{end}{range .spec.rules[*]}{.host}{" "}{end}{"\\n"}{end}'
claims=$(kubectl "$@" get "$kinds" --all-namespaces -o "jsonpath=$template")
conflicts=$(printf '%s\\n' "$claims" | awk -F '\\t' -v host="$HOST" -v instance="$INSTANCE" '
  $1 != "" && $3 != instance {
    n = split($4, hosts, " ")
    for (i = 1; i <= n; i++) if (tolower(hosts[i]) == tolower(host)) { print $1 " " $2; break }
  }')
if [ -n "$conflicts" ]; then
  echo "host $HOST is already claimed by $(echo "$conflicts" | paste -sd, -), which this stack" \\
    "($INSTANCE) did not create; two routes for one host route its requests unpredictably." >&2
  echo "Fix: delete that object, or set wal-service:host to a host nothing else in the cluster serves." >&2
  exit 1
fi
echo "host $HOST is free"
"""
)


@dataclass(frozen=True)
class KubectlTarget:
    """The stack's cluster, as the platform's kubectl commands reach it (through KUBECTL_TARGET)."""

    kube_context: pulumi.Input[str]
    """kubectl context of the target cluster."""
    kubeconfig: pulumi.Input[str] | None
    """kind: the kubeconfig contents (a secret); existing clusters: None (kubeconfig_path or kubectl's rules)."""
    kubeconfig_path: str = ""
    """The stack's kubeconfig file (Settings.kubeconfig_file): kind's own, or the configured one; empty for
    kubectl's rules. Named in the fix lines; the commands prefer `kubeconfig` when given."""

    def environment(self) -> dict[str, pulumi.Input[str]]:
        """What KUBECTL_TARGET reads: the context, and the kubeconfig as contents or a path."""
        environment: dict[str, pulumi.Input[str]] = {
            "KUBE_CONTEXT": self.kube_context,
            "KUBECONFIG_PATH": self.kubeconfig_path,
        }
        if self.kubeconfig is not None:
            environment["KUBECONFIG_DATA"] = self.kubeconfig
        return environment


@dataclass(frozen=True)
class HostClaimCheckArgs:
    host: str
    """The host we are about to claim."""
    instance: str
    """app.kubernetes.io/instance of the stack's objects: a route carrying it is ours, whatever its namespace."""
    routing: str
    """gateway (an HTTPRoute; the CRDs and the parent must exist) or ingress."""
    cluster: KubectlTarget
    """Where the check looks."""
    gateway_class: str = ""
    """gateway mode: the class of the Gateway this stack creates; empty when it attaches to a shared Gateway."""
    gateway_namespace: str = ""
    """gateway mode: namespace of the Gateway the route attaches to."""
    gateway_name: str = ""
    """gateway mode: name of the Gateway the route attaches to."""
    gateway_api_version: str = ""
    """The Gateway API release the install hint names."""
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """What must exist before the check looks (a kind stack's CRDs and controller)."""


class HostClaimCheck(pulumi.ComponentResource):
    result: pulumi.Output[str]

    def __init__(self, name: str, args: HostClaimCheckArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:HostClaimCheck", name, None, opts)
        environment: dict[str, pulumi.Input[str]] = {
            "HOST": args.host,
            "INSTANCE": args.instance,
            "ROUTING": args.routing,
            "GATEWAY_CLASS": args.gateway_class,
            "GATEWAY_NAMESPACE": args.gateway_namespace,
            "GATEWAY_NAME": args.gateway_name,
            "GATEWAY_API_VERSION": args.gateway_api_version,
            **args.cluster.environment(),
        }
        check = local.Command(
            f"{name}-check",
            create=CHECK_SCRIPT,
            environment=environment,
            # Not the namespace: renaming it must not re-run a check that would only find our own old route.
            triggers=[
                args.host,
                args.routing,
                args.cluster.kube_context,
                args.gateway_class,
                args.gateway_namespace,
                args.gateway_name,
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)),
        )
        self.result = check.stdout
        self.register_outputs({"result": self.result})
