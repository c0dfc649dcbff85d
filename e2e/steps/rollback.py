"""`make rollback` by digest through the real stack history."""

from __future__ import annotations

import sys

from e2e.harness import DIGEST_A, DIGEST_B, IMAGE_REPO, PROJECT, STACK, E2EFailure, Run
from e2e.plan import step


@step("rollback by digest through the real stack history")
def rollback_by_digest(run: Run) -> None:
    run.pulumi("config", "set", f"{PROJECT}:imageRef", f"{IMAGE_REPO}@{DIGEST_B}")
    run.up()
    run.sh(sys.executable, "-m", "ops.rollback", "--stack", STACK, "--to", DIGEST_A)
    image = run.deployment()["spec"]["template"]["spec"]["containers"][0]["image"]
    if image != f"{IMAGE_REPO}@{DIGEST_A}":
        raise E2EFailure(f"after rollback the Deployment runs {image}, not the first release's digest")
