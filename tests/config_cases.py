"""A bad config value as a test case, and the check every such case gets.

Each case runs the real program under mocks with its overrides, as a user's `pulumi config set` would,
and expects exit 2, one error line naming `wal-service:<key>`, the bad value and what is allowed, and
zero registrations. The tests of the module that refuses a value hold its cases (test_validators,
test_settings, test_stack_checks, test_quota).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from conftest import MockRuns


@dataclass(frozen=True)
class Bad:
    stack: str
    sets: tuple[str, ...]
    key: str
    """The key the message must name, without the project prefix."""
    value: str | None
    """The bad value as the message must quote it (None: the value is empty)."""
    allowed: str
    """A fragment of the message that says what is allowed."""


def prefetch(mockruns: MockRuns, cases: Mapping[str, Bad]) -> None:
    """One parallel batch instead of a second or two per case."""
    mockruns.prefetch(mockruns.scenario(case.stack, case.sets) for case in cases.values())


def assert_refused_before_any_resource(mockruns: MockRuns, case: Bad) -> None:
    result = mockruns.get(case.stack, case.sets)
    where = f"stack {case.stack} with {' '.join(case.sets)}"
    assert result.returncode == 2, f"{where}: exit {result.returncode}, expected 2 (error: {result.error})"
    assert result.error, f"{where}: accepted, the record has no error"
    assert "\n" not in result.error and "Traceback" not in result.stderr, f"{where}: not one line:\n{result.stderr}"
    assert f"wal-service:{case.key}" in result.error, f"{where}: message does not name the key: {result.error}"
    if case.value is not None:
        assert case.value in result.error, f"{where}: message does not quote {case.value}: {result.error}"
    assert case.allowed in result.error, f"{where}: message does not say what is allowed: {result.error}"
    assert result.registrations == [], (
        f"{where}: {len(result.registrations)} resources registered before the error: "
        f"{[r['urn'] for r in result.registrations]}"
    )
    assert f"error: {result.error}" in result.stderr.splitlines(), f"{where}: stderr lacks the error: {result.stderr}"
