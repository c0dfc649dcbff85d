"""Credentials from stack config: refused unless encrypted, and the API keys parsed from theirs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pulumi

from components.settings import Settings
from components.stack_config import PROJECT, engine_config


def load_secret(key: str) -> pulumi.Output[str] | None:
    """A credential from stack config; None when unset. Plain-text values are refused."""
    full = f"{PROJECT}:{key}"
    if not engine_config().get(key):
        return None
    if not pulumi.runtime.config.is_config_secret(full):
        raise pulumi.RunError(
            f"{full} is stored in plain text; remove it and run: pulumi config set --secret {full} <value>"
        )
    return pulumi.Config(PROJECT).require_secret(key)


API_KEY_ROLES = ("reader", "writer")
# The key stacks generate (generateApiKey) is called this; configured keys need other names.
GENERATED_KEY_NAME = "generated"
_KEY_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# RFC 6750 bearer token characters (what the service accepts); 32 characters at least, so no guessable key.
_TOKEN = re.compile(r"^[A-Za-z0-9._~+/-]{32,512}={0,2}$")
NEW_TOKEN_COMMAND = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


@dataclass(frozen=True)
class ApiKeyEntry:
    """One key of wal-service:apiKeys."""

    name: str
    role: str
    token: str = field(repr=False)


def parse_api_keys(raw: str) -> list[ApiKeyEntry]:
    """`name:role:token` entries separated by commas or white space. A ValueError names the entry by its position
    (and name, once that is valid), never by its text: it may hold a token."""
    entries: list[ApiKeyEntry] = []
    for position, text in enumerate((part for part in re.split(r"[,\s]+", raw) if part), start=1):
        name, role, token = ([*text.split(":", 2), "", ""])[:3]
        where = f"entry {position}"
        if text.count(":") != 2 or not _KEY_NAME.match(name):
            raise ValueError(
                f"{where} must be name:role:token, the name a lower-case DNS label (letters, digits and '-', at "
                "most 63 characters)"
            )
        where = f"entry {position} ({name})"
        if role not in API_KEY_ROLES:
            raise ValueError(f"{where} has role {role!r}; a key is a reader (GET) or a writer (GET and POST)")
        if not _TOKEN.match(token):
            raise ValueError(
                f"{where} needs a token of 32-512 characters of A-Z a-z 0-9 - . _ ~ + / (RFC 6750), such as what "
                f"{NEW_TOKEN_COMMAND} prints"
            )
        if name == GENERATED_KEY_NAME:
            raise ValueError(f"{where}: the name {GENERATED_KEY_NAME!r} belongs to the key generateApiKey makes")
        if any(entry.name == name for entry in entries):
            raise ValueError(f"{where}: the name appears twice; each key needs its own")
        if any(entry.token == token for entry in entries):
            raise ValueError(f"{where} has the same token as another entry; each key needs its own")
        entries.append(ApiKeyEntry(name, role, token))
    return entries


def load_api_keys(settings: Settings) -> list[ApiKeyEntry]:
    """The keys of wal-service:apiKeys, refused in plain text, malformed, or missing where the stack needs them."""
    full = f"{PROJECT}:apiKeys"
    fix = (
        f'pulumi config set --secret {full} "<name>:<reader|writer>:$({NEW_TOKEN_COMMAND})" -s {settings.stack} '
        "(more keys: comma-separated)"
    )
    raw = engine_config().get("apiKeys", "")
    if raw and not pulumi.runtime.config.is_config_secret(full):
        raise pulumi.RunError(
            f"{full} is stored in plain text, tokens included; remove it (pulumi config rm {full} -s "
            f"{settings.stack}), treat its tokens as leaked, and set new ones: {fix}"
        )
    try:
        entries = parse_api_keys(raw)
    except ValueError as exc:
        raise pulumi.RunError(f"{full}: {exc}; set it again: {fix}") from None
    if not entries and settings.app_env == "production":
        raise pulumi.RunError(
            f"{full} is not set but appEnv is production, where every client holds a key of its own, named "
            f"after it (the access log names the key behind each request); run: {fix}"
        )
    if not entries and not settings.generate_api_key:
        raise pulumi.RunError(
            f"{full} is empty and generateApiKey is false, so the service would know no key and refuse every "
            f"request under /api/v1/logs/; set generateApiKey to true or run: {fix}"
        )
    return entries
