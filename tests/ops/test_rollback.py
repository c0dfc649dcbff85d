"""Rollback: digest lookup in recorded `pulumi stack history --json` output and the pull reference per registry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.settings import Settings
from components.stack_checks import stack_settings
from ops import history, rollback
from ops.proc import UserError
from tests.ops.conftest import Commands

OLD = "sha256:" + "1" * 64
BUILT = "sha256:" + "2" * 64
# As `pulumi stack history --json` prints it (updateInfoJSON): config and environment, no outputs.
HISTORY: list[dict[str, Any]] = json.loads(
    """[
  {"version": 4, "kind": "update", "startTime": "2026-11-03T09:10:00Z", "message": "rollback",
   "environment": {"exec.kind": "cli", "git.head": "9c0ffee1234567890abcdef1234567890abcdef0", "git.dirty": "false"},
   "config": {"wal-service:imageRef": {"value": "kind-registry:5000/wal-service@OLD_DIGEST", "secret": false},
              "wal-service:host": {"value": "dev.wal-service.local", "secret": false}},
   "result": "succeeded", "endTime": "2026-11-03T09:11:00Z", "resourceChanges": {"same": 30, "update": 1}},
  {"version": 3, "kind": "update", "startTime": "2026-11-02T09:10:00Z", "message": "app: faster commits",
   "environment": {"exec.kind": "cli", "git.head": "9c0ffee1234567890abcdef1234567890abcdef0", "git.dirty": "false"},
   "config": {"wal-service:host": {"value": "dev.wal-service.local", "secret": false}},
   "result": "failed", "endTime": "2026-11-02T09:12:00Z"},
  {"version": 2, "kind": "update", "startTime": "2026-11-01T09:10:00Z", "message": "app: first release",
   "environment": {"exec.kind": "cli", "git.head": "3f2a9c1d7e4b5a6978877665544332211aabbccd", "git.dirty": "true"},
   "config": {"wal-service:host": {"value": "dev.wal-service.local", "secret": false}},
   "result": "succeeded", "endTime": "2026-11-01T09:14:00Z", "resourceChanges": {"create": 31}},
  {"version": 1, "kind": "refresh", "startTime": "2026-11-01T09:00:00Z", "message": "",
   "environment": {}, "config": {}, "result": "succeeded"}
]""".replace("OLD_DIGEST", OLD)
)


def test_reference_uses_the_registry_the_cluster_pulls_from() -> None:
    assert rollback.pull_reference(stack_settings("dev"), OLD) == f"kind-registry:5000/wal-service@{OLD}"
    assert rollback.pull_reference(stack_settings("staging"), OLD) == f"kind-registry-staging:5000/wal-service@{OLD}"
    assert rollback.pull_reference(stack_settings("prod"), OLD) == f"registry.example.com/wal-service@{OLD}"
    with pytest.raises(UserError, match="is not a sha256 digest"):
        rollback.pull_reference(stack_settings("dev"), "sha256:abc")


def test_a_digest_is_used_as_given() -> None:
    assert rollback.resolve_digest(stack_settings("dev"), OLD, lambda: pytest.fail("history not needed")) == OLD


def test_revision_pinned_by_an_earlier_rollback_gives_its_digest() -> None:
    found = history.find_in_history(HISTORY, "1111111111")
    assert found == history.Deployed(4, "111111111111", OLD)


def test_built_revision_is_found_by_commit_and_its_tag_looked_up() -> None:
    found = history.find_in_history(HISTORY, "3f2a9c1")
    assert found == history.Deployed(2, "3f2a9c1d7e4b-dirty", "")
    asked: list[str] = []

    def lookup(_settings: Settings, tag: str) -> str:
        asked.append(tag)
        return BUILT

    assert rollback.resolve_digest(stack_settings("dev"), "3f2a9c1", lambda: HISTORY, lookup) == BUILT
    assert asked == ["3f2a9c1d7e4b-dirty"]


def test_failed_updates_and_unknown_revisions_are_refused() -> None:
    # Version 3 ran 9c0ffee but failed; version 4 pinned an image, so 9c0ffee never ran as a build.
    assert history.find_in_history(HISTORY, "9c0ffee") is None
    with pytest.raises(UserError, match="revision deadbeef was never deployed to stack dev"):
        rollback.resolve_digest(stack_settings("dev"), "deadbeef", lambda: HISTORY)
    with pytest.raises(UserError, match="is neither sha256:<64 hex> nor a git revision"):
        rollback.resolve_digest(stack_settings("dev"), "latest", lambda: HISTORY)


def test_external_registry_without_digest_in_history_says_what_to_do() -> None:
    with pytest.raises(UserError, match="make rollback STACK=prod TO=sha256:<digest>"):
        rollback.registry_digest(stack_settings("prod"), "3f2a9c1d7e4b")


def test_rollback_runs_up_with_the_guardrails_and_prints_each_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], commands: Commands
) -> None:
    """A rollback is an up like any other: the same policy pack as make up and the workflows."""
    monkeypatch.setattr(rollback, "run", commands.run)
    monkeypatch.setattr(rollback, "stream", commands.stream)
    assert rollback.main(["--stack", "dev", "--to", OLD]) == 0
    ref = f"kind-registry:5000/wal-service@{OLD}"
    assert commands.ran == [
        ["pulumi", "config", "set", "wal-service:imageRef", ref, "--stack", "dev"],
        ["pulumi", "up", "--yes", "--refresh", "--stack", "dev", "--policy-pack", "policy"],
    ]
    assert f"pulumi config set wal-service:imageRef {ref} --stack dev" in capsys.readouterr().out


def test_git_is_asked_for_the_app_revision_of_the_match_only() -> None:
    asked: list[str] = []

    def app_revision(commit: str) -> str:
        asked.append(commit)
        return "a99f00dc0ffe"

    # A newer build from another commit: scanned past without a git call.
    newer = {
        "version": 9,
        "kind": "update",
        "result": "succeeded",
        "environment": {"git.head": "b" * 40, "git.dirty": "false"},
        "config": {},
    }
    found = history.find_in_history([newer, *HISTORY], "3f2a9c1", app_revision)
    assert found == history.Deployed(2, "a99f00dc0ffe-dirty", "")
    assert asked == ["3f2a9c1d7e4b5a6978877665544332211aabbccd"], asked
