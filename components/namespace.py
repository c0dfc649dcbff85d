"""AppNamespace: the stack's namespace, locked to Pod Security Standards "restricted"."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from components.ownership import owned


@dataclass(frozen=True)
class AppNamespaceArgs:
    name: str
    """Namespace name (DNS-1123 label), one per environment."""
    labels: dict[str, str]
    """Standard app.kubernetes.io labels."""
    kubernetes_version: str
    """Minor version (e.g. 1.37) the Pod Security Standards labels are pinned to."""
    retain_on_delete: bool = False
    """Leave the namespace in the cluster on `pulumi destroy` (it holds a retained database volume)."""


class AppNamespace(pulumi.ComponentResource):
    name: pulumi.Output[str]

    def __init__(self, name: str, args: AppNamespaceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:AppNamespace", name, None, opts)
        # Pinned, not "latest": a cluster upgrade must not tighten admission under running pods unannounced.
        pss = {
            f"pod-security.kubernetes.io/{mode}{suffix}": value
            for mode in ("enforce", "audit", "warn")
            for suffix, value in (("", "restricted"), ("-version", f"v{args.kubernetes_version}"))
        }
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=ObjectMetaArgs(name=args.name, labels={**args.labels, **pss}, annotations=owned()),
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=args.retain_on_delete or None),
        )
        self.name = namespace.metadata.name
        self.register_outputs({"name": self.name})
