"""Credentials: refused in plain text, and wal-service:apiKeys refused in one line naming the key, never a token."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from components.credentials import API_KEY_ROLES, GENERATED_KEY_NAME, ApiKeyEntry, parse_api_keys

if TYPE_CHECKING:
    from tests.conftest import MockRuns

PLAINTEXT_PASSWORD = ("prod", ("wal-service:databasePassword=hunter2-plain",), ())


def api_keys(value: str) -> str:
    return f"wal-service:apiKeys={{secret: '{value}'}}"


GOOD = "Y" * 40
REFUSED: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], str]] = {
    # name: (stack, sets, unsets, a fragment the one-line error must hold)
    "plain-text": ("prod", (f"wal-service:apiKeys=ci:writer:{GOOD}",), (), "stored in plain text"),
    "production-without-keys": ("prod", (), ("wal-service:apiKeys",), "appEnv is production"),
    "no-key-at-all": ("dev", ("wal-service:generateApiKey=false",), (), "generateApiKey is false"),
    "bad-role": ("dev", (api_keys(f"ci:admin:{GOOD}"),), (), "entry 1 (ci) has role 'admin'"),
    "short-token": ("dev", (api_keys("ci:writer:tooshort"),), (), "entry 1 (ci) needs a token of 32-512"),
    "token-in-the-name-place": ("dev", (api_keys(f"{GOOD}:writer:ci"),), (), "entry 1 must be name:role:token"),
    "two-fields": ("dev", (api_keys(f"ci:{GOOD}"),), (), "entry 1 must be name:role:token"),
    "reserved-name": ("dev", (api_keys(f"generated:writer:{GOOD}"),), (), "belongs to the key generateApiKey"),
    "same-name": (
        "dev",
        (api_keys(f"ci:writer:{GOOD}, ci:reader:{'Z' * 40}"),),
        (),
        "entry 2 (ci): the name appears twice",
    ),
    "same-token": ("dev", (api_keys(f"ci:writer:{GOOD},dash:reader:{GOOD}"),), (), "entry 2 (dash) has the same token"),
}


@pytest.fixture(scope="module", autouse=True)
def _prefetch(mockruns: MockRuns) -> None:
    scenarios = [mockruns.scenario(stack, sets, unsets) for stack, sets, unsets, _ in REFUSED.values()]
    mockruns.prefetch([*scenarios, mockruns.scenario(*PLAINTEXT_PASSWORD)])


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_bad_api_keys_are_refused_in_one_line_naming_the_key_never_the_token(
    mockruns: MockRuns, case: tuple[str, tuple[str, ...], tuple[str, ...], str]
) -> None:
    stack, sets, unsets, fragment = case
    result = mockruns.get(stack, sets, unsets)
    assert result.returncode == 2 and result.error, f"stack {stack} with {sets}: accepted"
    assert "\n" not in result.error and "Traceback" not in result.stderr, result.stderr
    assert result.error.startswith("wal-service:apiKeys"), result.error
    assert fragment in result.error, result.error
    assert "pulumi config set --secret wal-service:apiKeys" in result.error, result.error
    for token in (GOOD, "tooshort", "Z" * 40):
        assert token not in result.error + result.stderr, "the error echoes a token"
    assert result.registrations == [], f"{len(result.registrations)} resources registered before the error"


def test_plaintext_database_password_is_refused(mockruns: MockRuns) -> None:
    # Replaces the `secure:` value every prod run starts with by a plain one.
    stack, sets, unsets = PLAINTEXT_PASSWORD
    result = mockruns.get(stack, sets, unsets)
    assert result.returncode == 2, f"stack {stack}: a plain-text databasePassword was accepted"
    assert result.error and "\n" not in result.error
    assert "pulumi config set --secret wal-service:databasePassword" in result.error, result.error
    assert "hunter2-plain" not in result.error + result.stderr, "the error echoes the plain-text password"
    assert result.registrations == [], f"stack {stack}: resources registered before the error"


def test_entries_are_separated_by_commas_or_white_space() -> None:
    second = "Z" * 40
    assert parse_api_keys(f" ci:writer:{GOOD},\n dash:reader:{second} ") == [
        ApiKeyEntry("ci", "writer", GOOD),
        ApiKeyEntry("dash", "reader", second),
    ]
    assert parse_api_keys("") == []


def test_an_entry_never_shows_its_token() -> None:
    assert GOOD not in repr(ApiKeyEntry("ci", "writer", GOOD))
    with pytest.raises(ValueError) as refused:
        parse_api_keys(f"ci:admin:{GOOD}")
    assert GOOD not in str(refused.value)


def test_the_roles_are_the_services() -> None:
    """The service decides what a role may do (wal_service.auth): a role it does not know would refuse the key."""
    from wal_service.auth import ROLES

    assert API_KEY_ROLES == ROLES


def test_the_generated_name_is_refused_for_a_configured_key() -> None:
    with pytest.raises(ValueError, match="belongs to the key generateApiKey makes"):
        parse_api_keys(f"{GENERATED_KEY_NAME}:writer:{GOOD}")
