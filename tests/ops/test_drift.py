"""make drift: one line per drifted resource from `pulumi preview --refresh --json`.

fixtures/preview-drift.json is the real engine's output (Pulumi CLI v3.274.1, the e2e toolchain's Kubernetes
provider) after `kubectl scale` to 3 replicas, a `kubectl patch` of the ConfigMap's LOG_LEVEL, a `kubectl label`
of the Service and the TCP 53 port removed from the DNS egress policy, trimmed to those steps and fields.
`make e2e` runs the same against a live API server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ops import drift

FIXTURE = Path(__file__).parent / "fixtures" / "preview-drift.json"


@pytest.fixture
def preview() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text())
    return data


def test_one_line_per_drifted_resource_with_live_and_program_values(preview: dict[str, Any]) -> None:
    lines = drift.drift_lines(preview)
    assert len(lines) == 4, lines
    assert "drift Deployment wal-service-dev/wal-service: changed: spec.replicas 3 (live) -> 1 (program)" in lines
    assert (
        'drift ConfigMap wal-service-dev/wal-service-config: changed: data.LOG_LEVEL "error" (live) -> "debug" '
        "(program)" in lines
    )
    assert (
        'drift Service wal-service-dev/wal-service: changed: metadata.labels["app.kubernetes.io/component"] '
        '"hacked" (live) -> "api" (program)' in lines
    )
    (dns,) = [line for line in lines if "allow-dns-egress" in line]
    assert 'spec.egress[0].ports[1] (absent) (live) -> {"port":53,"protocol":"TCP"} (program)' in dns


def test_report_exits_1_on_drift_and_names_the_fix(preview: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert drift.report(preview, "dev") == 1
    out = capsys.readouterr().out
    assert "4 resource(s) differ" in out and "pulumi up --refresh --stack dev" in out


def test_no_drift_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    clean = {"steps": [{"op": "refresh", "urn": "u1"}, {"op": "same", "urn": "u1"}], "changeSummary": {"same": 1}}
    assert drift.report(clean, "dev") == 0
    assert "no drift" in capsys.readouterr().out


def test_a_failed_preview_is_not_reported_as_clean(capsys: pytest.CaptureFixture[str]) -> None:
    failed = {
        "steps": [{"op": "same", "urn": "u1"}],
        "diagnostics": [{"severity": "error", "message": "Server-Side Apply field conflict detected\nmore"}],
    }
    assert drift.report(failed, "dev") == 2
    err = capsys.readouterr().err
    assert "error: Server-Side Apply field conflict detected" in err and "incomplete" in err


def test_a_deleted_object_and_a_replacement_are_one_line_each() -> None:
    urn = "urn:pulumi:dev::wal-service::wal:platform:ServiceWorkload$kubernetes:core/v1:ConfigMap::wal-dev-config"
    state = {"type": "kubernetes:core/v1:ConfigMap", "id": "wal-service-dev/wal-service-config"}
    steps = [
        {"op": "create", "urn": urn.replace("ConfigMap::wal-dev-config", "Service::wal-dev-service"), "newState": {}},
        {"op": "create-replacement", "urn": urn, "oldState": state, "detailedDiff": {"data": {"kind": "update"}}},
        {"op": "replace", "urn": urn, "oldState": state, "detailedDiff": {"data": {"kind": "update"}}},
        {"op": "delete-replaced", "urn": urn, "oldState": state},
    ]
    lines = drift.drift_lines({"steps": steps})
    assert len(lines) == 2, lines
    assert lines[0] == "drift Service wal-dev-service: missing from the cluster"
    assert lines[1].startswith("drift ConfigMap wal-service-dev/wal-service-config: changed; replacing it: data ")


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("spec.replicas", ["spec", "replicas"]),
        ("spec.egress[0].ports[1]", ["spec", "egress", 0, "ports", 1]),
        ('metadata.labels["app.kubernetes.io/name"]', ["metadata", "labels", "app.kubernetes.io/name"]),
        ('data["a\\"b"]', ["data", 'a"b']),
    ],
)
def test_property_paths(path: str, parts: list[str | int]) -> None:
    assert drift.parse_path(path) == parts


def test_json_file_mode_reads_what_ci_saved(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert drift.main(["--stack", "dev", "--json", str(FIXTURE)]) == 1
    assert sum(line.startswith("drift ") for line in capsys.readouterr().out.splitlines()) == 4
    broken = tmp_path / "broken.json"
    broken.write_text("not json")
    assert drift.main(["--stack", "dev", "--json", str(broken)]) == 2
    assert "cannot read a preview" in capsys.readouterr().err


def test_a_value_is_shown_the_same_whatever_order_its_keys_came_in() -> None:
    """The live object and the program list a map's keys in their own order: a drift line must not show a
    difference that is only an order, nor hide one behind it."""
    from ops.drift import show

    assert show({"memory": "256Mi", "cpu": "250m"}) == show({"cpu": "250m", "memory": "256Mi"})
    assert show({"memory": "256Mi", "cpu": "250m"}) == '{"cpu":"250m","memory":"256Mi"}'
