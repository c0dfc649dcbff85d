"""Where a kind stack's NGINX Gateway Fabric chart comes from: ghcr.io, or a copy for an air-gapped machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.gateway_controller import CHART, CHART_VERSION
from components.stack_config import PROJECT
from tests.conftest import StackRun
from tools.render import assumed_secrets, run_stack


def release_chart(chart: str | None) -> tuple[str | None, str | None]:
    """The Release's chart input under mocks, and the run's error."""
    sets = assumed_secrets("dev")
    if chart is not None:
        sets = [*sets, f"{PROJECT}:gatewayChart={chart}"]
    result = run_stack("dev", sets=sets)
    releases = [
        r["inputs"]["chart"]
        for r in result["resources"]
        if r["type"] == "kubernetes:helm.sh/v3:Release" and r["name"].endswith("-gateway-controller-release")
    ]
    return (releases[0] if releases else None), result["error"]


def chart_dir(tmp_path: Path) -> Path:
    chart = tmp_path / "nginx-gateway-fabric"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: nginx-gateway-fabric\nversion: 2.6.5\n")
    return chart


def test_the_default_is_the_pinned_chart_from_its_repository(tmp_path: Path) -> None:
    assert release_chart(None) == (CHART, None)


@pytest.mark.parametrize("shape", ["directory", "archive", "mirror"])
def test_a_copy_or_a_mirror_is_installed_as_given(tmp_path: Path, shape: str) -> None:
    if shape == "directory":
        chart = str(chart_dir(tmp_path))
    elif shape == "archive":
        archive = tmp_path / "nginx-gateway-fabric-2.6.5.tgz"
        archive.write_bytes(b"\x1f\x8b")
        chart = str(archive)
    else:
        chart = "oci://registry.example.internal/charts/nginx-gateway-fabric"
    assert release_chart(chart) == (chart, None)


@pytest.mark.parametrize("kind", ["missing", "directory without Chart.yaml", "other file"])
def test_a_path_that_is_no_chart_is_refused_naming_the_key(tmp_path: Path, kind: str) -> None:
    if kind == "missing":
        chart = tmp_path / "nginx-gateway-fabric"
    elif kind == "directory without Chart.yaml":
        chart = chart_dir(tmp_path)
        (chart / "Chart.yaml").unlink()
    else:
        chart = tmp_path / "values.yaml"
        chart.write_text("nginx: {}\n")
    installed, error = release_chart(str(chart))
    assert installed is None, "nothing installed from a path that is not a chart"
    assert error is not None and f"wal-service:gatewayChart: {chart} is neither a chart directory" in error, error
    assert "Traceback" not in error


def test_the_controller_a_kind_stack_installs_serves_the_class_its_gateway_names(run: StackRun) -> None:
    """NGF programs only Gateways of the GatewayClass its chart was told to create: any other name leaves our
    Gateway unprogrammed and every request unrouted."""
    releases = [r for r in run.registrations if r["type"] == "kubernetes:helm.sh/v3:Release"]
    gateways = run.objects("Gateway")
    if run.stack == "prod":
        assert not any(r["name"].endswith("-gateway-controller-release") for r in releases), "prod brings its own"
        return
    (release,) = [r for r in releases if r["name"].endswith("-gateway-controller-release")]
    (gateway,) = gateways
    served = release["inputs"]["values"]["nginxGateway"]["gatewayClassName"]
    assert served and served == gateway.spec["gatewayClassName"]


def test_a_kind_stack_installs_the_pinned_chart_all_or_nothing_and_reports_nothing_home(run: StackRun) -> None:
    """The same chart version on every machine and every `up`; a failed install rolls back instead of leaving a
    half-installed controller; a local cluster sends the vendor no usage data."""
    if run.stack == "prod":
        return
    (release,) = [r for r in run.registrations if r["name"].endswith("-gateway-controller-release")]
    inputs = release["inputs"]
    assert (inputs["chart"], inputs["version"]) == (CHART, CHART_VERSION)
    assert (inputs["atomic"], inputs["cleanupOnFail"], inputs["waitForJobs"]) == (True, True, True)
    assert inputs["values"]["nginxGateway"]["productTelemetry"] == {"enable": False}
