"""The dev stack's rendered environment starts this server: the variable names must agree.

Renders the Pulumi program (``python -m tools.render dev`` from the repository root),
takes the Deployment's environment (ConfigMap data plus the Secret-backed names),
points the DATABASE_* values at the local test PostgreSQL and the keys file at a local copy
(the mounted Secret's stand-in), checks readiness and that the keys are required.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    KEYS_FILE_TEXT,
    PG_HOST,
    PG_PASSWORD,
    PG_PORT,
    PG_USER,
    SRC,
    WRITER,
    free_port,
    unique_log,
)

yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parents[2]


def _render_python() -> str | None:
    """An interpreter that has the Pulumi SDK (the app's own venv may not)."""
    candidates = [
        os.environ.get("WAL_RENDER_PYTHON"),
        sys.executable,
        str(REPO / ".venv" / "bin" / "python"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            probe = subprocess.run(
                [candidate, "-c", "import pulumi, pulumi_kubernetes, yaml"],
                capture_output=True,
                check=False,
            )
            if probe.returncode == 0:
                return candidate
    return None


def _rendered_dev_env() -> dict[str, str | None]:
    python = _render_python()
    if python is None:
        pytest.skip("no interpreter with the Pulumi SDK; set WAL_RENDER_PYTHON")
    proc = subprocess.run(
        [python, "-m", "tools.render", "dev"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    objects: list[dict[str, Any]] = [o for o in yaml.safe_load_all(proc.stdout) if o]
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    config_names = {ref["configMapRef"]["name"] for ref in container.get("envFrom", [])}
    env: dict[str, str | None] = {}
    for obj in objects:
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] in config_names:
            env.update({key: str(value) for key, value in obj["data"].items()})
    for var in container.get("env", []):
        # Secret values are masked in the render; only the name is known here.
        env[var["name"]] = var.get("value")
    return env


def test_rendered_dev_environment_starts_a_ready_server(database: str, tmp_path: Path) -> None:
    rendered = _rendered_dev_env()
    expected = {
        "DATABASE_HOST",
        "DATABASE_PORT",
        "DATABASE_NAME",
        "DATABASE_USER",
        "DATABASE_PASSWORD",
    }
    expected |= {"DATABASE_SSLMODE", "PORT", "API_KEYS_FILE"}
    assert expected <= set(rendered), sorted(rendered)
    assert "AUTH" not in rendered, "the stack turns authentication off"
    keys = tmp_path / "keys"
    keys.write_text(KEYS_FILE_TEXT)

    port = free_port()
    local = {
        "DATABASE_HOST": PG_HOST,
        "DATABASE_PORT": str(PG_PORT),
        "DATABASE_NAME": database,
        "DATABASE_USER": PG_USER,
        "DATABASE_PASSWORD": PG_PASSWORD,
        # The rendered port may be taken on this machine.
        "PORT": str(port),
        "API_KEYS_FILE": str(keys),
    }
    env = {name: local.get(name, value) for name, value in rendered.items()}
    missing = sorted(name for name, value in env.items() if value is None)
    assert not missing, f"rendered variables without a value: {missing}"
    assert set(env) == set(rendered), "the server gets exactly the rendered variable names"

    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wal_service", "--host", "127.0.0.1"],
            env={**{name: str(value) for name, value in env.items()}, "PYTHONPATH": str(SRC)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, (
                f"server exited early:\n{log.read_text(errors='replace')[-3000:]}"
            )
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/api/v1/ready", timeout=1.0).status_code
            except httpx.TransportError:
                status = None
            if status == 200:
                break
            time.sleep(0.1)
        assert status == 200, (
            f"not ready (last status {status}):\n{log.read_text(errors='replace')[-3000:]}"
        )
        url = f"http://127.0.0.1:{port}/api/v1/logs/{unique_log('rendered')}/records"
        assert httpx.post(url, json=1, timeout=5.0).status_code == 401
        assert httpx.post(url, json=1, headers=WRITER, timeout=5.0).status_code == 201
    finally:
        proc.kill()
        proc.wait(timeout=10)
