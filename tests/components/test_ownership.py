"""Every object the program applies carries patchForce, so `pulumi up --refresh` undoes a `kubectl` edit
instead of stopping at a field-manager conflict (components/ownership.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from components.ownership import PATCH_FORCE

if TYPE_CHECKING:
    from conftest import StackRun


def test_every_applied_object_is_owned(run: StackRun) -> None:
    missing = [str(o) for o in run.objects() if (o.metadata.get("annotations") or {}).get(PATCH_FORCE) != "true"]
    assert not missing, f"stack {run.stack}: objects without {PATCH_FORCE}: {missing}"
