"""tools/kube_score.py: which kube-score findings fail the run, and the one table that accepts the others.

kube-score itself runs in `make kube-score` (CI runs it after `make test`); here its JSON report (v2, the shape of
kube-score's renderer/json_v2) is written by hand, so these tests need no Go build.
"""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tools import kube_score
from tools.kube_score import STACKS, SUPPRESSIONS, Finding, Suppression, findings, judge, kube_score_args

if TYPE_CHECKING:
    from conftest import MockRuns

ROOT = Path(__file__).resolve().parent.parent


def scored(kind: str, name: str, *checks: dict[str, Any]) -> dict[str, Any]:
    return {"type_meta": {"kind": kind}, "object_meta": {"name": name}, "checks": list(checks)}


def check(check_id: str, grade: int, *paths: str, skipped: bool = False) -> dict[str, Any]:
    comments = [{"path": p, "summary": f"{check_id} on {p}", "description": "why"} for p in paths]
    return {"check": {"id": check_id, "name": check_id}, "grade": grade, "skipped": skipped, "comments": comments}


def finding(stack: str, check_id: str, obj: str) -> Finding:
    return Finding(stack, check_id, "CRITICAL", obj, "c", "summary", "")


def test_only_warnings_and_criticals_count_one_per_comment() -> None:
    report = [
        scored(
            "StatefulSet",
            "postgres",
            check("container-ephemeral-storage-request-and-limit", 1, "postgres", "sync-password"),
            check("pod-probes-identical", 1),
            check("deployment-replicas", 5),
            check("pod-probes", 7, "postgres"),
            check("container-resources", 10),
            check("statefulset-has-poddisruptionbudget", 1, skipped=True),
        )
    ]
    found = findings("dev", report)
    assert [(f.check, f.grade, f.container) for f in found] == [
        ("container-ephemeral-storage-request-and-limit", "CRITICAL", "postgres"),
        ("container-ephemeral-storage-request-and-limit", "CRITICAL", "sync-password"),
        ("deployment-replicas", "WARNING", ""),
        ("pod-probes-identical", "CRITICAL", ""),
    ]
    assert {f.obj for f in found} == {"StatefulSet/postgres"} and {f.stack for f in found} == {"dev"}


def test_a_suppression_covers_only_its_check_objects_and_stacks() -> None:
    low_uid = Suppression("container-security-context-user-group-id", frozenset({"StatefulSet/postgres"}), "999")
    one_replica = Suppression("deployment-replicas", frozenset({"Deployment/wal-service"}), "dev", frozenset({"dev"}))
    verdict = judge(
        [
            finding("dev", "container-security-context-user-group-id", "StatefulSet/postgres"),
            # The same check on the service is not what the reason speaks of.
            finding("dev", "container-security-context-user-group-id", "Deployment/wal-service"),
            finding("dev", "deployment-replicas", "Deployment/wal-service"),
            finding("prod", "deployment-replicas", "Deployment/wal-service"),
            finding("dev", "pod-probes-identical", "StatefulSet/postgres"),
        ],
        [low_uid, one_replica],
    )
    assert [(f.stack, f.check, f.obj) for f in verdict.open] == [
        ("dev", "container-security-context-user-group-id", "Deployment/wal-service"),
        ("prod", "deployment-replicas", "Deployment/wal-service"),
        ("dev", "pod-probes-identical", "StatefulSet/postgres"),
    ]
    assert [s for _, s in verdict.accepted] == [low_uid, one_replica]
    assert not verdict.stale and not verdict.ok


def test_a_suppression_that_matches_nothing_fails_the_run() -> None:
    used = Suppression("deployment-replicas", frozenset({"Deployment/wal-service"}), "dev")
    unused = Suppression("container-image-pull-policy", frozenset({"Deployment/wal-service"}), "digests")
    verdict = judge([finding("dev", "deployment-replicas", "Deployment/wal-service")], [used, unused])
    assert verdict.stale == [unused] and not verdict.open and not verdict.ok


