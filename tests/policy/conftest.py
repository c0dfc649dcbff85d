"""Fixtures for the policy pack tests: the rendered stacks, cached once per session."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policy.engine import Pack


@pytest.fixture(scope="session")
def pack() -> Pack:
    return Pack()


@pytest.fixture(scope="session")
def stack_record(mockruns: Any) -> Any:
    """`stack_record(stack)`: the mock-run record of an unmodified stack (the shared session cache of
    tests/conftest.py, which runs `tools.mockrun` exactly as `tools.render.run_stack` does and gives
    prod its `secure:` database password)."""

    def get(stack: str) -> dict[str, Any]:
        result = mockruns.get(stack)
        assert result.returncode == 0 and result.error is None, f"stack {stack} failed: {result.error or result.stderr}"
        record: dict[str, Any] = result.record
        return record

    return get
