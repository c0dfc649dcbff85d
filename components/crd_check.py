"""CrdCheck: stop before creating a custom resource whose CustomResourceDefinition the cluster lacks.

Without it, `pulumi up` fails deep inside the Kubernetes provider ("no matches for kind"), and
`pulumi preview` does not notice at all: it previews custom resources of unknown kinds as creates
(seen on the real engine). Like every command, this runs during `up` only, right before the resource.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_command import local

from components.host_claim import KUBECTL_TARGET, KubectlTarget

CHECK_SCRIPT = (
    KUBECTL_TARGET
    + """\
if ! kubectl "$@" get customresourcedefinition "$CRD" -o name >/dev/null 2>&1; then
  echo "the cluster has no CustomResourceDefinition $CRD, so a $KIND cannot be created. Fix: $FIX" >&2
  exit 1
fi
echo "$CRD is installed"
"""
)


@dataclass(frozen=True)
class CrdCheckArgs:
    crd: str
    """CustomResourceDefinition name, e.g. servicemonitors.monitoring.coreos.com."""
    kind: str
    """Kind it serves, for the message."""
    fix: str
    """What to do when it is missing (one sentence, with the commands)."""
    cluster: KubectlTarget
    """Where the check looks."""


class CrdCheck(pulumi.ComponentResource):
    result: pulumi.Output[str]

    def __init__(self, name: str, args: CrdCheckArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:CrdCheck", name, None, opts)
        check = local.Command(
            f"{name}-check",
            create=CHECK_SCRIPT,
            environment={
                "CRD": args.crd,
                "KIND": args.kind,
                "FIX": args.fix,
                **args.cluster.environment(),
            },
            triggers=[args.crd, args.cluster.kube_context],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.result = check.stdout
        self.register_outputs({"result": self.result})
