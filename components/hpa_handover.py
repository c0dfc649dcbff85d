"""HpaHandover: when autoscaling goes off, delete the HorizontalPodAutoscaler before the Deployment takes
`spec.replicas` back.

The engine deletes resources the program no longer declares only after every create and update
(pulumi `pkg/resource/deploy/step_generator.go`: deletes are scheduled last). In between, the HPA sees
the Deployment below its minReplicas and scales it back up, leaving more pods than `replicas` and no
PodDisruptionBudget; `make e2e` hit that on every run. The Deployment depends on this command, so the
HPA is gone first; the engine's own delete later finds nothing to delete, which the provider accepts.
Registered in both modes and replaced whenever the mode changes (its trigger), so every switch to off
runs it, even after an `up` that failed halfway; with autoscaling on it does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_command import local

from components.host_claim import KUBECTL_TARGET, KubectlTarget

DELETE_SCRIPT = (
    KUBECTL_TARGET
    + """\
if [ "$AUTOSCALING" = true ]; then
  echo "autoscaling is on: the HorizontalPodAutoscaler stays"
  exit 0
fi
if ! kubectl "$@" --namespace "$NAMESPACE" delete horizontalpodautoscalers.autoscaling "$HPA" --ignore-not-found --wait
then
  echo "autoscaling is off, but the HorizontalPodAutoscaler $NAMESPACE/$HPA could not be deleted, so the\
 Deployment was left unchanged. Fix: make the cluster reachable; check with: $kubectl_cmd get hpa -n $NAMESPACE" >&2
  exit 1
fi
"""
)


@dataclass(frozen=True)
class HpaHandoverArgs:
    namespace: pulumi.Input[str]
    """Namespace of the Deployment and its HPA."""
    name: str
    """Name of the HPA (the Deployment's name)."""
    autoscaling: bool
    """The stack's mode: the command deletes the HPA only when this is False."""
    cluster: KubectlTarget
    """Where the HPA is deleted."""


class HpaHandover(pulumi.ComponentResource):
    result: pulumi.Output[str]

    def __init__(self, name: str, args: HpaHandoverArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:HpaHandover", name, None, opts)
        delete = local.Command(
            f"{name}-delete-hpa",
            create=DELETE_SCRIPT,
            environment={
                "NAMESPACE": args.namespace,
                "HPA": args.name,
                "AUTOSCALING": "true" if args.autoscaling else "false",
                **args.cluster.environment(),
            },
            triggers=[args.autoscaling],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.result = delete.stdout
        self.register_outputs({"result": self.result})
