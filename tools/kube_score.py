"""kube-score over the dev, staging and prod renders: every finding is fixed or suppressed here, with its reason.

    python -m tools.kube_score                 # make kube-score; builds kube-score first (tools/kube-score/build.sh)
    python -m tools.kube_score --kube-score /path/to/kube-score

Each stack is rendered offline (`python -m tools.render <stack>`) and scored with kube-score's default checks at the
stack's kubernetesVersion. A WARNING or CRITICAL is a finding; SUPPRESSIONS below is the only place one may be
accepted, for the objects and stacks it names. The `kube-score/ignore` annotations are turned off, so no object
can accept a finding behind this table's back, and kube-score's --ignore-test is not used because it would accept a
check for every object (a low UID accepted for PostgreSQL's image must still fail the service).
Exit 1 on a finding no suppression covers, or on a suppression that matches nothing any more; 2 when the tool
cannot run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.stack_checks import stack_settings
from components.stack_config import ROOT

STACKS = ("dev", "staging", "prod")
BUILD_SCRIPT = ROOT / "tools" / "kube-score" / "build.sh"
# kube-score's grades (scorecard/scorecard.go): CRITICAL 1, WARNING 5, ALMOST_OK 7, ALL_OK 10.
GRADES = {1: "CRITICAL", 5: "WARNING"}
WORST_ACCEPTED = 5


@dataclass(frozen=True)
class Suppression:
    """A kube-score check accepted on named objects of named stacks, and why."""

    check: str
    """kube-score check ID (README_CHECKS.md of kube-score)."""
    objects: frozenset[str]
    """`Kind/name` of the objects it is accepted on."""
    reason: str
    """One line: why the finding is right for this project."""
    stacks: frozenset[str] = frozenset(STACKS)
    """The stacks it is accepted in."""


SUPPRESSIONS = (
    Suppression(
        "container-image-pull-policy",
        frozenset({"Deployment/wal-service", "StatefulSet/postgres"}),
        "IfNotPresent on purpose: the service runs its image by digest (image-pinned-by-digest blocks a tag in prod) "
        "and PostgreSQL a pinned tag, so Always would only make every restart wait on the registry (and let a "
        "re-pushed tag swap the database image); and neither image is secret (PostgreSQL's is public, the service's "
        "holds code, its credentials arrive from Secrets), so re-checking pull secrets on every start guards nothing.",
    ),
    Suppression(
        "container-security-context-user-group-id",
        frozenset({"StatefulSet/postgres"}),
        "UID/GID 999 is the postgres user of the official image; a UID above 10000 would rely on its entrypoint's "
        "nss_wrapper path, unproven with a read-only root. runAsNonRoot and the restricted profile still apply.",
    ),
    Suppression(
        "deployment-replicas",
        frozenset({"Deployment/wal-service"}),
        "dev runs one replica on a one-node kind cluster by design (replicas defaults to 1); staging and prod "
        "autoscale from minReplicas 2 and 3, which kube-score checks on their HPAs.",
        stacks=frozenset({"dev"}),
    ),
    Suppression(
        "deployment-has-host-podantiaffinity",
        frozenset({"Deployment/wal-service"}),
        "Replicas are spread by topologySpreadConstraints over hostname and zone (maxSkew 1) whenever more than one "
        "runs, soft so that a one-node cluster still schedules them; kube-score checks those constraints itself "
        "(pod-topology-spread-constraints).",
    ),
)


@dataclass(frozen=True)
class Finding:
    """One WARNING or CRITICAL kube-score comment on one object of one stack."""

    stack: str
    check: str
    grade: str
    obj: str
    """`Kind/name`."""
    container: str
    summary: str
    description: str

    def __str__(self) -> str:
        where = f"{self.obj} ({self.container})" if self.container else self.obj
        return f"{self.stack}: {self.grade} {self.check} on {where}: {self.summary}"


def findings(stack: str, report: Sequence[dict[str, Any]]) -> list[Finding]:
    """The WARNING and CRITICAL results of kube-score's JSON (v2) report, one per comment."""
    found = []
    for scored in report:
        obj = f"{scored['type_meta']['kind']}/{scored['object_meta']['name']}"
        for result in scored.get("checks") or []:
            if result.get("skipped") or result["grade"] > WORST_ACCEPTED:
                continue
            grade = GRADES.get(result["grade"], f"grade {result['grade']}")
            comments = result.get("comments") or [{"path": "", "summary": result["check"]["name"], "description": ""}]
            found += [
                Finding(stack, result["check"]["id"], grade, obj, c["path"], c["summary"], c.get("description", ""))
                for c in comments
            ]
    return sorted(found, key=lambda f: (f.stack, f.obj, f.check, f.container, f.summary))


