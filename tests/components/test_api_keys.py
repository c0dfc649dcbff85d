"""API keys: the keys file Secret, its mount, the apiToken output and rotation.

The refusals of wal-service:apiKeys are in test_credentials.py, those of featureFlags in test_validators.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

import pulumi
import pytest

from components.api_keys import ApiKey, ApiKeys, ApiKeysArgs
from tests.conftest import PROD_API_KEYS, StackRun
from tools.mockrun import SECRET_SIG, SIG_KEY, _unwrap

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.conftest import MockRuns

KEYS_PATH = "/var/run/secrets/wal-service/api-keys/keys"
TOKEN_A = "tokenA-" + "a" * 40
TOKEN_B = "tokenB-" + "b" * 40
PROD_TOKENS = [entry.split(":", 2)[2] for entry in PROD_API_KEYS.split(",")]


def mock_result(name: str) -> str:
    """What the mock RandomPassword called `name` returns (tools.mockrun._fake_outputs)."""
    return "mock-random-" + hashlib.sha256(name.encode()).hexdigest()[:24]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def keyed(key: str, keys_file: str) -> str:
    """checksums.secret_checksum of a keys Secret: HMAC-SHA256 of its data under the random checksum key."""
    data = json.dumps({"keys": keys_file}, sort_keys=True).encode()
    return hmac.new(key.encode(), data, hashlib.sha256).hexdigest()


def generated_keys_checksum(stack: str) -> str:
    """The keys checksum of a stack whose only key is the generated one (dev, staging)."""
    token = mock_result(f"wal-{stack}-api-keys-token")
    return keyed(mock_result(f"wal-{stack}-api-keys-checksum-key"), f"generated:writer:{sha256(token)}\n")


def secret_strings(value: Any, inside: bool = False) -> Iterator[tuple[bool, str]]:
    """Every string in a wire value, flagged with whether it sits inside a secret wrapper."""
    if isinstance(value, dict):
        secret = value.get(SIG_KEY) == SECRET_SIG
        for key, item in value.items():
            yield inside, str(key)
            yield from secret_strings(item, inside or secret)
    elif isinstance(value, list):
        for item in value:
            yield from secret_strings(item, inside)
    else:
        yield inside, str(value)


def keys_secret(run: StackRun) -> dict[str, Any]:
    (registration,) = [
        r
        for r in run.registrations
        if r["type"] == "kubernetes:core/v1:Secret" and r["inputs"]["metadata"]["name"] == "wal-service-api-keys"
    ]
    return registration


def keys_file(registration: dict[str, Any]) -> str:
    """The Secret's keys file as the cluster gets it (secrets revealed)."""
    wire = registration["wire_inputs"]["stringData"]
    assert wire.get(SIG_KEY) == SECRET_SIG, f"{registration['urn']}: stringData is not a secret"
    content: str = _unwrap(wire, mask=False)["keys"]
    return content


# --- the component, from its args alone --------------------------------------------------------------------


def build_keys(build_component: Callable[..., StackRun], keys: list[ApiKey], generated: str = "") -> StackRun:
    return build_component(
        lambda: ApiKeys("unit-keys", ApiKeysArgs(namespace="unit", labels={}, keys=keys, generated_name=generated))
    )


def test_the_secret_holds_name_role_and_hash_never_the_token(build_component: Any) -> None:
    run = build_keys(
        build_component,
        [ApiKey("ci", "writer", pulumi.Output.secret(TOKEN_A)), ApiKey("dash", "reader", TOKEN_B)],
        generated="generated",
    )
    generated = mock_result("unit-keys-token")
    content = keys_file(keys_secret(run))
    assert content == (
        f"ci:writer:{sha256(TOKEN_A)}\ndash:reader:{sha256(TOKEN_B)}\ngenerated:writer:{sha256(generated)}\n"
    )
    secret = keys_secret(run)
    assert secret["inputs"]["metadata"]["name"] == "wal-service-api-keys"
    assert secret["inputs"]["type"] == "Opaque"
    for registration in run.registrations:
        for inside, text in secret_strings(registration["wire_inputs"]):
            for token in (TOKEN_A, TOKEN_B, generated):
                assert token not in text, f"{registration['urn']}: a token reached the cluster"
            if sha256(TOKEN_A) in text:
                assert inside, f"{registration['urn']}: a key's hash outside a secret"
    (token,) = [r for r in run.registrations if r["name"] == "unit-keys-token"]
    assert token["type"] == "random:index/randomPassword:RandomPassword"
    # Letters and digits only: pasted into a header or a shell, nothing needs quoting.
    assert token["inputs"]["length"] >= 32 and token["inputs"]["special"] is False


def test_the_service_accepts_the_file_the_platform_writes(build_component: Any) -> None:
    """The platform's lines are the service's own format: parsed by wal_service.auth, the tokens are found."""
    from wal_service.auth import Authenticator, parse_keys

    run = build_keys(build_component, [ApiKey("ci", "writer", TOKEN_A), ApiKey("dash", "reader", TOKEN_B)])
    authenticator = Authenticator(parse_keys(keys_file(keys_secret(run))))
    found = [authenticator.identify(token.encode()) for token in (TOKEN_A, TOKEN_B, "neither-" + "n" * 40)]
    assert [(k.name, k.role) if k else None for k in found] == [("ci", "writer"), ("dash", "reader"), None]


