"""GitHub workflows: valid per the workflow JSON schema (offline), and wired the way the README promises."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
PULUMI_ACTION = "pulumi/actions@v6"
# Inputs of pulumi/actions v6 (its action.yml); anything else would be ignored with a warning.
PULUMI_ACTION_INPUTS = {
    "command",
    "stack-name",
    "pulumi-version",
    "pulumi-version-file",
    "work-dir",
    "comment-on-pr",
    "comment-on-pr-number",
    "comment-on-summary",
    "github-token",
    "cloud-url",
    "secrets-provider",
    "parallel",
    "message",
    "config-map",
    "expect-no-changes",
    "diff",
    "replace",
    "target",
    "target-dependents",
    "policyPacks",
    "policyPackConfigs",
    "refresh",
    "upsert",
    "remove",
    "edit-pr-comment",
    "color",
    "exclude-protected",
    "plan",
    "suppress-outputs",
    "suppress-progress",
    "always-include-summary",
}


def load(name: str) -> dict[Any, Any]:
    doc: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return doc


def triggers(doc: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as the boolean True.
    on = doc["on"] if "on" in doc else doc[True]
    assert isinstance(on, dict)
    return on


def pulumi_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]


def test_workflows_exist() -> None:
    assert {p.name for p in FILES} >= {"preview.yml", "deploy.yml"}


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_workflow_matches_the_github_schema(path: Path) -> None:
    tool = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")
    assert tool, "check-jsonschema is not installed (requirements-dev.txt)"
    proc = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, f"{path.name}:\n{proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_pulumi_action_inputs_exist(path: Path) -> None:
    for job_name, job in load(path.name)["jobs"].items():
        for step in pulumi_steps(job):
            assert step["uses"] == PULUMI_ACTION, f"{path.name}/{job_name}: use {PULUMI_ACTION}"
            unknown = set(step.get("with", {})) - PULUMI_ACTION_INPUTS
            assert not unknown, f"{path.name}/{job_name}: pulumi/actions has no inputs {sorted(unknown)}"


def _installs_before_pulumi(job: dict[str, Any], *requirements: str) -> bool:
    steps = job["steps"]
    first_pulumi = steps.index(pulumi_steps(job)[0])
    scripts = " ".join(str(s.get("run", "")) for s in steps[:first_pulumi])
    return all(f"-r {r}" in scripts for r in requirements)


def test_preview_runs_the_policy_pack_and_comments_on_the_pr() -> None:
    doc = load("preview.yml")
    assert "pull_request" in triggers(doc)
    job = doc["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == ["prod"], "only prod can be previewed from CI"
    (step,) = pulumi_steps(job)
    assert step["with"]["command"] == "preview"
    assert step["with"]["policyPacks"] == "policy"
    assert step["with"]["comment-on-pr"] is True
    assert step["with"]["stack-name"] == "${{ matrix.stack }}"
    assert _installs_before_pulumi(job, "requirements.txt", "policy/requirements.txt")
    assert doc["permissions"]["pull-requests"] == "write"


def test_preview_runs_make_test() -> None:
    job = load("preview.yml")["jobs"]["test"]
    assert any(str(s.get("run", "")).strip() == "make test" for s in job["steps"])


def test_deploy_is_manual_with_a_stack_input_and_up_and_destroy_jobs() -> None:
    doc = load("deploy.yml")
    inputs = triggers(doc)["workflow_dispatch"]["inputs"]
    assert inputs["stack"]["required"] is True
    jobs = doc["jobs"]
    commands = {name: pulumi_steps(job)[0]["with"]["command"] for name, job in jobs.items()}
    assert commands == {"up": "up", "destroy": "destroy"}
    for name, job in jobs.items():
        (step,) = pulumi_steps(job)
        assert step["with"]["stack-name"] == "${{ inputs.stack }}", name
        assert job["environment"] == "${{ inputs.stack }}", f"{name}: deployments need the stack's environment"
        assert _installs_before_pulumi(job, "requirements.txt"), name
    assert jobs["up"]["steps"][-1]["with"]["policyPacks"] == "policy"


RUN_STEPS = [
    (path.name, job_name, index, step["run"])
    for path in FILES
    for job_name, job in load(path.name)["jobs"].items()
    for index, step in enumerate(job["steps"])
    if "run" in step
]


@pytest.mark.parametrize("step", RUN_STEPS, ids=[f"{w}/{j}/{i}" for w, j, i, _ in RUN_STEPS])
def test_run_steps_pass_shellcheck(step: tuple[str, str, int, str], tmp_path: Path) -> None:
    """Each `run:` as the runner executes it (bash -e), with `${{ }}` expressions as the plain words they become."""
    workflow, job, index, script = step
    text = re.sub(r"\$\{\{[^}]*\}\}", "EXPRESSION", script)
    path = tmp_path / "step.sh"
    path.write_text(f"#!/usr/bin/env bash\nset -eo pipefail\n{text}")
    tool = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    assert tool, "shellcheck is not installed (requirements-dev.txt)"
    proc = subprocess.run([tool, str(path)], capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, f"{workflow} job {job} step {index}:\n{proc.stdout}{proc.stderr}"


def test_prod_workflows_use_the_backend_prod_names() -> None:
    """One state location for prod: the workflows' backend is the one Pulumi.prod.yaml requires of laptops too."""
    declared = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]["wal-service:stateBackend"]
    deploy = load("deploy.yml")
    assert deploy["env"]["PULUMI_BACKEND_URL"] == declared
    assert load("preview.yml")["jobs"]["preview"]["env"]["PULUMI_BACKEND_URL"] == declared
    assert load("drift.yml")["jobs"]["drift"]["env"]["PULUMI_BACKEND_URL"] == declared


