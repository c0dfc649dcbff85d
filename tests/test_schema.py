"""Every rendered object validates strictly: built-in kinds against the official Kubernetes 1.37 OpenAPI schema,
Gateway API kinds against the CRDs the stack installs (tests/schemas.py)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import kubernetes_validate
import pytest

from tests import schemas
from tools.render import kubernetes_objects

if TYPE_CHECKING:
    from conftest import MockRuns, StackRun


def builtin_group(api_version: str) -> bool:
    """Core and *.k8s.io groups ship with Kubernetes: a missing schema for them is a bug, not a CRD."""
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def validate(obj: dict[str, Any]) -> None:
    schemas.validate(obj)


def describe(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')} {obj.get('metadata', {}).get('namespace', '')}/{obj.get('metadata', {}).get('name')}"


def test_objects_validate_strictly(run: StackRun) -> None:
    objects = kubernetes_objects(run.record)
    assert len(objects) >= 10, f"stack {run.stack}: only {len(objects)} objects rendered"
    for obj in objects:
        try:
            validate(obj)
        except kubernetes_validate.SchemaNotFoundError as exc:
            if builtin_group(obj["apiVersion"]):
                pytest.fail(f"stack {run.stack}: {describe(obj)}: no 1.37 schema for built-in {exc.api_version}")
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"stack {run.stack}: {describe(obj)} is invalid at {path}: {exc.message}")


def test_validator_rejects_a_mutated_deployment(mockruns: MockRuns) -> None:
    """Proof the check can fail: an unknown field and a wrong type are both caught."""
    deployments = [o for o in kubernetes_objects(mockruns.get("dev").record) if o["kind"] == "Deployment"]
    assert deployments, "stack dev rendered no Deployment"
    validate(deployments[0])
    unknown = copy.deepcopy(deployments[0])
    unknown["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(unknown)
    wrong_type = copy.deepcopy(deployments[0])
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(wrong_type)


def test_missing_builtin_schema_is_an_error() -> None:
    """A built-in kind that does not exist must not pass silently (the CLI only warns)."""
    bogus = {"apiVersion": "apps/v1", "kind": "Deploymentt", "metadata": {"name": "x"}}
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        validate(bogus)
    assert builtin_group("apps/v1") and builtin_group("v1") and builtin_group("networking.k8s.io/v1")
    assert not builtin_group("cert-manager.io/v1")


def test_gateway_api_objects_are_validated_against_the_installed_crds(mockruns: MockRuns) -> None:
    """The Gateway and HTTPRoute are checked, and strictly: an unknown field and a wrong enum fail."""
    objects = {
        o["kind"]: o for o in kubernetes_objects(mockruns.get("dev").record) if schemas.from_crd(o["apiVersion"])
    }
    assert {"Gateway", "HTTPRoute"} <= objects.keys(), f"stack dev rendered {sorted(objects)}"
    for obj in objects.values():
        validate(obj)
    unknown = copy.deepcopy(objects["HTTPRoute"])
    unknown["spec"]["rules"][0]["backendRef"] = unknown["spec"]["rules"][0].pop("backendRefs")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(unknown)
    wrong_enum = copy.deepcopy(objects["Gateway"])
    wrong_enum["spec"]["listeners"][0]["allowedRoutes"]["namespaces"]["from"] = "Everywhere"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(wrong_enum)
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        validate({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "TCPRoutee", "metadata": {"name": "x"}})