def test_a_changed_token_changes_the_keyed_checksum(build_component: Any) -> None:
    checksums: list[str] = []

    def program(token: str) -> Callable[[], None]:
        def build() -> None:
            keys = ApiKeys("unit-keys", ApiKeysArgs("unit", {}, [ApiKey("ci", "writer", pulumi.Output.secret(token))]))
            keys.checksum.apply(checksums.append)

        return build

    for token in (TOKEN_A, TOKEN_A, TOKEN_B):
        build_component(program(token))
    assert checksums[0] == checksums[1] != checksums[2], checksums
    assert checksums[0] == keyed(mock_result("unit-keys-checksum-key"), f"ci:writer:{sha256(TOKEN_A)}\n")
    assert checksums[0] != sha256(f"ci:writer:{sha256(TOKEN_A)}\n"), "a plain hash of the keys file"


def test_the_generated_token_is_a_secret_output(build_component: Any) -> None:
    outputs: list[Any] = []

    def build() -> None:
        keys = ApiKeys("unit-keys", ApiKeysArgs("unit", {}, generated_name="generated"))
        assert keys.token is not None
        pulumi.Output.all(keys.token, keys.token.is_secret()).apply(outputs.append)
        assert keys.names == ["generated:writer"]

    build_component(build)
    assert outputs == [[mock_result("unit-keys-token"), True]]


# --- the stacks ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_kind_stacks_mount_a_generated_writer_key_and_export_its_token(mockruns: MockRuns, stack: str) -> None:
    run = mockruns.get(stack)
    assert run.error is None, run.error
    namespace = f"wal-service-{stack}"
    assert keys_secret(run)["inputs"]["metadata"]["namespace"] == namespace
    assert keys_file(keys_secret(run)) == f"generated:writer:{sha256(mock_result(f'wal-{stack}-api-keys-token'))}\n"
    assert "apiToken" in run.record["secret_outputs"] and run.outputs["apiToken"] == "[secret]"
    assert run.outputs["apiKeys"] == ["generated:writer"]


def test_the_keys_file_is_mounted_read_only_where_the_service_looks(run: StackRun) -> None:
    config = run.one("ConfigMap", "ServiceWorkload").body["data"]
    assert config["API_KEYS_FILE"] == KEYS_PATH
    assert "AUTH" not in config, "a stack must never run the service without keys"
    pod = run.one("Deployment").spec["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    mount = mounts[KEYS_PATH.rsplit("/", 1)[0]]
    assert mount["readOnly"] is True, f"stack {run.stack}: the keys file is writable"
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"] == {
        "secretName": "wal-service-api-keys",
        "items": [{"key": "keys", "path": "keys"}],
        "defaultMode": 0o440,
    }, f"stack {run.stack}: {volume}"


def test_prod_has_only_its_configured_keys(mockruns: MockRuns) -> None:
    run = mockruns.get("prod")
    assert run.error is None, run.error
    assert "apiToken" not in run.outputs, "prod generated an anonymous key"
    assert run.outputs["apiKeys"] == ["orders-writer:writer", "dashboards:reader"]
    assert not [r for r in run.registrations if r["name"].endswith("-api-keys-token")]
    assert keys_file(keys_secret(run)) == "".join(
        f"{name}:{role}:{sha256(token)}\n" for name, role, token in (e.split(":", 2) for e in PROD_API_KEYS.split(","))
    )


def test_prod_tokens_never_appear_in_clear(mockruns: MockRuns) -> None:
    run = mockruns.get("prod")
    texts = json.dumps([r["inputs"] for r in run.registrations]) + json.dumps(run.outputs) + run.stderr
    seen_inside = False
    for token in PROD_TOKENS:
        assert token not in texts, "a token in the masked inputs, the outputs or the log"
        for registration in run.registrations:
            for inside, text in secret_strings(registration["wire_inputs"]):
                if sha256(token) in text:
                    assert inside, f"{registration['urn']}: a key's hash outside a secret"
                    seen_inside = True
                assert token not in text, f"{registration['urn']}: a token reached the cluster"
    assert seen_inside, "the hashes were not found where they belong: the search proves nothing"


def test_rotation_overlaps_then_the_old_key_goes_and_each_step_rolls_the_pods(mockruns: MockRuns) -> None:
    """Rotation in two `up`s: the new key beside the old one, then the old one removed. Both change the Secret,
    and the pods (which read the file at start) roll each time."""
    old, new = "orders-writer:writer:" + "O" * 40, "orders-writer-2:writer:" + "N" * 40
    steps = [old, f"{old},{new}", new]
    runs = [mockruns.get("prod", (f"wal-service:apiKeys={{secret: '{keys}'}}",)) for keys in steps]
    assert [r.error for r in runs] == [None] * 3, [r.error for r in runs]
    assert [r.outputs["apiKeys"] for r in runs] == [
        ["orders-writer:writer"],
        ["orders-writer:writer", "orders-writer-2:writer"],
        ["orders-writer-2:writer"],
    ]
    annotations = [r.one("Deployment").spec["template"]["metadata"]["annotations"]["checksum/secrets"] for r in runs]
    assert len(set(annotations)) == 3, f"a key change did not roll the pods: {annotations}"
    assert keys_file(keys_secret(runs[1])).count(":writer:") == 2
