"""The convergence check after a fault: each way program, state and cluster can disagree is named, by object."""

from __future__ import annotations

from typing import Any

import pytest

from e2e.inventory import Key, kinds, ours, pending_operations, problems, state_key

NS = "wal-service-dev"


def obj(kind: str, name: str, namespace: str = NS, api: str = "v1", **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api, "kind": kind, "metadata": meta}


def resource(type_: str, id_: str, urn_name: str = "") -> dict[str, Any]:
    name = urn_name or id_.rsplit("/", 1)[-1]
    return {"urn": f"urn:pulumi:dev::wal-service::{type_}::{name}", "type": type_, "custom": True, "id": id_}


RENDERED = [
    obj("Namespace", NS, namespace=""),
    obj("Deployment", "wal-service", api="apps/v1"),
    obj("ConfigMap", "wal-service-config"),
]
STATE_RESOURCES = [
    {"urn": "urn:pulumi:dev::wal-service::pulumi:pulumi:Stack::wal-service-dev", "type": "pulumi:pulumi:Stack"},
    {"urn": "urn:pulumi:dev::wal-service::pulumi:providers:kubernetes::p", "type": "pulumi:providers:kubernetes",
     "custom": True, "id": "abc"},
    resource("command:local:Command", "host-claim-check-123", "wal-dev-host-claim-check"),
    resource("kubernetes:core/v1:Namespace", NS),
    resource("kubernetes:apps/v1:Deployment", f"{NS}/wal-service"),
    resource("kubernetes:core/v1:ConfigMap", f"{NS}/wal-service-config"),
]  # fmt: skip
LIVE = [*RENDERED, obj("ServiceAccount", "default"), obj("ConfigMap", "kube-root-ca.crt")]


def state(resources: list[dict[str, Any]], pending: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"deployment": {"resources": resources, "pending_operations": pending or []}}


def test_agreement_and_the_objects_the_api_server_makes_itself_give_no_problem() -> None:
    assert problems(RENDERED, LIVE, state(STATE_RESOURCES)) == []


def test_state_keys_come_from_the_type_and_id_and_skip_what_is_not_a_kubernetes_object() -> None:
    keys = [state_key(r) for r in STATE_RESOURCES]
    assert keys == [
        None,
        None,
        None,
        Key("", "Namespace", "", NS),
        Key("apps", "Deployment", NS, "wal-service"),
        Key("", "ConfigMap", NS, "wal-service-config"),
    ]


@pytest.mark.parametrize(
    ("live", "resources", "expected"),
    [
        (
            [o for o in LIVE if o["kind"] != "Deployment"],
            STATE_RESOURCES,
            [
                f"Deployment.apps {NS}/wal-service: rendered, missing from the cluster",
                f"Deployment.apps {NS}/wal-service: in the state, missing from the cluster",
            ],
        ),
        (
            [*LIVE, obj("ConfigMap", "wal-service-config-x1y2")],
            STATE_RESOURCES,
            [f"ConfigMap {NS}/wal-service-config-x1y2: in the cluster, not in the program (orphan or duplicate)"],
        ),
        (
            [*LIVE, obj("Secret", "leftover", namespace="elsewhere", **{"app.kubernetes.io/part-of": "wal-service"})],
            STATE_RESOURCES,
            ["Secret elsewhere/leftover: in the cluster, not in the program (orphan or duplicate)"],
        ),
        (
            LIVE,
            [r for r in STATE_RESOURCES if r.get("id") != f"{NS}/wal-service"],
            [f"Deployment.apps {NS}/wal-service: in the cluster, not in the state"],
        ),
        (
            LIVE,
            [*STATE_RESOURCES, resource("kubernetes:core/v1:ConfigMap", f"{NS}/old-config")],
            [
                f"ConfigMap {NS}/old-config: in the state, missing from the cluster",
                f"ConfigMap {NS}/old-config: in the state, not in the program",
            ],
        ),
        (
            LIVE,
            [*STATE_RESOURCES, STATE_RESOURCES[-1]],
            ["urn:pulumi:dev::wal-service::kubernetes:core/v1:ConfigMap::wal-service-config: URN twice in the state"],
        ),
    ],
    ids=["missing", "orphan", "labelled-elsewhere", "unmanaged", "stale-state", "duplicate-urn"],
)
def test_each_disagreement_is_one_line_naming_the_object(
    live: list[dict[str, Any]], resources: list[dict[str, Any]], expected: list[str]
) -> None:
    assert problems(RENDERED, live, state(resources)) == expected


def test_a_labelled_object_outside_the_namespaces_is_ours_and_a_foreign_one_is_not() -> None:
    assert ours(obj("Namespace", "wal-service-x", namespace="", **{"app.kubernetes.io/part-of": "wal-service"}), [NS])
    assert not ours(obj("Namespace", "nginx-gateway", namespace=""), [NS])
    assert not ours(obj("ServiceAccount", "default"), [NS])


def test_kinds_lists_each_kind_once_from_render_and_state() -> None:
    extra = [*STATE_RESOURCES, resource("kubernetes:networking.k8s.io/v1:NetworkPolicy", f"{NS}/deny")]
    assert [k.resource for k in kinds(RENDERED, state(extra))] == [
        "ConfigMap",
        "Namespace",
        "Deployment.apps",
        "NetworkPolicy.networking.k8s.io",
    ]


def test_pending_operations_name_the_operation_and_the_resource() -> None:
    pending = [{"type": "creating", "resource": {"urn": STATE_RESOURCES[4]["urn"]}}]
    assert pending_operations(state(STATE_RESOURCES, pending)) == ["creating wal-service"]
    assert pending_operations({"deployment": {}}) == []
