"""`make mutation`: how many plausible bugs the tests catch, measured by mutmut on a seeded random sample.

    python -m tools.mutation [--seed N] [--size 150] [--jobs 2]

mutmut 3 generates the mutants (a compared value, a bound, a dropped condition, a swapped
argument, a string, a return value...), records in one instrumented run of each suite which
tests reach which function, then runs each mutant against only those tests, in forked workers.
cosmic-ray (the other maintained tool) runs one test command for every mutant, which here
means minutes of suite per mutant. mutmut's limits, stated where the figure is reported: it
mutates function bodies only (not module constants, class bodies or decorated functions), and a
test that reaches a function only through a subprocess does not count as reaching it.

Steps, per project (the program at the root; the service under app/, its own project):
1. snapshot the working tree into a workspace outside the checkout, with `mutants/` (where
   mutmut runs the tests) pre-created as a git checkout, so that tests listing tracked files
   see what they see in the repository;
2. list every mutant mutmut's generator makes of the folders in `[tool.mutmut]`;
3. draw the sample: seeded, spread over the folders in proportion to their mutant counts;
4. `mutmut run <sample>`; read its verdicts with `mutmut results`, and each survivor's change
   with `mutmut show`.
The workspaces stay after the run (path printed) for `mutmut show NAME` and `mutmut browse`.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from components.stack_config import ROOT

WORKSPACES = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "wal-service-mutation"
MUTMUT = Path(sys.executable).parent / "mutmut"
# Below these the run exits non-zero: the suite is the safety net `make test` claims to be.
TARGET_OVERALL = 0.90
TARGET_FOLDER = 0.85
# A folder small enough to get fewer mutants than this by proportion gets this many, so that
# its rate means something.
MIN_PER_FOLDER = 12
DETECTED = frozenset({"killed", "timeout", "caught by type check"})
NOT_COUNTED = frozenset({"skipped", "not checked"})


@dataclass(frozen=True)
class Project:
    name: str
    root: Path
    """Where its pyproject.toml, with the [tool.mutmut] section, lives."""
    prefix: str
    """How the repository names the project's paths (the report's folder names start with it)."""
    imports_from: str = ""
    """Where its Python processes import its code from, below the project root (empty: the root, as `python -m`)."""


PROJECTS = (Project("program", ROOT, ""), Project("service", ROOT / "app", "app/", imports_from="src"))


@dataclass(frozen=True)
class Mutant:
    project: Project
    name: str
    """mutmut's name for it: module, mangled function, number."""
    path: str
    """Source file, relative to the project root."""

    @property
    def folder(self) -> str:
        """Top folder of the repository path (app/src for the service)."""
        parts = (self.project.prefix + self.path).split("/")
        return "/".join(parts[:2]) if self.project.prefix else parts[0]


@dataclass(frozen=True)
class Verdict:
    mutant: Mutant
    status: str
    change: str = ""
    """`file:line  original -> mutant`, for survivors."""


def _tracked_files(root: Path) -> list[str]:
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [name for name in listing.split("\0") if name and (root / name).is_file()]


def prepare(project: Project) -> Path:
    """A fresh workspace: the project's files, and `mutants/` as a git checkout of the same files."""
    workspace = WORKSPACES / project.name
    shutil.rmtree(workspace, ignore_errors=True)
    files = _tracked_files(project.root)
    for into in (workspace, workspace / "mutants"):
        for name in files:
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            # copy2 keeps the mtime: mutmut regenerates a mutated file whose mtime equals its source's.
            shutil.copy2(project.root / name, into / name)
    checkout = workspace / "mutants"
    # The checker's venv sits beside the program, found through the repository root.
    if (project.root / ".venv-checkov").is_dir():
        (checkout / ".venv-checkov").symlink_to(project.root / ".venv-checkov")
    identity = ["-c", "user.name=mutation", "-c", "user.email=mutation@localhost"]
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", *identity, "commit", "-qm", "snapshot"]):
        subprocess.run(command, cwd=checkout, check=True, capture_output=True)
    return workspace


