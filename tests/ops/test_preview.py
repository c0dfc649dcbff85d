"""ops.preview: `make preview` works on a fresh clone and runs what a user would type."""

from __future__ import annotations

import pytest

from ops import preview
from ops import stack as stack_mod
from tests.ops.conftest import Commands


@pytest.mark.parametrize(("stack", "select"), [
    ("dev", ["pulumi", "stack", "select", "--create", "dev"]),
    ("prod", ["pulumi", "stack", "select", "prod"]),
])  # fmt: skip
def test_preview_selects_the_stack_first_then_runs_it_with_the_pack(
    stack: str, select: list[str], monkeypatch: pytest.MonkeyPatch, commands: Commands
) -> None:
    """Before the first `up` there is no stack: a bare `pulumi preview` would fail with "no stack named dev"."""
    monkeypatch.setattr(preview.tools, "ensure", lambda *_a, **_k: [])
    monkeypatch.setattr(stack_mod, "run", commands.run)
    monkeypatch.setattr(preview, "stream", commands.stream)
    assert preview.main(["--stack", stack]) == 0
    assert commands.ran == [select, ["pulumi", "preview", "--stack", stack, "--policy-pack", "policy"]]
