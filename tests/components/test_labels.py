"""Labels: every object of every stack is labelled by what it belongs to, with a version only where it is its own."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import K8sObject, StackRun


# What an object belongs to decides its labels: (app.kubernetes.io/name, component, carries a version).
NAMESPACE_WIDE = ("wal-service", "namespace", False)
OWNERS: dict[str, tuple[str, str, bool]] = {
    "AppNamespace": NAMESPACE_WIDE,
    "ImagePullSecret": NAMESPACE_WIDE,
    "NamespaceQuota": NAMESPACE_WIDE,
    "ServiceWorkload": ("wal-service", "api", True),
    # The API's keys change on their own schedule (rotation), not with a release.
    "ApiKeys": ("wal-service", "api", False),
    "Database": ("postgresql", "database", True),
    "LocalRegistry": ("registry", "registry", False),
    "ServiceGateway": ("wal-service", "gateway", False),
}
# The namespace-wide policies the workload component creates: every pod of the namespace, not the API's.
NAMESPACE_POLICIES = {"default-deny", "allow-dns-egress"}


def owner(obj: K8sObject) -> tuple[str, str, bool]:
    if obj.kind == "NetworkPolicy" and obj.metadata.get("name") in NAMESPACE_POLICIES:
        return NAMESPACE_WIDE
    component = obj.parent_type.rsplit(":", 1)[-1]
    if component == "Database" and obj.kind == "Secret":
        return ("postgresql", "database", False)  # the password outlives any PostgreSQL image
    assert component in OWNERS, f"{obj}: registered by {component}, which has no label rule here"
    return OWNERS[component]


def test_every_object_is_labelled_by_what_it_belongs_to(run: StackRun) -> None:
    objects = run.objects()
    assert len(objects) >= 10, f"stack {run.stack}: only {len(objects)} objects"
    for obj in objects:
        assert obj.metadata.get("name"), f"{obj}: no explicit metadata.name (it would be auto-named)"
        labels = obj.metadata.get("labels") or {}
        name, component, versioned = owner(obj)
        assert labels.get("app.kubernetes.io/name") == name, f"{obj}: name label {labels}"
        assert labels.get("app.kubernetes.io/component") == component, f"{obj}: component label {labels}"
        assert labels.get("app.kubernetes.io/part-of") == "wal-service", f"{obj}: part-of label {labels}"
        assert labels.get("app.kubernetes.io/managed-by") == "pulumi", f"{obj}: managed-by label {labels}"
        assert labels.get("app.kubernetes.io/instance"), f"{obj}: no instance label"
        # A version only where it is the object's own: objects that do not change with a release carry none,
        # so a new image touches only the workload (and the database only with its own image).
        assert bool(labels.get("app.kubernetes.io/version")) == versioned, f"{obj}: version label {labels}"
        if component == "api" and versioned:
            assert labels["app.kubernetes.io/version"] == run.outputs["revision"], f"{obj}: not the revision"
        if name == "wal-service":
            assert labels["app.kubernetes.io/instance"] == f"wal-service-{run.stack}", f"{obj}: instance label"
