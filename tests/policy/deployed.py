"""What a stack policy sees once a stack is deployed: live objects, not the program's inputs.

The engine hands stack policies each resource's outputs ("AnalyzeStack is called on the final outputs of
each resource", pulumi pkg/resource/deploy/step_generator.go, AnalyzeResources); only a preview of new
resources passes outputs equal to inputs. A Kubernetes resource's outputs are the object the API server
returned: defaults filled in (a Deployment without spec.replicas holds replicas: 1), server-owned metadata,
status, and metadata.managedFields, where pulumi-kubernetes' server-side apply shows up as one `Apply` entry
listing the fields the program set. `live_object` turns rendered inputs into that shape;
`fixtures/deployed-outputs.json` holds outputs recorded from the real engine and API server (`make e2e`),
and tests/policy/test_deployed.py checks the simulation against them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).parent / "fixtures" / "deployed-outputs.json"
# pulumi-kubernetes names its field manager pulumi-kubernetes-<8 hex> (provider/pkg/provider/provider.go).
FIELD_MANAGER = "pulumi-kubernetes-0e2e0e2e"
# Fields the API server owns: placeholders here, never compared.
SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields")
_REPLICATED = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")


def fields_v1(value: Any) -> dict[str, Any]:
    """The server-side-apply field set of an applied object: `f:<key>` per map key. Lists are recorded as
    one field (atomic), which is all a policy reads here; the server keys associative lists by `k:{...}`."""
    if not isinstance(value, dict):
        return {}
    return {f"f:{key}": fields_v1(item) for key, item in value.items()}


def live_object(resource_type: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The object the API server holds after pulumi-kubernetes applied `inputs` (other resources as they are)."""
    obj = copy.deepcopy(inputs)
    if not resource_type.startswith("kubernetes:") or resource_type.startswith("kubernetes:helm.sh/"):
        return obj
    applied = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind", "status")}
    meta = obj.setdefault("metadata", {})
    meta.update(
        uid="00000000-0000-0000-0000-000000000000",
        resourceVersion="1",
        creationTimestamp="2026-01-01T00:00:00Z",
        generation=1,
        managedFields=[
            {
                "manager": FIELD_MANAGER,
                "operation": "Apply",
                "apiVersion": obj.get("apiVersion", ""),
                "fieldsType": "FieldsV1",
                "fieldsV1": fields_v1(applied),
            }
        ],
    )
    spec = obj.get("spec")
    if resource_type in _REPLICATED and isinstance(spec, dict):
        spec.setdefault("replicas", 1)  # apps/v1 defaulting (pkg/apis/apps/v1/defaults.go)
    obj["status"] = {}
    return obj


def recorded() -> list[dict[str, Any]]:
    """The recorded resources: type, name, urn, the inputs the program sent and the outputs the engine kept."""
    data: dict[str, Any] = json.loads(FIXTURE.read_text())
    resources: list[dict[str, Any]] = data["resources"]
    return resources
