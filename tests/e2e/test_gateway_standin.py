"""The Gateway stand-in's own Go tests (route table, data-plane objects, status, proxy): `make e2e-kind` trusts it
to play NGINX Gateway Fabric, so a broken stand-in must fail here, not as a puzzling HTTP failure on a real cluster."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

MODULE = Path(__file__).resolve().parents[2] / "e2e" / "kind" / "go" / "gateway-standin"


def test_the_gateway_standin_passes_its_go_tests() -> None:
    # Standard library only: nothing to download, so this runs offline.
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly", "CGO_ENABLED": "0"}
    proc = subprocess.run(
        ["go", "test", "-count=1", "./..."], cwd=MODULE, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "ok" in proc.stdout, proc.stdout