def test_every_suppression_says_why_in_one_line() -> None:
    keys = [(s.check, obj, stack) for s in SUPPRESSIONS for obj in s.objects for stack in s.stacks]
    assert len(keys) == len(set(keys)), "two suppressions cover the same finding: one place, one reason"
    for s in SUPPRESSIONS:
        assert len(s.reason) >= 60 and "\n" not in s.reason, f"{s.check}: reason {s.reason!r}"
        assert s.objects and s.stacks <= set(STACKS), f"{s.check}: objects {s.objects}, stacks {s.stacks}"


def test_suppressions_name_objects_their_stacks_render(mockruns: MockRuns) -> None:
    mockruns.prefetch([mockruns.scenario(stack) for stack in STACKS])
    rendered = {
        stack: {f"{o.kind}/{o.metadata.get('name')}" for o in mockruns.get(stack).objects()} for stack in STACKS
    }
    for s in SUPPRESSIONS:
        for obj in s.objects:
            assert any(obj in rendered[stack] for stack in s.stacks), f"{s.check}: no stack of {s.stacks} has {obj}"


def test_kube_score_cannot_be_silenced_outside_the_table() -> None:
    args = kube_score_args("kube-score", Path("dev.yaml"), "1.37")
    assert "--disable-ignore-checks-annotations" in args, "a kube-score/ignore annotation would bypass SUPPRESSIONS"
    assert not any(a.startswith("--ignore-test") for a in args), "an ignored test is ignored on every object"
    assert args[args.index("--kubernetes-version") + 1] == "v1.37"
    assert args[args.index("--output-format") + 1] == "json"


FAKE_KUBE_SCORE = """#!/bin/sh
[ "$1" = version ] && { echo "kube-score version: 0.0.0-fake"; exit 0; }
cat "$REPORT"
exit "$FAKE_EXIT"
"""


@pytest.mark.parametrize(
    ("fake_exit", "report", "expected"),
    [
        # kube-score exits 1 on a CRITICAL: the verdict is ours, from the report.
        (1, [scored("Deployment", "wal-service", check("pod-probes-identical", 1))], 1),
        (0, [], 1),  # no findings at all: every suppression is stale
        (2, [], 2),  # kube-score failed: no verdict
    ],
)
def test_main_fails_on_what_the_table_does_not_accept(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fake_exit: int,
    report: list[dict[str, Any]],
    expected: int,
) -> None:
    binary = tmp_path / "kube-score"
    binary.write_text(FAKE_KUBE_SCORE)
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "report.json").write_text(json.dumps(report))
    monkeypatch.setenv("REPORT", str(tmp_path / "report.json"))
    monkeypatch.setenv("FAKE_EXIT", str(fake_exit))
    monkeypatch.setattr(kube_score, "render", lambda stack: f"# {stack}\n")
    assert kube_score.main(["--kube-score", str(binary)]) == expected
    out, err = capsys.readouterr()
    if expected == 1 and report:
        assert "FINDING   dev: CRITICAL pod-probes-identical on Deployment/wal-service" in out, out
    if expected == 2:
        assert "kube-score failed on dev (exit 2)" in err, err


def test_build_script_pins_and_caches_outside_the_repository() -> None:
    module = (ROOT / "tools" / "kube-score" / "go.mod").read_text()
    assert "tool github.com/zegl/kube-score/cmd/kube-score" in module
    assert "github.com/zegl/kube-score v" in module, "kube-score's version is pinned in go.mod"
    script = (ROOT / "tools" / "kube-score" / "build.sh").read_text()
    assert "/.cache/" in script and 'source "$here/../go-tool.sh"' in script
    shared = (ROOT / "tools" / "go-tool.sh").read_text()
    for setting in ('GOFLAGS="-mod=readonly -trimpath"', "GOTOOLCHAIN=local", "CGO_ENABLED=0"):
        assert setting in shared, f"tools/go-tool.sh lost {setting}"


def test_ci_runs_kube_score_after_building_it() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash tools/kube-score/build.sh" in ci and "make kube-score" in ci
    assert ci.index("bash tools/kube-score/build.sh") < ci.index("make kube-score")
    proc = subprocess.run(["make", "-n", "kube-score"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "tools.kube_score" in proc.stdout, proc.stdout + proc.stderr
