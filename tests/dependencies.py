"""The engine's dependency graph as the program registered it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def ancestors(registrations: Iterable[dict[str, Any]], urn: str) -> set[str]:
    """Every URN that `urn` waits for, directly or through others (dependencies and property dependencies)."""
    by_urn = {r["urn"]: r for r in registrations}
    seen: set[str] = set()
    todo = [urn]
    while todo:
        current = by_urn[todo.pop()]
        deps = set(current["dependencies"]) | {u for us in current["property_dependencies"].values() for u in us}
        todo += list(deps - seen)
        seen |= deps
    return seen
