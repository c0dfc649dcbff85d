"""AppNamespace: one namespace per stack, locked to Pod Security Standards "restricted"."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import StackRun

EXPECTED = {"dev": "wal-service-dev", "staging": "wal-service-staging", "prod": "wal-service-prod"}


def test_namespace_name(run: StackRun) -> None:
    namespace = run.one("Namespace", "AppNamespace")
    assert namespace.metadata.get("name") == EXPECTED[run.stack], f"{namespace}: name {namespace.metadata}"
    assert "namespace" not in namespace.metadata, f"{namespace}: a Namespace is cluster-scoped"
    assert run.outputs["namespace"] == EXPECTED[run.stack], f"stack {run.stack}: output {run.outputs['namespace']}"


def test_pod_security_restricted_and_pinned(run: StackRun, config: dict[str, str]) -> None:
    namespace = run.one("Namespace", "AppNamespace")
    labels = namespace.metadata.get("labels") or {}
    version = f"v{config['kubernetesVersion']}"
    assert version == "v1.37", f"stack {run.stack}: kubernetesVersion {config['kubernetesVersion']}"
    for mode in ("enforce", "audit", "warn"):
        key = f"pod-security.kubernetes.io/{mode}"
        assert labels.get(key) == "restricted", f"{namespace}: {key}={labels.get(key)!r}"
        # Pinned, not latest: a cluster upgrade must not tighten admission under running pods.
        assert labels.get(f"{key}-version") == version, f"{namespace}: {key}-version={labels.get(key + '-version')!r}"


def test_every_namespaced_object_is_in_the_app_namespace_or_a_platform_one(run: StackRun) -> None:
    # Platform namespaces: kind's registry ConfigMap, and the Gateway's (whose data plane runs beside it).
    allowed = {EXPECTED[run.stack], "kube-public", "kube-system", "nginx-gateway"}
    for obj in run.objects():
        if obj.kind != "Namespace":
            assert obj.metadata.get("namespace") in allowed, f"{obj}: namespace {obj.metadata.get('namespace')!r}"
