"""The first deployment: the stack's secrets, a preview and an up with the policy pack."""

from __future__ import annotations

import yaml

from e2e.harness import PROJECT, ROOT, STACK, E2EFailure, Run
from e2e.plan import step


@step("the committed encryptionsalt opens with the public passphrase and stack init keeps it")
def committed_salt(run: Run) -> None:
    """Every machine shares dev's secrets: `stack init` reused the salt Pulumi.dev.yaml commits (it would mint
    a new one, and rewrite the file, otherwise) and a secret set with the public passphrase reads back."""
    committed = yaml.safe_load((ROOT / f"Pulumi.{STACK}.yaml").read_text())["encryptionsalt"]
    now = yaml.safe_load((run.work / f"Pulumi.{STACK}.yaml").read_text()).get("encryptionsalt")
    if now != committed:
        raise E2EFailure(f"stack init replaced the committed encryptionsalt {committed} with {now}")
    probe = f"{PROJECT}:e2eSecretProbe"
    run.pulumi("config", "set", "--secret", probe, "opened-with-the-public-passphrase")
    try:
        value = run.pulumi("config", "get", probe).stdout.strip()
    finally:
        run.pulumi("config", "rm", probe)
    if value != "opened-with-the-public-passphrase":
        raise E2EFailure(f"the secret read back as {value!r}")


@step("pulumi preview with the policy pack")
def preview(run: Run) -> None:
    run.preview()


@step("pulumi up with the policy pack (workloads Ready, Gateway Programmed, HTTPRoute Accepted)")
def up(run: Run) -> None:
    run.start_gateway_controller()
    run.up()
