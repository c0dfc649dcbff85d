"""The objects this program owns: Pulumi puts back whatever another writer changed in the fields it sets.

`kubectl scale`, `kubectl edit` or `kubectl patch` take over the fields they change (server-side apply
managedFields), so the next apply by Pulumi fails with a field conflict instead of restoring them; seen on
the real engine: `pulumi up --refresh` after `kubectl scale` stopped at "conflict with "kubectl" with
subresource "scale" ... .spec.replicas". This annotation makes the Kubernetes provider force its apply
(pulumi/pulumi-kubernetes provider/pkg/await/await.go, patchForce), so drift is reported as a diff by
`pulumi preview --refresh` and undone by `pulumi up --refresh`.
https://www.pulumi.com/registry/packages/kubernetes/how-to-guides/managing-resources-with-server-side-apply/
"""

from __future__ import annotations

from collections.abc import Mapping

PATCH_FORCE = "pulumi.com/patchForce"


def owned(annotations: Mapping[str, str] | None = None) -> dict[str, str]:
    """An object's annotations, plus the one that makes Pulumi's apply win over other writers."""
    return {**(annotations or {}), PATCH_FORCE: "true"}
