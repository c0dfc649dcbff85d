"""What `make e2e` and the tests take from other projects, from their pinned Go modules: e2e/upstream/go.mod
pins them and its go.sum is the check (`go mod download` refuses a zip that does not match). Nothing is copied
into the repository; the toolchain's cache key covers e2e/toolchain/ only, so a change here rebuilds nothing."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from components import gateway_api_crds

ROOT = Path(__file__).resolve().parent.parent
GO_MODULE = ROOT / "e2e" / "upstream"
PROMETHEUS_OPERATOR = "github.com/prometheus-operator/prometheus-operator"
SERVICE_MONITOR_CRD = "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"


class UpstreamError(Exception):
    """A pinned module could not be had."""


def download(module: str, pinned_by: Path = GO_MODULE) -> dict[str, Any]:
    """`go mod download -json` of a module a wrapper module (e2e/upstream/ unless told) pins: its Version, Dir
    (unpacked) and Zip."""
    env = {**os.environ, "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local"}
    proc = subprocess.run(
        ["go", "mod", "download", "-json", module], cwd=pinned_by, env=env, capture_output=True, text=True, check=False
    )
    info: dict[str, Any] = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or info.get("Error"):
        raise UpstreamError(f"go mod download {module} failed: {info.get('Error') or proc.stderr.strip()}")
    return info


def gateway_api_crds_files() -> list[Path]:
    """The Gateway API standard channel the program installs on kind, through the program's own fetch-and-check
    (components/gateway_api_crds.py) from the module zip Go downloaded."""
    info = download(gateway_api_crds.MODULE)
    if info["Version"] != gateway_api_crds.VERSION:
        raise UpstreamError(
            f"e2e/upstream/go.mod pins {gateway_api_crds.MODULE} {info['Version']}, "
            f"the program installs {gateway_api_crds.VERSION}"
        )
    try:
        return gateway_api_crds.standard_channel(info["Zip"])
    except gateway_api_crds.BundleError as exc:
        raise UpstreamError(str(exc)) from None


def service_monitor_crd() -> Path:
    """The Prometheus Operator's ServiceMonitor CRD, as its project publishes it."""
    return Path(download(PROMETHEUS_OPERATOR)["Dir"]) / SERVICE_MONITOR_CRD
