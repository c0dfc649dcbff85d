"""ops.stack: the environment every pulumi call gets, and the stack selection make runs first."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.stack_checks import effective_backend, stack_settings
from ops import stack as stack_mod
from ops.proc import Result, UserError, command_line
from tests.ops.conftest import Commands


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_local_stacks_default_to_the_public_passphrase(stack: str) -> None:
    env = stack_mod.pulumi_env(stack, {})
    assert env["PULUMI_CONFIG_PASSPHRASE"] == stack_mod.DEV_PASSPHRASE
    assert "PULUMI_BACKEND_URL" not in env, "make would use another backend than plain pulumi"


def test_shared_stacks_never_get_the_public_passphrase() -> None:
    # prod's secrets belong to its shared backend; the public passphrase must never encrypt them.
    assert "PULUMI_CONFIG_PASSPHRASE" not in stack_mod.pulumi_env("prod", {})


def test_the_users_backend_and_passphrase_win() -> None:
    base = {"PULUMI_BACKEND_URL": "s3://team-state", "PULUMI_CONFIG_PASSPHRASE": "team"}
    env = stack_mod.pulumi_env("dev", base)
    assert (env["PULUMI_BACKEND_URL"], env["PULUMI_CONFIG_PASSPHRASE"]) == ("s3://team-state", "team")
    assert "PULUMI_CONFIG_PASSPHRASE" not in stack_mod.pulumi_env("dev", {"PULUMI_CONFIG_PASSPHRASE_FILE": "/p"})


def test_the_backend_is_the_one_plain_pulumi_uses() -> None:
    # The CLI's order: PULUMI_BACKEND_URL, then Pulumi.yaml's backend.url (pkg/workspace/creds.go).
    assert effective_backend({}) == "file://~"
    assert effective_backend({"PULUMI_BACKEND_URL": "file:///tmp/e2e/state"}) == "file:///tmp/e2e/state"


def test_the_printed_command_can_be_pasted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    env = stack_mod.pulumi_env("dev", {"PATH": "/bin"})
    assert command_line(["pulumi", "up", "--stack", "dev"], env) == (
        "PULUMI_CONFIG_PASSPHRASE=wal-service-local-dev pulumi up --stack dev"
    )


@pytest.mark.parametrize(("stack", "command"), [
    ("dev", ["pulumi", "stack", "select", "--create", "dev"]),
    # A shared stack is created once, on purpose, in its backend: make never creates it by accident.
    ("prod", ["pulumi", "stack", "select", "prod"]),
])  # fmt: skip
def test_select_creates_only_machine_local_stacks(
    stack: str,
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    commands: Commands,
) -> None:
    monkeypatch.setattr(stack_mod, "run", commands.run)
    stack_mod.select(stack_settings(stack), {})
    assert commands.ran == [command]
    assert capsys.readouterr().out.strip().endswith(" ".join(command))


def test_stack_files_commit_the_salt_of_the_public_passphrase() -> None:
    """A fresh clone's first `pulumi stack init` must not rewrite the stack file (make e2e proves the salt
    opens with the public passphrase, through the real CLI)."""
    root = Path(__file__).resolve().parents[2]
    for stack in sorted(stack_mod.DEV_PASSPHRASE_STACKS):
        text = (root / f"Pulumi.{stack}.yaml").read_text()
        assert "\nencryptionsalt: v1:" in text, f"Pulumi.{stack}.yaml has no encryptionsalt"
    assert "encryptionsalt" not in (root / "Pulumi.prod.yaml").read_text(), "prod's secrets are its backend's"


# --- the token make verify checks the API with ----------------------------------------------------------


def test_verify_takes_the_stacks_token_from_its_secret_output(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []

    def run(args: list[str], **_kwargs: object) -> Result:
        ran.append(list(args))
        return Result(0, "Gen3rAtedT0ken" * 3 + "\n", "")

    monkeypatch.setattr(stack_mod, "run", run)
    token, source = stack_mod.api_token("dev", {"apiToken": "[secret]", "namespace": "n"}, {})
    assert (token, source) == ("Gen3rAtedT0ken" * 3, "the stack output apiToken")
    assert ran == [["pulumi", "stack", "output", "apiToken", "--show-secrets", "--stack", "dev"]]
    # WAL_API_TOKEN wins (a stack that generates no key, or another key on purpose); nothing is run then.
    ran.clear()
    assert stack_mod.api_token("dev", {"apiToken": "[secret]"}, {"WAL_API_TOKEN": " mine-" + "m" * 40 + "\n"}) == (
        "mine-" + "m" * 40,
        "WAL_API_TOKEN",
    )
    assert ran == []
    assert stack_mod.api_token("prod", {"namespace": "n"}, {}) == ("", "")


def test_a_token_that_is_no_bearer_token_is_refused_without_echoing_it() -> None:
    with pytest.raises(UserError) as refused:
        stack_mod.api_token("prod", {}, {"WAL_API_TOKEN": "two words-secretpart"})
    assert "WAL_API_TOKEN is not a bearer token" in str(refused.value)
    assert "secretpart" not in str(refused.value)


def test_the_hint_for_a_kind_stack_is_a_hosts_line_and_a_curl_that_needs_none() -> None:
    dev = stack_settings("dev")
    assert stack_mod.resolve_hint(dev) == [
        "hosts-file line: 127.0.0.1 dev.wal-service.local   "
        "(echo '127.0.0.1 dev.wal-service.local' | sudo tee -a /etc/hosts)",
        "without it: curl --resolve dev.wal-service.local:80:127.0.0.1 http://dev.wal-service.local/api/v1/health",
    ]
    # With TLS the port is the HTTPS one, and curl must accept the local certificate.
    tls = dev.model_copy(update={"tls_secret_name": "wal-tls"})
    assert stack_mod.resolve_hint(tls)[1] == (
        "without it: curl --resolve dev.wal-service.local:443:127.0.0.1 -k https://dev.wal-service.local/api/v1/health"
    )


@pytest.mark.parametrize(
    ("routing", "where"), [("gateway", "the Gateway's address"), ("ingress", "the cluster's ingress address")]
)
def test_the_hint_for_an_existing_cluster_names_what_dns_must_point_at(routing: str, where: str) -> None:
    prod = stack_settings("prod").model_copy(update={"routing": routing})
    assert stack_mod.resolve_hint(prod) == [
        f"DNS for wal-service.example.com must point at {where}; then: curl https://wal-service.example.com/api/v1/health"
    ]


def test_every_up_reads_the_cluster_first_and_runs_the_guardrails_only_where_the_pack_is(tmp_path: Path) -> None:
    """--refresh: a plain up after the cluster lost the stack's objects finds nothing to do (make e2e-faults)."""
    assert stack_mod.up_command("dev") == [
        "pulumi", "up", "--yes", "--refresh", "--stack", "dev", "--policy-pack", "policy"
    ]  # fmt: skip
    # A copy of the program without policy/ (a pack of its own elsewhere): pulumi would fail on a missing pack.
    assert stack_mod.policy_args(tmp_path) == []
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "PulumiPolicy.yaml").write_text("runtime: python\n")
    assert stack_mod.policy_args(tmp_path) == ["--policy-pack", "policy"]


def test_outputs_are_read_from_the_named_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[list[str]] = []

    def run(args: list[str], **_: object) -> Result:
        asked.append(list(args))
        return Result(0, '{"namespace": "wal-service-dev", "url": "http://dev.wal-service.local/"}', "")

    monkeypatch.setattr(stack_mod, "run", run)
    assert stack_mod.outputs("staging", {})["namespace"] == "wal-service-dev"
    assert asked == [["pulumi", "stack", "output", "--json", "--stack", "staging"]]
