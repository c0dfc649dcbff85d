"""The render-vs-live comparison: what it must flag and what the API server may change without a difference."""

from __future__ import annotations

from typing import Any

from e2e.compare import differences


def deployment(**container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "wal-service", "namespace": "ns", "labels": {"app": "wal"}},
        "spec": {"template": {"spec": {"containers": [{"name": "api", **container}]}}},
    }


def test_identical_objects_have_no_differences() -> None:
    obj = deployment(image="r/wal@sha256:" + "a" * 64)
    assert differences(obj, obj) == []


def test_server_defaults_and_status_are_not_differences() -> None:
    live = deployment(image="x", imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/termination-log")
    live["status"] = {"replicas": 1}
    live["spec"]["revisionHistoryLimit"] = 10
    assert differences(deployment(image="x"), live) == []


def test_a_changed_scalar_is_named_by_its_path() -> None:
    assert differences(deployment(image="new"), deployment(image="old")) == [
        "spec.template.spec.containers[0].image: want 'new', live has 'old'"
    ]


def test_a_field_the_server_dropped_is_a_difference() -> None:
    live = deployment(image="x")
    del live["metadata"]["labels"]
    assert differences(deployment(image="x"), live) == ["metadata.labels: missing in the live object"]


def test_list_length_must_match() -> None:
    want = deployment(image="x", args=["--a", "--b"])
    have = deployment(image="x", args=["--a"])
    assert differences(want, have) == ["spec.template.spec.containers[0].args: want 2 items, live has ['--a']"]


def test_canonical_quantities_are_equal_but_other_values_are_not() -> None:
    want = deployment(image="x", resources={"limits": {"cpu": "0.5", "memory": "512Mi"}})
    same = deployment(image="x", resources={"limits": {"cpu": "500m", "memory": "512Mi"}})
    other = deployment(image="x", resources={"limits": {"cpu": "400m", "memory": "512Mi"}})
    assert differences(want, same) == []
    assert differences(want, other) == [
        "spec.template.spec.containers[0].resources.limits.cpu: want '0.5', live has '400m'"
    ]


def test_empty_maps_the_server_drops_are_not_differences() -> None:
    want = deployment(image="x", securityContext={})
    assert differences(want, deployment(image="x")) == []


def test_secret_data_is_skipped_but_its_type_is_compared() -> None:
    want = {"kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque", "stringData": {"password": "[secret]"}}
    live = {
        "kind": "Secret",
        "metadata": {"name": "s"},
        "type": "kubernetes.io/basic-auth",
        "data": {"password": "eA=="},
    }
    assert differences(want, live) == ["type: want 'Opaque', live has 'kubernetes.io/basic-auth'"]


def test_secret_checksums_are_not_compared_but_config_checksums_are() -> None:
    """The render's secrets are placeholders, so its digest of them cannot match; a config digest can."""

    def annotated(**annotations: str) -> dict[str, Any]:
        obj = deployment(image="x")
        obj["spec"]["template"]["metadata"] = {"annotations": annotations}
        return obj

    rendered = annotated(**{"checksum/config": "c1", "checksum/secrets": "s1"})
    assert differences(rendered, annotated(**{"checksum/config": "c1", "checksum/secrets": "s2"})) == []
    assert differences(rendered, annotated(**{"checksum/config": "c2", "checksum/secrets": "s1"})) == [
        "spec.template.metadata.annotations.checksum/config: want 'c1', live has 'c2'"
    ]
