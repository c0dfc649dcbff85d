"""`make mutation` (tools/mutation.py): the sample it draws, and how it reads mutmut's verdicts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tools import mutation
from tools.mutation import Mutant, Project, Verdict

PROGRAM, SERVICE = mutation.PROJECTS


def mutants(folder: str, count: int) -> list[Mutant]:
    project = SERVICE if folder.startswith("app/") else PROGRAM
    path = folder.removeprefix("app/") + "/module.py"
    return [Mutant(project, f"{folder.replace('/', '.')}.module.x_f__mutmut_{n}", path) for n in range(1, count + 1)]


def test_a_mutant_belongs_to_the_top_folder_of_its_repository_path() -> None:
    assert Mutant(PROGRAM, "ops.diagnose.dns.x_f__mutmut_1", "ops/diagnose/dns.py").folder == "ops"
    assert Mutant(SERVICE, "wal_service.app.x_f__mutmut_1", "src/wal_service/app.py").folder == "app/src"


def test_the_sample_is_split_in_proportion_to_each_folders_mutants() -> None:
    share = mutation.quotas({"components": 500, "ops": 300, "policy": 200}, 100)
    assert share == {"components": 50, "ops": 30, "policy": 20}


def test_the_remainder_goes_to_the_largest_fractions_and_the_total_is_exact() -> None:
    # 100 * 1/3 each: 33.33 apiece, one left over.
    share = mutation.quotas({"a": 10, "b": 10, "c": 10}, 100)
    assert sum(share.values()) == 30, "never more than a folder has"
    share = mutation.quotas({"a": 300, "b": 300, "c": 301}, 100)
    assert sum(share.values()) == 100 and share["c"] == 34


def test_a_small_folder_gets_enough_mutants_for_its_rate_to_mean_something() -> None:
    share = mutation.quotas({"components": 5000, "tools": 100}, 150)
    assert share["tools"] == mutation.MIN_PER_FOLDER
    assert share["components"] == 147
    assert mutation.quotas({"components": 5000, "tools": 3}, 150)["tools"] == 3


def test_the_same_seed_draws_the_same_sample_and_another_seed_another() -> None:
    pool = mutants("components", 400) + mutants("ops", 300) + mutants("app/src", 100)
    first = mutation.draw(pool, 150, seed=7)
    assert mutation.draw(list(reversed(pool)), 150, seed=7) == first, "the order mutants are listed in must not matter"
    assert mutation.draw(pool, 150, seed=8) != first
    assert len(first) == len({m.name for m in first}) == 150
    counts = {folder: sum(m.folder == folder for m in first) for folder in ("components", "ops", "app/src")}
    assert counts == {"components": 75, "ops": 56, "app/src": 19}


RESULTS = """\
    components.settings.xǁSettingsǁconflicts__mutmut_3: survived
    ops.verify.x_main__mutmut_12: killed
    wal_service.store.xǁStoreǁread__mutmut_25: no tests
    ops.verify.x_main__mutmut_13: caught by type check
"""


def test_mutmut_results_are_read_per_mutant_whatever_the_status_words() -> None:
    assert mutation.statuses(RESULTS) == {
        "components.settings.xǁSettingsǁconflicts__mutmut_3": "survived",
        "ops.verify.x_main__mutmut_12": "killed",
        "wal_service.store.xǁStoreǁread__mutmut_25": "no tests",
        "ops.verify.x_main__mutmut_13": "caught by type check",
    }


SOURCE = """\
def first(x):
    if x > 1:
        return x
    return 0


class Holder:
    def second(self, x):
        y = x
        if x > 1:
            return y
        return 1
"""

DIFF = """\
--- components/example.py
+++ components/example.py
@@ -1,5 +1,5 @@
 def second(self, x):
     y = x
-    if x > 1:
+    if x >= 1:
         return y
"""


def test_a_survivor_is_shown_at_its_line_in_its_own_function() -> None:
    # The same text is in `first` too: the line must be the one inside `second`.
    assert mutation.change_of(DIFF, SOURCE, "second") == (10, "if x > 1:", "if x >= 1:")


def verdicts(folder: str, killed: int, survived: int, timeout: int = 0, no_tests: int = 0) -> list[Verdict]:
    pool = iter(mutants(folder, killed + survived + timeout + no_tests))
    return (
        [Verdict(next(pool), "killed") for _ in range(killed)]
        + [Verdict(next(pool), "survived", f"{folder}/module.py:1  a -> b") for _ in range(survived)]
        + [Verdict(next(pool), "timeout") for _ in range(timeout)]
        + [Verdict(next(pool), "no tests", f"{folder}/module.py:2  c -> d") for _ in range(no_tests)]
    )


def test_timeouts_are_detected_and_mutants_no_test_reaches_are_not() -> None:
    assert mutation.rate(verdicts("ops", killed=8, survived=0, timeout=2)) == 1.0
    assert mutation.rate(verdicts("ops", killed=8, survived=0, no_tests=2)) == 0.8
    skipped = [*verdicts("ops", killed=1, survived=1), Verdict(mutants("ops", 1)[0], "skipped")]
    assert mutation.rate(skipped) == 0.5, "a skipped mutant is not counted either way"


def test_every_folder_must_reach_its_own_target_not_only_the_total(capsys: pytest.CaptureFixture[str]) -> None:
    # 95% overall, but tools is at 80%.
    weak_folder = verdicts("components", killed=150, survived=0) + verdicts("tools", killed=40, survived=10)
    assert mutation.report(weak_folder, seed=3) is False
    assert mutation.report(verdicts("components", killed=90, survived=10), seed=3) is True
    assert mutation.report(verdicts("components", killed=89, survived=11), seed=3) is False
    out = capsys.readouterr().out
    assert "tools/module.py:1  a -> b" in out, "each survivor is shown"
    assert "seed 3" in out


def test_the_workspace_holds_the_working_tree_and_a_git_checkout_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mutation, "WORKSPACES", tmp_path)
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("def f(x):\n    return x + 1\n")
    (root / ".gitignore").write_text("ignored.txt\n")
    (root / "ignored.txt").write_text("not copied\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "pkg"], cwd=root, check=True)
    (root / "untracked.py").write_text("x = 1\n")

    workspace = mutation.prepare(Project("demo", root, ""))

    listed = subprocess.run(["git", "ls-files"], cwd=workspace / "mutants", capture_output=True, text=True, check=True)
    assert sorted(listed.stdout.split()) == [".gitignore", "pkg/mod.py", "untracked.py"]
    assert (workspace / "pkg" / "mod.py").read_text() == (root / "pkg" / "mod.py").read_text()
    assert not (workspace / "ignored.txt").exists()


def test_mutants_are_listed_by_mutmuts_own_generator_under_its_own_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["pkg"]\n')
    (tmp_path / "pkg" / "mod.py").write_text(
        "import functools\n\n\ndef f(x):\n    return x + 1\n\n\n@functools.cache\ndef g(x):\n    return x - 1\n"
    )
    project = Project("demo", tmp_path, "")

    found = mutation.every_mutant(project, tmp_path)

    assert found and {m.path for m in found} == {"pkg/mod.py"}
    assert all(m.name.startswith("pkg.mod.x_f__mutmut_") for m in found), "mutmut leaves decorated functions alone"
    assert Path.cwd() != tmp_path, "the working directory is given back"
