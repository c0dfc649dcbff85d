"""Image references: what the settings accept, and the version label and digest read from one."""

from __future__ import annotations

import pytest

from components.image_ref import PLACEHOLDER_DIGEST, image_digest, image_ref, image_version

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "registry.example.com/wal-service@" + DIGEST,
        "localhost:6000/wal-service:1f2e3d4",
        "wal-service:v1.2.3@" + DIGEST,
        "registry.example.com/wal-service:latest@" + DIGEST,
    ],
)
def test_pinned_references_are_accepted(ref: str) -> None:
    assert image_ref(ref) == ref


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("registry.example.com/wal-service", "with a tag or digest"),
        ("Registry/Wal:1", "with a tag or digest"),
        ("registry.example.com/wal-service:latest", "':latest' moves under you"),
    ],
)
def test_unpinned_or_malformed_references_are_refused(ref: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        image_ref(ref)


def test_version_is_the_tag_else_the_start_of_the_digest() -> None:
    assert image_version("localhost:6000/wal-service:1f2e3d4") == "1f2e3d4"
    assert image_version("wal-service:v1@" + DIGEST) == "v1"
    assert image_version("registry.example.com/wal-service@" + DIGEST) == "ab" * 6
    assert image_version("not a reference") == "unknown"


def test_digest_is_empty_for_a_tag() -> None:
    assert image_digest("registry.example.com/wal-service@" + DIGEST) == DIGEST
    assert image_digest("localhost:6000/wal-service:1f2e3d4") == ""


def test_the_placeholder_digest_is_a_valid_reference() -> None:
    """prod's file holds it until the first promotion: it must parse, so the refusal can say what to run."""
    ref = "registry.example.com/wal-service" + PLACEHOLDER_DIGEST
    assert image_ref(ref) == ref and image_digest(ref) == PLACEHOLDER_DIGEST.removeprefix("@")
