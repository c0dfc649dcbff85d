"""make bench-deploy's arithmetic and what it runs: the Pulumi side is make up's own command."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from e2e.bench_deploy import BARE, CASES, KUBECTL, MAKE_UP, SIDES, make_up_args, rotation, spread, table
from e2e.harness import Run

ROOT = Path(__file__).resolve().parent.parent.parent


def test_each_side_goes_first_once_every_three_repetitions() -> None:
    orders = [rotation(rep) for rep in range(3)]
    assert [order[0] for order in orders] == [MAKE_UP, BARE, KUBECTL]
    assert all(sorted(order) == sorted(SIDES) for order in orders)
    assert rotation(3) == rotation(0)


def test_spread_is_the_median_and_the_extremes_whatever_the_order() -> None:
    assert spread([9.0, 1.0, 4.0]) == (4.0, 1.0, 9.0)
    assert spread([2.0, 8.0]) == (5.0, 2.0, 8.0)


def test_the_ratio_is_of_medians_so_one_slow_run_does_not_move_it() -> None:
    samples = {
        MAKE_UP: {case: [3.0, 3.0, 30.0] for case in CASES},
        BARE: {case: [2.0, 2.0, 2.0] for case in CASES},
        KUBECTL: {case: [2.0, 1.0, 2.0] for case in CASES},
    }
    rows = table(samples).splitlines()
    assert len(rows) == 1 + len(CASES)
    fresh = rows[1]
    assert fresh.startswith("fresh deploy")
    assert "3.0s (3.0-30.0)" in fresh and "2.0s (1.0-2.0)" in fresh
    assert fresh.split()[-2:] == ["1.50x", "1.00x"]  # make up / kubectl, bare / kubectl


@pytest.mark.parametrize("pack", [True, False])
def test_the_make_up_side_runs_make_ups_command_without_the_stack(tmp_path: Path, pack: bool) -> None:
    if pack:
        (tmp_path / "policy").mkdir()
        (tmp_path / "policy" / "PulumiPolicy.yaml").write_text("runtime: python\n")
    args = make_up_args(cast(Run, SimpleNamespace(work=tmp_path)))
    assert args == ["up", "--yes", "--refresh", *(["--policy-pack", "policy"] if pack else [])]
