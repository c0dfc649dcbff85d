"""Rendered (mock) object versus live object: every field the program sets must be what the API server holds.

The API server adds defaults and status, so only the rendered side is walked. It also drops empty maps and
lists and writes quantities in canonical form ("0.5" -> "500m"); neither is a difference. Secret values are
masked in renders, so a Secret's data is not compared (its metadata and type are), nor are the pod-template
checksums of Secret data (`checksum/secret...`): the render's come from placeholder secrets.
"""

from __future__ import annotations

from typing import Any

from kubernetes.utils import parse_quantity

SECRET_CHECKSUM = "checksum/secret"


def _same_quantity(a: Any, b: Any) -> bool:
    if not isinstance(a, str | int | float) or not isinstance(b, str | int | float):
        return False
    try:
        return bool(parse_quantity(a) == parse_quantity(b))  # type: ignore[no-untyped-call]
    except ValueError:
        return False


def _walk(path: str, want: Any, have: Any, out: list[str]) -> None:
    if isinstance(want, dict):
        if not isinstance(have, dict):
            if want or have is not None:
                out.append(f"{path}: want a map, live has {have!r}")
            return
        for key, value in want.items():
            if key not in have:
                if value not in ({}, [], None, ""):
                    out.append(f"{path}.{key}: missing in the live object")
                continue
            _walk(f"{path}.{key}", value, have[key], out)
    elif isinstance(want, list):
        if not isinstance(have, list) or len(have) != len(want):
            if want or have is not None:
                out.append(f"{path}: want {len(want)} items, live has {have!r}")
            return
        for i, (w, h) in enumerate(zip(want, have, strict=True)):
            _walk(f"{path}[{i}]", w, h, out)
    elif path.rsplit(".", 1)[-1].startswith(SECRET_CHECKSUM):
        return
    elif want != have and not _same_quantity(want, have):
        out.append(f"{path}: want {want!r}, live has {have!r}")


def differences(rendered: dict[str, Any], live: dict[str, Any]) -> list[str]:
    """One line per field the rendered object sets that the live object does not hold."""
    out: list[str] = []
    for key, value in rendered.items():
        if key == "status" or (rendered.get("kind") == "Secret" and key in ("stringData", "data")):
            continue
        _walk(key, value, live.get(key), out)
    return out
