"""HostClaimCheck: refuse an Ingress host that another namespace already serves.

Two Ingresses with one host in two namespaces route that host's requests unpredictably. This
runs against the live cluster right before our Ingress is created; commands do not run
during `pulumi preview`, so a preview of a cluster that does not exist yet skips it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_command import local

CHECK_SCRIPT = """\
set -eu
set -- --context "$KUBE_CONTEXT"
if [ -n "${KUBECONFIG_DATA:-}" ]; then
  config=$(mktemp)
  trap 'rm -f "$config"' EXIT
  printf '%s\\n' "$KUBECONFIG_DATA" > "$config"
  set -- "$@" --kubeconfig "$config"
elif [ -n "${KUBECONFIG_PATH:-}" ]; then
  set -- "$@" --kubeconfig "$KUBECONFIG_PATH"
fi
# One line per Ingress: namespace<TAB>name<TAB>host host ...
template='{range .items[*]}{.metadata.namespace}{"\\t"}{.metadata.name}{"\\t"}'
template="$template"'{range .spec.rules[*]}{.host}{" "}{end}{"\\n"}{end}'
claims=$(kubectl "$@" get ingress --all-namespaces -o "jsonpath=$template")
conflicts=$(printf '%s\\n' "$claims" | awk -F '\\t' -v host="$HOST" -v ns="$NAMESPACE" '
  $1 != "" && $1 != ns { n = split($3, hosts, " "); for (i = 1; i <= n; i++) if (hosts[i] == host) print $1 "/" $2 }')
if [ -n "$conflicts" ]; then
  echo "host $HOST is already claimed by Ingress $(echo "$conflicts" | tr '\\n' ' ')(our Ingress: $NAMESPACE)." >&2
  echo "Fix: remove that Ingress, or set wal-service:host to a host no other namespace serves." >&2
  exit 1
fi
echo "host $HOST is free"
"""


@dataclass(frozen=True)
class HostClaimCheckArgs:
    host: str
    """The Ingress host we are about to claim."""
    namespace: pulumi.Input[str]
    """Our namespace: its own Ingress for the host is not a conflict."""
    kube_context: pulumi.Input[str]
    """kubectl context of the target cluster."""
    kubeconfig: pulumi.Input[str] | None
    """kind: the kubeconfig contents (a secret); existing clusters: None (kubeconfig_path or the default)."""
    kubeconfig_path: str = ""
    """Existing clusters: the configured kubeconfig path, empty for kubectl's default."""


class HostClaimCheck(pulumi.ComponentResource):
    result: pulumi.Output[str]

    def __init__(self, name: str, args: HostClaimCheckArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:HostClaimCheck", name, None, opts)
        environment: dict[str, pulumi.Input[str]] = {
            "HOST": args.host,
            "NAMESPACE": args.namespace,
            "KUBE_CONTEXT": args.kube_context,
            "KUBECONFIG_PATH": args.kubeconfig_path,
        }
        if args.kubeconfig is not None:
            environment["KUBECONFIG_DATA"] = args.kubeconfig
        check = local.Command(
            f"{name}-check",
            create=CHECK_SCRIPT,
            environment=environment,
            triggers=[args.host, args.namespace, args.kube_context],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.result = check.stdout
        self.register_outputs({"result": self.result})