def test_pull_requests_run_the_dev_pipeline_on_kind() -> None:
    doc = load("dev-on-kind.yml")
    assert "pull_request" in triggers(doc)
    (job,) = doc["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest", "GitHub's hosted runners have the Docker daemon kind needs"
    assert job["defaults"]["run"]["shell"] == "bash", "an explicit bash shell runs with -o pipefail"
    scripts = [str(s.get("run", "")) for s in job["steps"]]
    order = [
        "python -m ops.tools --install --pinned",
        "pulumi install",
        "pulumi up --stack dev --yes --policy-pack policy",
        "make verify STACK=dev",
        "make status STACK=dev",
        "pulumi destroy --stack dev --yes",
    ]
    positions = [next((i for i, s in enumerate(scripts) if command in s), -1) for command in order]
    assert -1 not in positions and positions == sorted(positions), (
        f"steps out of order: {dict(zip(order, positions, strict=True))}"
    )
    steps = {str(s.get("run", s.get("uses", ""))): s for s in job["steps"]}
    destroy = next(s for text, s in steps.items() if "pulumi destroy" in text)
    assert destroy["if"] == "always()", "the cluster must go even when a step failed"
    upload = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    assert upload["if"] == "failure()" and upload["with"]["path"] == "logs/"
    # The state is the runner's own (Pulumi.yaml's machine-local backend): no shared backend, no token.
    assert "PULUMI_BACKEND_URL" not in doc.get("env", {}) and "PULUMI_ACCESS_TOKEN" not in str(doc)
    # It builds the image, tagged with the last commit that changed app/ (components.image.source_revision).
    checkout = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert checkout.get("with", {}).get("fetch-depth") == 0, "a shallow clone tags every build with its one commit"


def test_drift_runs_on_a_schedule_and_fails_on_drift() -> None:
    doc = load("drift.yml")
    assert "schedule" in triggers(doc) and "workflow_dispatch" in triggers(doc)
    job = doc["jobs"]["drift"]
    assert job["strategy"]["matrix"]["stack"] == ["prod"], "only prod's cluster is reachable from CI"
    script = next(s["run"] for s in job["steps"] if "ops.drift" in str(s.get("run", "")))
    assert "pulumi preview --refresh --expect-no-changes --json" in script
    assert 'exit "$status"' in script, "the job must fail when ops.drift reports drift"
    assert doc["permissions"] == {"contents": "read"}
