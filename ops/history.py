"""A stack's update history (`pulumi stack history`): which image each successful update deployed."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from components.image_ref import image_digest, image_version
from ops.proc import UserError, run

IMAGE_REF_KEY = "wal-service:imageRef"


@dataclass(frozen=True)
class Deployed:
    """An update in the stack's history that deployed the wanted revision."""

    version: int
    tag: str
    digest: str
    """sha256:..., or "" when the update built the image (history keeps config, not outputs)."""


def app_revision_at(commit: str) -> str:
    """The image tag a build from `commit` got: the last commit that changed app/ (components.image.source_revision);
    the commit itself when this clone cannot tell."""
    result = run(["git", "log", "-1", "--format=%h", "--abbrev=12", commit, "--", "app"], timeout=20)
    return result.stdout.strip() if result and result.ok and result.stdout.strip() else commit[:12]


def successful_updates(history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stack's successful updates, newest first."""
    updates = [u for u in history if u.get("kind") == "update" and u.get("result") == "succeeded"]
    return sorted(updates, key=lambda u: int(u.get("version", 0)), reverse=True)


def update_image(
    update: dict[str, Any], app_revision: Callable[[str], str] = app_revision_at
) -> tuple[Deployed, str] | None:
    """What one update deployed, and the git commit it ran from ("" for a pinned imageRef)."""
    version = int(update.get("version", 0))
    ref = str(((update.get("config") or {}).get(IMAGE_REF_KEY) or {}).get("value") or "")
    if ref:
        return Deployed(version, image_version(ref), image_digest(ref)), ""
    environment = update.get("environment") or {}
    head = str(environment.get("git.head", ""))
    if not head:
        return None
    dirty = str(environment.get("git.dirty", "")).lower() == "true"
    return Deployed(version, app_revision(head) + ("-dirty" if dirty else ""), ""), head


def find_in_history(
    history: Sequence[dict[str, Any]], revision: str, app_revision: Callable[[str], str] = app_revision_at
) -> Deployed | None:
    """The newest successful update that ran `revision`: by its imageRef, or by the git commit it ran from."""
    for update in successful_updates(history):
        # Match on the commit as recorded; ask git for the app revision (the tag) of the match only.
        found = update_image(update, lambda head: head)
        if found is None:
            continue
        image, commit = found
        if not commit:  # a pinned image, whatever commit the program ran from
            if image.tag.startswith(revision) or image.digest.removeprefix("sha256:").startswith(revision):
                return image
        elif commit.startswith(revision.removesuffix("-dirty")):
            tagged = update_image(update, app_revision)
            return tagged[0] if tagged else image
    return None


def read_history(stack: str, env: dict[str, str]) -> list[dict[str, Any]]:
    result = run(["pulumi", "stack", "history", "--json", "--stack", stack], env=env, timeout=60)
    if result is None or not result.ok:
        raise UserError(f"pulumi stack history failed: {result.first_error_line() if result else 'no pulumi'}")
    data = json.loads(result.stdout or "[]")
    return data if isinstance(data, list) else []
