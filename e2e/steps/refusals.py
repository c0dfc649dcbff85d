"""What must be refused, each with one line that names the cause: bad config, an inert key, a placeholder
image, a foreign state backend, a privileged pod."""

from __future__ import annotations

import json

from e2e.harness import DIGEST_A, IMAGE_REPO, NAMESPACE, PROJECT, E2EFailure, Run
from e2e.plan import step

RESTRICTED_VIOLATION = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "e2e-privileged", "namespace": NAMESPACE},
    "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}]},
}


@step("a bad config value fails the real preview with one line and no traceback")
def bad_value(run: Run) -> None:
    run.expect_refused(f"{PROJECT}:logLevel", "LOUD")


@step("API keys in plain text (no --secret) fail the real preview with one line, the token not in it")
def plain_api_keys(run: Run) -> None:
    token = "P" * 40
    run.expect_refused(f"{PROJECT}:apiKeys", f"e2e-plain:writer:{token}")


@step("a key of the disabled default Kubernetes provider is refused, not silently ignored")
def default_provider_key(run: Run) -> None:
    run.expect_refused("kubernetes:context", "some-other-cluster")


@step("the all-zero placeholder imageRef: preview shows the plan with a warning, up refuses it")
def placeholder_image(run: Run) -> None:
    # prod's stack file ships this placeholder until a digest is promoted.
    run.pulumi("config", "set", f"{PROJECT}:imageRef", f"{IMAGE_REPO}@sha256:{'0' * 64}")
    try:
        preview = run.preview(policy_pack=False, check=False)
        up = run.up(policy_pack=False, check=False)
    finally:
        run.pulumi("config", "set", f"{PROJECT}:imageRef", f"{IMAGE_REPO}@{DIGEST_A}")
    if preview.returncode != 0 or "all-zero placeholder digest" not in preview.stdout + preview.stderr:
        raise E2EFailure(f"the preview failed or did not warn (exit {preview.returncode}):\n{preview.stdout}")
    if up.returncode == 0 or "pulumi stack output imageDigest -s staging" not in up.stdout + up.stderr:
        raise E2EFailure(f"pulumi up did not refuse the placeholder (exit {up.returncode}):\n{up.stdout}")
    image = run.deployment()["spec"]["template"]["spec"]["containers"][0]["image"]
    if image != f"{IMAGE_REPO}@{DIGEST_A}":
        raise E2EFailure(f"the refused up changed the Deployment's image to {image}")


@step("a stack whose state lives elsewhere refuses the backend the CLI runs against")
def state_backend(run: Run) -> None:
    # The harness runs against its temp file:// backend (PULUMI_BACKEND_URL wins over Pulumi.yaml's):
    # the program must see that backend through the real CLI and language host.
    run.expect_refused(f"{PROJECT}:stateBackend", "https://api.pulumi.com")


@step("the API server refuses a pod that breaks Pod Security 'restricted' in our namespace")
def pod_security(run: Run) -> None:
    proc = run.cluster.kubectl("create", "-f", "-", stdin=json.dumps(RESTRICTED_VIOLATION), check=False)
    if proc.returncode == 0 or 'violates PodSecurity "restricted' not in proc.stderr:
        raise E2EFailure(f"privileged pod was not refused by PodSecurity: {proc.stdout}{proc.stderr}")
    print(f"    {proc.stderr.strip().splitlines()[0]}")