def suppression_for(finding: Finding, suppressions: Iterable[Suppression] = SUPPRESSIONS) -> Suppression | None:
    for suppression in suppressions:
        if (
            suppression.check == finding.check
            and finding.obj in suppression.objects
            and finding.stack in suppression.stacks
        ):
            return suppression
    return None


@dataclass(frozen=True)
class Verdict:
    accepted: list[tuple[Finding, Suppression]]
    open: list[Finding]
    stale: list[Suppression]
    """Suppressions that matched no finding: the program changed, or they were never needed."""

    @property
    def ok(self) -> bool:
        return not self.open and not self.stale


def judge(found: Iterable[Finding], suppressions: Sequence[Suppression] = SUPPRESSIONS) -> Verdict:
    accepted, open_ = [], []
    for finding in found:
        suppression = suppression_for(finding, suppressions)
        if suppression is None:
            open_.append(finding)
        else:
            accepted.append((finding, suppression))
    used = {id(suppression) for _, suppression in accepted}
    return Verdict(accepted, open_, [s for s in suppressions if id(s) not in used])


def kube_score_args(binary: str, manifest: Path, kubernetes_version: str) -> list[str]:
    return [
        binary,
        "score",
        "--output-format",
        "json",
        "--kubernetes-version",
        f"v{kubernetes_version}",
        # SUPPRESSIONS is the one place a finding is accepted.
        "--disable-ignore-checks-annotations",
        str(manifest),
    ]


def built_kube_score() -> str:
    """kube-score from its pinned Go module (cached by build.sh, so this is quick after the first build)."""
    proc = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"building kube-score failed ({BUILD_SCRIPT.relative_to(ROOT)}):\n{proc.stderr}")
    return proc.stdout.strip().splitlines()[-1]


def render(stack: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "tools.render", stack], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"python -m tools.render {stack} failed:\n{proc.stderr}")
    return proc.stdout


def score(binary: str, stack: str, manifests: str, workdir: Path) -> list[Finding]:
    manifest = workdir / f"{stack}.yaml"
    manifest.write_text(manifests)
    version = stack_settings(stack).kubernetes_version
    proc = subprocess.run(kube_score_args(binary, manifest, version), capture_output=True, text=True, check=False)
    # kube-score exits 1 when it finds a CRITICAL; anything else, or no JSON, is the tool failing.
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise RuntimeError(f"kube-score failed on {stack} (exit {proc.returncode}):\n{proc.stderr}")
    return findings(stack, json.loads(proc.stdout))


def report(verdict: Verdict, version: str, stacks: Sequence[str]) -> str:
    lines = [f"{version}; stacks: {', '.join(stacks)}"]
    lines += [f"  accepted  {finding}" for finding, _ in verdict.accepted]
    used = list({id(s): s for _, s in verdict.accepted}.values())
    lines += [f"  why {s.check} on {', '.join(sorted(s.objects))}: {s.reason}" for s in used]
    for finding in verdict.open:
        lines += [f"  FINDING   {finding}", f"            {finding.description}"]
    for suppression in verdict.stale:
        lines.append(
            f"  STALE     suppression of {suppression.check} on {', '.join(sorted(suppression.objects))} "
            f"({', '.join(sorted(suppression.stacks))}) matches no finding: remove it from tools/kube_score.py"
        )
    if verdict.ok:
        lines.append(
            f"kube-score: no open findings ({len(verdict.accepted)} accepted by {len(used)} suppressions, "
            "each with its reason in tools/kube_score.py)"
        )
    else:
        lines.append(
            f"kube-score: {len(verdict.open)} open finding(s), {len(verdict.stale)} stale suppression(s). Fix the "
            "program, or, where kube-score's advice is wrong for this project, add a Suppression with its reason "
            "to SUPPRESSIONS in tools/kube_score.py."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run kube-score over every stack's render.")
    parser.add_argument("--kube-score", default=os.environ.get("KUBE_SCORE", ""), help="binary (default: build it)")
    args = parser.parse_args(argv)
    try:
        binary = args.kube_score or built_kube_score()
        version = subprocess.run([binary, "version"], capture_output=True, text=True, check=True).stdout.strip()
        with ThreadPoolExecutor(max_workers=len(STACKS)) as pool:
            renders = dict(zip(STACKS, pool.map(render, STACKS), strict=True))
        with tempfile.TemporaryDirectory() as workdir:
            found = [f for stack in STACKS for f in score(binary, stack, renders[stack], Path(workdir))]
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    verdict = judge(found)
    print(report(verdict, version, STACKS))
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