@contextlib.contextmanager
def _inside(workspace: Path) -> Iterator[None]:
    """mutmut reads its configuration from the working directory's pyproject.toml."""
    from mutmut.configuration import reset_config

    before = Path.cwd()
    os.chdir(workspace)
    reset_config()
    try:
        yield
    finally:
        os.chdir(before)
        reset_config()


def every_mutant(project: Project, workspace: Path) -> list[Mutant]:
    """Every mutant `mutmut run` would generate, named as it names them (its own generator)."""
    with _inside(workspace):
        from mutmut.mutation.file_mutation import mutate_file_contents
        from mutmut.utils.file_utils import walk_mutatable_files
        from mutmut.utils.format_utils import get_mutant_name

        return [
            Mutant(project, get_mutant_name(path, name), str(path))
            for path in sorted(walk_mutatable_files())
            for name in mutate_file_contents(str(path), path.read_text()).mutant_names
        ]


def quotas(counts: dict[str, int], size: int) -> dict[str, int]:
    """Split `size` over the folders in proportion to their counts (largest remainder), each
    folder getting at least MIN_PER_FOLDER (or all it has), never more than it has."""
    total = sum(counts.values())
    exact = {folder: size * count / total for folder, count in counts.items()}
    share = {folder: int(value) for folder, value in exact.items()}
    for folder in sorted(exact, key=lambda f: exact[f] - share[f], reverse=True)[: size - sum(share.values())]:
        share[folder] += 1
    return {folder: min(counts[folder], max(share[folder], MIN_PER_FOLDER)) for folder in counts}


def draw(mutants: list[Mutant], size: int, seed: int) -> list[Mutant]:
    """A seeded sample, spread over the folders by their mutant counts."""
    by_folder: dict[str, list[Mutant]] = {}
    for mutant in sorted(mutants, key=lambda m: m.name):
        by_folder.setdefault(mutant.folder, []).append(mutant)
    rng = random.Random(seed)
    share = quotas({folder: len(group) for folder, group in by_folder.items()}, size)
    return [m for folder in sorted(by_folder) for m in rng.sample(by_folder[folder], share[folder])]


