"""The stack's objects three ways: what the program renders, what the state records, what the cluster holds.

After a fault, field-by-field equality with `make render` (e2e/compare.py) is not enough: an interrupted or
doubled `pulumi up` can also leave an object nobody declares (an orphan, or a second copy under another name),
drop one, or keep a resource in the state that the cluster no longer has. `problems` names each such object
by kind, namespace and name. Nothing here runs a command: the harness gathers the three sides.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

PART_OF = "app.kubernetes.io/part-of"
# What the API server makes in every namespace by itself.
SERVER_MADE = frozenset({("", "ServiceAccount", "default"), ("", "ConfigMap", "kube-root-ca.crt")})


class Key(NamedTuple):
    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.resource} {self.namespace + '/' if self.namespace else ''}{self.name}"

    @property
    def resource(self) -> str:
        """What kubectl takes to list this kind: `Deployment.apps`, `Namespace`."""
        return f"{self.kind}.{self.group}" if self.group else self.kind


def key_of(obj: Mapping[str, Any]) -> Key:
    """A Kubernetes object (rendered or live) as its identity."""
    api_version = str(obj["apiVersion"])
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    meta = obj.get("metadata") or {}
    return Key(group, str(obj["kind"]), str(meta.get("namespace") or ""), str(meta["name"]))


def state_key(resource: Mapping[str, Any]) -> Key | None:
    """A Kubernetes resource of `pulumi stack export` as its identity, from its type token and id (the id is
    `namespace/name` or `name`; outputs are not used, since a Secret's may be encrypted); None for anything
    else (providers, components, commands)."""
    type_ = str(resource.get("type", ""))
    if not type_.startswith("kubernetes:") or not resource.get("custom") or not resource.get("id"):
        return None
    _, group_version, kind = type_.split(":", 2)
    group = group_version.split("/", 1)[0]
    namespace, _, name = str(resource["id"]).rpartition("/")
    return Key("" if group == "core" else group, kind, namespace, name)


def ours(obj: Mapping[str, Any], namespaces: Iterable[str]) -> bool:
    """A live object the stack may have made: in one of its namespaces (but not one the API server makes there by
    itself), or labelled part of wal-service."""
    key = key_of(obj)
    if (key.group, key.kind, key.name) in SERVER_MADE:
        return False
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return key.namespace in set(namespaces) or labels.get(PART_OF) == "wal-service"


def problems(
    rendered: Sequence[Mapping[str, Any]], live: Sequence[Mapping[str, Any]], state: Mapping[str, Any]
) -> list[str]:
    """One line per object that is missing, left over, doubled, or known to only one of program, state, cluster.

    `live` holds every object the cluster has of the kinds that `rendered` and the state name (all namespaces);
    `state` is `pulumi stack export`."""
    resources = state.get("deployment", {}).get("resources") or []
    out = [f"{urn}: URN twice in the state" for urn, n in Counter(r["urn"] for r in resources).items() if n > 1]
    want = {key_of(o) for o in rendered}
    namespaces = {k.namespace for k in want if k.namespace}
    have = {key_of(o) for o in live if key_of(o) in want or ours(o, namespaces)}
    recorded = {k for k in map(state_key, resources) if k is not None}
    out += [f"{k}: rendered, missing from the cluster" for k in sorted(want - have)]
    out += [f"{k}: in the cluster, not in the program (orphan or duplicate)" for k in sorted(have - want)]
    out += [f"{k}: in the state, missing from the cluster" for k in sorted(recorded - have)]
    out += [f"{k}: in the cluster, not in the state" for k in sorted((have & want) - recorded)]
    out += [f"{k}: in the state, not in the program" for k in sorted(recorded - want)]
    return out


def kinds(rendered: Sequence[Mapping[str, Any]], state: Mapping[str, Any]) -> list[Key]:
    """One key per kind to list live (name and namespace empty)."""
    keys = [key_of(o) for o in rendered]
    keys += [k for k in map(state_key, state.get("deployment", {}).get("resources") or []) if k is not None]
    return sorted({Key(k.group, k.kind, "", "") for k in keys})


def pending_operations(state: Mapping[str, Any]) -> list[str]:
    """`pending_operations` of `pulumi stack export`, as `creating Deployment::wal-dev-...` (what the engine was
    doing when it stopped without finishing)."""
    found = state.get("deployment", {}).get("pending_operations") or []
    return [f"{op.get('type', '?')} {op['resource']['urn'].rsplit('::', 1)[-1]}" for op in found]
