"""Strict schema validation of rendered objects, for every kind the stacks declare.

Built-in kinds go to the official Kubernetes OpenAPI schema (kubernetes-validate, strict). Gateway API
kinds have no schema there: they are validated against the openAPIV3Schema of the CRDs the stack
installs (from the pinned Go module: e2e/upstream_files.py), made strict the way kubeconform's
openapi2jsonschema does it (objects with listed properties admit no others). CEL rules
(x-kubernetes-validations) are not evaluated here; the real API server evaluates them in `make e2e`.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from e2e.upstream_files import gateway_api_crds_files

VERSION = "1.37.0"
CRD_GROUPS = ("gateway.networking.k8s.io",)


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items()}
    open_ended = "additionalProperties" in out or out.get("x-kubernetes-preserve-unknown-fields")
    if out.get("type") == "object" and "properties" in out and not open_ended:
        out["additionalProperties"] = False
    return out


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict JSON schema, for every served version of every installed CRD."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in gateway_api_crds_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                if version.get("served"):
                    schemas[(f"{group}/{version['name']}", kind)] = _strict(version["schema"]["openAPIV3Schema"])
    return schemas


def from_crd(api_version: str) -> bool:
    return api_version.rpartition("/")[0] in CRD_GROUPS


def validate(obj: dict[str, Any]) -> None:
    """Raise kubernetes_validate.ValidationError (or SchemaNotFoundError) for an invalid object."""
    if not from_crd(obj["apiVersion"]):
        kubernetes_validate.validate(obj, VERSION, strict=True)
        return
    schema = crd_schemas().get((obj["apiVersion"], obj["kind"]))
    if schema is None:
        raise kubernetes_validate.SchemaNotFoundError(obj["kind"], VERSION, obj["apiVersion"])
    try:
        jsonschema.Draft202012Validator(schema).validate(obj)
    except jsonschema.ValidationError as exc:
        raise kubernetes_validate.ValidationError(exc, VERSION) from None
