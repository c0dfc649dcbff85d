"""`make rollback STACK=dev TO=<sha256:digest | revision>`: redeploy an earlier image through the imageRef seam.

No rebuild: the digest is pinned with `pulumi config set wal-service:imageRef` and `pulumi up` rolls the
pods to it. Pulumi stays the source of truth, so the next `pulumi up` keeps the rollback (unlike
`kubectl rollout undo`, which the next up reverts). Undo it with `pulumi config rm wal-service:imageRef`.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any

from components.image import IMAGE_REPOSITORY
from components.settings import Settings
from ops import stack as stack_mod
from ops.history import IMAGE_REF_KEY, find_in_history, read_history
from ops.proc import UserError, cli, command_line, run, stream
from ops.registry_client import RegistryClient

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_REVISION = re.compile(r"^[0-9a-f]{4,40}(-dirty)?$")


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
    digest = RegistryClient(f"http://127.0.0.1:{settings.registry_port}", timeout).digest(IMAGE_REPOSITORY, tag)
    if digest is None:
        raise UserError(f"the registry has no image tagged {tag}; it cannot be rolled back to")
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
    return stream(stack_mod.up_command(args.stack), env=env, timeout=stack_mod.UP_TIMEOUT)


if __name__ == "__main__":
    raise SystemExit(main(None))
