"""ops.stack: the environment every pulumi call gets (state backend, secrets passphrase)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops import stack as stack_mod
from ops.proc import UserError


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_local_stacks_default_to_the_public_passphrase_and_local_state(stack: str, tmp_path: Path) -> None:
    env = stack_mod.pulumi_env(stack, {}, state_dir=tmp_path / "state")
    assert env["PULUMI_CONFIG_PASSPHRASE"] == stack_mod.DEV_PASSPHRASE
    assert env["PULUMI_BACKEND_URL"] == f"file://{tmp_path / 'state'}" and (tmp_path / "state").is_dir()


def test_prod_refuses_the_public_passphrase(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="PULUMI_CONFIG_PASSPHRASE"):
        stack_mod.pulumi_env("prod", {}, state_dir=tmp_path)
    env = stack_mod.pulumi_env("prod", {"PULUMI_CONFIG_PASSPHRASE_FILE": "/run/secrets/p"}, state_dir=tmp_path)
    assert "PULUMI_CONFIG_PASSPHRASE" not in env


def test_the_users_backend_and_passphrase_win(tmp_path: Path) -> None:
    base = {"PULUMI_BACKEND_URL": "s3://team-state", "PULUMI_CONFIG_PASSPHRASE": "team"}
    env = stack_mod.pulumi_env("dev", base, state_dir=tmp_path / "unused")
    assert (env["PULUMI_BACKEND_URL"], env["PULUMI_CONFIG_PASSPHRASE"]) == ("s3://team-state", "team")
    assert not (tmp_path / "unused").exists()
