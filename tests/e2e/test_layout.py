"""e2e/ stays in small modules (a harness, a plan, steps by topic) that a newcomer can read one at a time."""

from __future__ import annotations

from pathlib import Path

E2E = Path(__file__).resolve().parent.parent.parent / "e2e"
MAX_LINES = 400


def test_no_e2e_module_above_the_limit() -> None:
    sizes = {path.relative_to(E2E.parent): len(path.read_text().splitlines()) for path in E2E.rglob("*.py")}
    assert sizes, "no modules under e2e/"
    large = {str(path): lines for path, lines in sizes.items() if lines > MAX_LINES}
    assert not large, f"split these along their topics (at most {MAX_LINES} lines each): {large}"
