"""Image references: the grammar the settings accept, and what the program and ops read from a reference."""

from __future__ import annotations

import re

# distribution/reference grammar, simplified: [host[:port]/]path[:tag][@sha256:digest]
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_REF = re.compile(
    rf"^(?:(?P<domain>[A-Za-z0-9.-]+(?::[0-9]+)?)/)?(?P<path>{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
# What a stack file holds before its first promotion: a digest no registry serves.
PLACEHOLDER_DIGEST = "@sha256:" + "0" * 64


def image_ref(value: str) -> str:
    """A field validator: empty, or a reference pinned by a tag other than latest or by a digest."""
    if not value:
        return value
    match = _IMAGE_REF.match(value)
    if not match or not (match.group("tag") or match.group("digest")):
        raise ValueError(
            "must be an image reference with a tag or digest, such as registry.example.com/wal-service@sha256:<64 hex>"
        )
    if match.group("tag") == "latest" and not match.group("digest"):
        raise ValueError("':latest' moves under you; deploy an immutable tag or, better, the digest")
    return value


def image_version(ref: str) -> str:
    """A label-safe version for an image reference: its tag, else the digest's first 12 hex digits."""
    match = _IMAGE_REF.match(ref)
    if match and match.group("tag"):
        return match.group("tag")[:63]
    return match.group("digest")[7:19] if match and match.group("digest") else "unknown"


def image_digest(ref: str) -> str:
    """The sha256:... digest of a reference, or "" when it has only a tag."""
    match = _IMAGE_REF.match(ref)
    return (match.group("digest") or "") if match else ""
