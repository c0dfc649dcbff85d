"""`make rollback STACK=dev TO=<sha256:digest | revision>`: redeploy an earlier image through the imageRef seam.

No rebuild: the digest is pinned with `pulumi config set wal-service:imageRef` and `pulumi up` rolls the
pods to it. Pulumi stays the source of truth, so the next `pulumi up` keeps the rollback (unlike
`kubectl rollout undo`, which the next up reverts). Undo it with `pulumi config rm wal-service:imageRef`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from components.image import IMAGE_REPOSITORY
from components.settings import Settings, image_digest, image_version
from ops import stack as stack_mod
from ops.preview import policy_args
from ops.proc import UserError, cli, command_line, run, stream
from ops.up import UP_TIMEOUT

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_REVISION = re.compile(r"^[0-9a-f]{4,40}(-dirty)?$")
IMAGE_REF_KEY = "wal-service:imageRef"
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


@dataclass(frozen=True)
class Deployed:
    """An update in the stack's history that deployed the wanted revision."""

    version: int
    tag: str
    digest: str
    """sha256:..., or "" when the update built the image (history keeps config, not outputs)."""


def app_revision_at(commit: str) -> str:
    """The image tag a build from `commit` got: the last commit that changed app/ (components.image.source_revision);
    the commit itself when this clone cannot tell."""
    result = run(["git", "log", "-1", "--format=%h", "--abbrev=12", commit, "--", "app"], timeout=20)
    return result.stdout.strip() if result and result.ok and result.stdout.strip() else commit[:12]


def successful_updates(history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stack's successful updates, newest first."""
    updates = [u for u in history if u.get("kind") == "update" and u.get("result") == "succeeded"]
    return sorted(updates, key=lambda u: int(u.get("version", 0)), reverse=True)


def update_image(
    update: dict[str, Any], app_revision: Callable[[str], str] = app_revision_at
) -> tuple[Deployed, str] | None:
    """What one update deployed, and the git commit it ran from ("" for a pinned imageRef)."""
    version = int(update.get("version", 0))
    ref = str(((update.get("config") or {}).get(IMAGE_REF_KEY) or {}).get("value") or "")
    if ref:
        return Deployed(version, image_version(ref), image_digest(ref)), ""
    environment = update.get("environment") or {}
    head = str(environment.get("git.head", ""))
    if not head:
        return None
    dirty = str(environment.get("git.dirty", "")).lower() == "true"
    return Deployed(version, app_revision(head) + ("-dirty" if dirty else ""), ""), head


def find_in_history(
    history: Sequence[dict[str, Any]], revision: str, app_revision: Callable[[str], str] = app_revision_at
) -> Deployed | None:
    """The newest successful update that ran `revision`: by its imageRef, or by the git commit it ran from."""
    for update in successful_updates(history):
        # Match on the commit as recorded; ask git for the app revision (the tag) of the match only.
        found = update_image(update, lambda head: head)
        if found is None:
            continue
        image, commit = found
        if not commit:  # a pinned image, whatever commit the program ran from
            if image.tag.startswith(revision) or image.digest.removeprefix("sha256:").startswith(revision):
                return image
        elif commit.startswith(revision.removesuffix("-dirty")):
            tagged = update_image(update, app_revision)
            return tagged[0] if tagged else image
    return None


def pull_reference(settings: Settings, digest: str) -> str:
    """The reference the cluster pulls: the registry as the nodes address it, pinned by digest."""
    if not _DIGEST.match(digest):
        raise UserError(f"{digest!r} is not a sha256 digest")
    return f"{stack_mod.registry_host(settings)}/{IMAGE_REPOSITORY}@{digest}"


def registry_digest(settings: Settings, tag: str, timeout: float = 10.0) -> str:
    """The digest the local registry holds for a tag (the build pushed <revision> as the tag)."""
    if settings.registry_mode != "local":
        raise UserError(
            f"revision {tag} was built, and history keeps no digest; find it in {settings.registry_server} "
            f"and run: make rollback STACK={settings.stack} TO=sha256:<digest>"
        )
    conn = http.client.HTTPConnection("127.0.0.1", settings.registry_port, timeout=timeout)
    try:
        conn.request("HEAD", f"/v2/{IMAGE_REPOSITORY}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES})
        response = conn.getresponse()
        digest = response.getheader("Docker-Content-Digest") or ""
    except OSError as exc:
        raise UserError(
            f"registry localhost:{settings.registry_port} does not answer ({exc}); is the stack up?"
        ) from None
    finally:
        conn.close()
    if response.status != 200 or not _DIGEST.match(digest):
        raise UserError(f"the registry has no image tagged {tag} (HTTP {response.status}); it cannot be rolled back to")
    return digest


def resolve_digest(
    settings: Settings,
    target: str,
    history: Callable[[], list[dict[str, Any]]],
    lookup: Callable[[Settings, str], str] = registry_digest,
) -> str:
    if _DIGEST.match(target):
        return target
    if not _REVISION.match(target):
        raise UserError(f"TO={target!r} is neither sha256:<64 hex> nor a git revision")
    found = find_in_history(history(), target)
    if found is None:
        raise UserError(f"revision {target} was never deployed to stack {settings.stack} (see: pulumi stack history)")
    return found.digest or lookup(settings, found.tag)


def read_history(stack: str, env: dict[str, str]) -> list[dict[str, Any]]:
    result = run(["pulumi", "stack", "history", "--json", "--stack", stack], env=env, timeout=60)
    if result is None or not result.ok:
        raise UserError(f"pulumi stack history failed: {result.first_error_line() if result else 'no pulumi'}")
    data = json.loads(result.stdout or "[]")
    return data if isinstance(data, list) else []


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Deploy an earlier image by digest or revision (no rebuild).")
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--to", required=True, help="sha256:<digest> or a git revision that was deployed")
    args = parser.parse_args(argv)
    settings = stack_mod.load(args.stack)
    env = stack_mod.pulumi_env(args.stack)
    digest = resolve_digest(settings, args.to.strip(), lambda: read_history(args.stack, env))
    ref = pull_reference(settings, digest)
    config_set = ["pulumi", "config", "set", IMAGE_REF_KEY, ref, "--stack", args.stack]
    print(f"$ {command_line(config_set, env)}", flush=True)
    result = run(config_set, env=env, timeout=30)
    if result is None or not result.ok:
        raise UserError(f"pulumi config set failed: {result.first_error_line() if result else 'no pulumi'}")
    print(f"{IMAGE_REF_KEY} = {ref} (Pulumi.{args.stack}.yaml; `pulumi config rm {IMAGE_REF_KEY}` returns to builds)")
    # The same guardrails as every other up (make up, the workflows).
    return stream(["pulumi", "up", "--yes", "--stack", args.stack, *policy_args()], env=env, timeout=UP_TIMEOUT)


if __name__ == "__main__":
    raise SystemExit(main(None))
