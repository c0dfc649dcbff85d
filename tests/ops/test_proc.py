"""ops.proc.run: how every ops command starts a tool, and what a failure to start looks like."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ops.proc import ROOT, run


def test_tools_run_in_the_project_directory_wherever_make_was_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pulumi finds Pulumi.yaml, and kind the relative paths, from the project directory."""
    monkeypatch.chdir(tmp_path)
    here = run(["pwd"])
    assert here is not None and Path(here.stdout.strip()) == ROOT
    there = run(["pwd"], cwd=tmp_path)
    assert there is not None and Path(there.stdout.strip()) == tmp_path


def test_a_missing_program_is_none_and_one_that_cannot_run_is_126(tmp_path: Path) -> None:
    assert run(["wal-no-such-tool"]) is None
    script = tmp_path / "tool"
    script.write_text("#!/bin/sh\necho hi\n")
    os.chmod(script, 0o644)
    refused = run([str(script)])
    assert refused is not None and refused.returncode == 126 and refused.stderr == f"{script}: permission denied"


def test_a_tool_that_hangs_is_stopped_with_a_line_that_names_it_and_the_limit() -> None:
    result = run(["sleep", "30"], timeout=0.5)
    assert result is not None
    assert (result.returncode, result.stderr) == (124, "sleep 30 gave no answer within 0.5 s")