def _mutmut(workspace: Path, *args: str, log: Path | None = None, env: dict[str, str] | None = None) -> str:
    with open(log, "a") if log else contextlib.nullcontext() as sink:
        proc = subprocess.run(
            [str(MUTMUT), *args],
            cwd=workspace,
            env=env,
            stdout=sink or subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        where = f"see {log}" if log else proc.stdout[-2000:]
        raise SystemExit(f"mutmut {args[0]} failed in {workspace} ({where})")
    return proc.stdout or ""


def statuses(results: str) -> dict[str, str]:
    """`mutmut results --all true`: one `    name: status` line per mutant."""
    found = {}
    for line in results.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            found[name] = status
    return found


def change_of(diff: str, source: str, function: str) -> tuple[int, str, str]:
    """From `mutmut show`'s diff of one function: the source line it changes, and the two texts.

    The diff is of the function alone, so the line is found in the source by its text, within
    the function (by name, the innermost definition first)."""
    removed = [line[1:].strip() for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    original, mutant = " ".join(removed), " ".join(added)
    lines = source.splitlines()
    spans = [
        (node.lineno, node.end_lineno or node.lineno)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function
    ]
    first = removed[0] if removed else ""
    for start, end in spans:
        for number in range(start, end + 1):
            if first and lines[number - 1].strip() == first:
                return number, original, mutant
    return (spans[0][0] if spans else 0), original, mutant


def run_project(project: Project, sample: list[Mutant], workspace: Path, jobs: int) -> list[Verdict]:
    from mutmut.utils.format_utils import orig_function_and_class_names_from_key

    log = workspace / "mutmut-run.log"
    # Subprocesses of the tests hand back what they reached (tools/mutmut_site, tests/conftest.py).
    reached = workspace / "reached"
    reached.mkdir(exist_ok=True)
    site = str(Path(__file__).resolve().parent / "mutmut_site")
    # A test that sets PYTHONPATH for its subprocess from ours still gets the mutated code (the service's do).
    mutated_code = str(workspace / "mutants" / project.imports_from) if project.imports_from else ""
    env = {
        # mutmut's copy of a module holds every mutant of it: compiled once, not by every process.
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "PYTHONPATH": os.pathsep.join(filter(None, [site, mutated_code, os.environ.get("PYTHONPATH")])),
        "WAL_MUTATION_REACHED": str(reached),
    }
    _mutmut(workspace, "run", "--max-children", str(jobs), *(m.name for m in sample), log=log, env=env)
    found = statuses(_mutmut(workspace, "results", "--all", "true"))
    verdicts = []
    for mutant in sample:
        status = found.get(mutant.name, "not checked")
        change = ""
        if status not in DETECTED | NOT_COUNTED:
            function = orig_function_and_class_names_from_key(mutant.name)[0].rpartition(".")[2]
            diff = _mutmut(workspace, "show", mutant.name)
            line, original, mutated = change_of(diff, (workspace / mutant.path).read_text(), function)
            change = f"{project.prefix}{mutant.path}:{line}  {original} -> {mutated}"
        verdicts.append(Verdict(mutant, status, change))
    return verdicts


def rate(verdicts: list[Verdict]) -> float:
    counted = [v for v in verdicts if v.status not in NOT_COUNTED]
    return sum(v.status in DETECTED for v in counted) / len(counted) if counted else 1.0


def report(verdicts: list[Verdict], seed: int) -> bool:
    """Per folder: killed, survived, timed out, no tests; then the survivors. True when on target."""
    folders = sorted({v.mutant.folder for v in verdicts})
    print(f"\nseed {seed}, {len(verdicts)} mutants")
    columns = ("sampled", "killed", "survived", "timeout", "no tests", "other", "rate")
    print(f"{'folder':12} " + " ".join(f"{c:>8}" for c in columns))
    on_target = True
    for folder in [*folders, "overall"]:
        group = [v for v in verdicts if folder in ("overall", v.mutant.folder)]
        count = Counter(v.status for v in group)
        other = len(group) - sum(count[s] for s in ("killed", "survived", "timeout", "no tests"))
        share = rate(group)
        on_target &= share >= (TARGET_OVERALL if folder == "overall" else TARGET_FOLDER)
        cells = [len(group), count["killed"], count["survived"], count["timeout"], count["no tests"], other]
        print(f"{folder:12} " + " ".join(f"{c:8}" for c in cells) + f" {share:8.0%}")
    undetected = [v for v in verdicts if v.change]
    if undetected:
        print("\nnot detected:")
        for verdict in sorted(undetected, key=lambda v: v.change):
            print(f"  {verdict.change}   [{verdict.status}: {verdict.mutant.name}]")
    print(
        f"\ntargets: {TARGET_OVERALL:.0%} overall, {TARGET_FOLDER:.0%} per folder: {'met' if on_target else 'NOT met'}"
    )
    return on_target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=None, help="sample seed (default: a new one, printed)")
    parser.add_argument("--size", type=int, default=150, help="mutants in the sample, all projects together")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="mutants run at once")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    print(f"seed {seed} (again: make mutation SEED={seed})", flush=True)
    started = time.monotonic()
    workspaces = {project: prepare(project) for project in PROJECTS}
    mutants = [m for project, workspace in workspaces.items() for m in every_mutant(project, workspace)]
    sample = draw(mutants, args.size, seed)
    print(f"{len(sample)} of {len(mutants)} mutants drawn; workspaces under {WORKSPACES}", flush=True)
    verdicts = []
    for project, workspace in workspaces.items():
        chosen = [m for m in sample if m.project == project]
        began = time.monotonic()
        verdicts += run_project(project, chosen, workspace, args.jobs)
        print(f"{project.name}: {len(chosen)} mutants in {time.monotonic() - began:.0f} s", flush=True)
    on_target = report(verdicts, seed)
    print(f"elapsed {time.monotonic() - started:.0f} s")
    return 0 if on_target else 1


if __name__ == "__main__":
    sys.exit(main())
