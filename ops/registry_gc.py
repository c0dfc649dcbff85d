"""`make registry-gc STACK=dev`: delete the images no stack needs from the stack's local registry, then reclaim
their space with the registry's own garbage collection.

Kept: the digest every stack that uses this registry deploys now, the images of its last
`registryKeepRevisions` successful updates (`pulumi stack history`: an imageRef's digest, or the build of the
commit the update ran from, found by its tag), and every digest a pod in the stack's cluster runs. The rest of
the service's repository is deleted through the registry API (DELETE /v2/<name>/manifests/<digest>, which also
drops the tags pointing at it: distribution/distribution registry/handlers/manifests.go), then
`registry garbage-collect --delete-untagged` removes the blobs nothing references any more
(registry/storage/garbagecollect.go). A kept digest that has no tag left (a rebuilt `-dirty` tag moved on
while a pod still runs the old one) is first tagged `keep-<digest>`, so the untagged sweep cannot take it.
Deletes need `REGISTRY_STORAGE_DELETE_ENABLED=true` on the registry container (components/registry.py), and a
collection needs the registry to run without its in-memory blob descriptor cache, which would keep answering
"already exists" for the deleted blobs (same file); a container created before that setting is restarted after one.

Garbage collection must not overlap a push (https://distribution.github.io/distribution/about/garbage-collection/):
run it when no `make up` of this stack is in progress; `registryGcAfterUp` runs it right after one.

    python -m ops.registry_gc --stack dev [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.image import IMAGE_REPOSITORY
from components.image_ref import image_digest
from components.registry import NO_BLOB_DESCRIPTOR_CACHE, REGISTRY_PORT
from components.settings import Settings
from ops import stack as stack_mod
from ops.history import read_history, successful_updates, update_image
from ops.proc import ROOT, Result, UserError, cli, run
from ops.registry_client import DIGEST, RegistryClient

PIN_PREFIX = "keep-"
# The registry:3 image's configuration file and storage root.
REGISTRY_CONFIG = "/etc/distribution/config.yml"
REGISTRY_ROOT = "/var/lib/registry"
GC_TIMEOUT = 10 * 60
# garbagecollect.go: emit("\n%d blobs marked, %d blobs and %d manifests eligible for deletion", ...)
GC_SUMMARY = re.compile(r"(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion")


@dataclass
class Plan:
    """What the clean-up keeps (digest -> why), deletes (digest -> its tags) and must tag first."""

    keep: dict[str, list[str]] = field(default_factory=dict)
    delete: dict[str, list[str]] = field(default_factory=dict)
    pin: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StackImages:
    """One stack's claim on the registry: what it deploys now and its recent history."""

    stack: str
    deployed: str
    """The image reference the stack deploys now (its `image` output); "" when it has none."""
    history: Sequence[dict[str, Any]]
    """`pulumi stack history --json`."""
    keep_revisions: int
    """How many of its latest successful updates to keep."""


def plan(
    stacks: Sequence[StackImages],
    tags: Mapping[str, str],
    running: Mapping[str, list[str]],
    ours: Callable[[str], bool],
) -> Plan:
    """Decide what to keep and delete. `tags`: tag -> digest in the registry; `running`: digest -> pods;
    `ours(ref)`: whether an image reference points at this registry."""
    result = Plan()

    def keep(digest: str, why: str) -> None:
        result.keep.setdefault(digest, []).append(why)

    for images in stacks:
        if images.deployed and ours(images.deployed) and image_digest(images.deployed):
            keep(image_digest(images.deployed), f"{images.stack}: deployed now")
        for update in successful_updates(images.history)[: images.keep_revisions]:
            found = update_image(update)
            if found is None:
                continue
            image, commit = found
            why = f"{images.stack}: update {image.version}"
            if image.digest:
                ref = str(update["config"]["wal-service:imageRef"]["value"])
                if ours(ref):
                    keep(image.digest, why)
            elif image.tag in tags:
                keep(tags[image.tag], f"{why} (built {image.tag})")
            elif commit:
                result.notes.append(f"{why} built {image.tag}, which this registry no longer has")
    for digest, pods in running.items():
        keep(digest, "running: " + ", ".join(sorted(pods)))

    tagged: dict[str, list[str]] = {}
    for tag, digest in sorted(tags.items()):
        tagged.setdefault(digest, []).append(tag)
    result.delete = {digest: names for digest, names in tagged.items() if digest not in result.keep}
    result.pin = sorted(digest for digest in result.keep if digest not in tagged)
    return result


def running_digests(pods: Sequence[Any], hosts: Sequence[str]) -> dict[str, list[str]]:
    """digest -> namespace/pod for every container (init ones too) whose image comes from one of `hosts`."""
    found: dict[str, list[str]] = {}
    for pod in pods:
        name = f"{pod.metadata.namespace}/{pod.metadata.name}"
        specs = [*(pod.spec.init_containers or []), *(pod.spec.containers or [])]
        statuses = [*(pod.status.init_container_statuses or []), *(pod.status.container_statuses or [])]
        refs = [c.image for c in specs] + [s.image_id for s in statuses if s.image_id] + [s.image for s in statuses]
        for ref in refs:
            if any(str(ref).startswith(f"{host}/") for host in hosts):
                for digest in DIGEST.findall(str(ref)):
                    if name not in found.setdefault(digest, []):
                        found[digest].append(name)
    return found


def gc_summary(output: str) -> str:
    match = GC_SUMMARY.search(output)
    if not match:
        return "registry garbage-collect printed no summary"
    marked, blobs, manifests = match.groups()
    return f"registry garbage-collect: {marked} blobs still referenced; {blobs} blobs and {manifests} manifests removed"


def human(size_kib: int) -> str:
    return f"{size_kib / 1024:.1f} MiB"


Docker = Callable[[Sequence[str], float], Result | None]


def docker(args: Sequence[str], timeout: float) -> Result | None:
    return run(["docker", *args], timeout=timeout)


def registry_size_kib(container: str, exec_docker: Docker) -> int:
    result = exec_docker(["exec", container, "du", "-sk", REGISTRY_ROOT], 120)
    if result is None or not result.ok or not result.stdout.split():
        detail = result.first_error_line() if result else "docker is not installed"
        raise UserError(f"cannot measure {REGISTRY_ROOT} in container {container}: {detail}")
    return int(result.stdout.split()[0])


def blob_descriptor_cache_off(container: str, exec_docker: Docker) -> bool:
    """Whether the container runs with the setting components/registry.py gives it against the in-memory cache;
    a container created before that setting (or that cannot be inspected) is taken to have the cache."""
    result = exec_docker(["inspect", "--format", "{{json .Config.Env}}", container], 60)
    if result is None or not result.ok:
        return False
    try:
        env = json.loads(result.stdout)
    except ValueError:
        return False
    return isinstance(env, list) and NO_BLOB_DESCRIPTOR_CACHE in env


def garbage_collect(container: str, dry_run: bool, exec_docker: Docker = docker) -> list[str]:
    """Run the registry's own garbage collection in its container; report what it removed and reclaimed."""
    before = registry_size_kib(container, exec_docker)
    command = ["exec", container, "registry", "garbage-collect", "--delete-untagged"]
    result = exec_docker([*command, *(["--dry-run"] if dry_run else []), REGISTRY_CONFIG], GC_TIMEOUT)
    if result is None or not result.ok:
        raise UserError(
            f"registry garbage-collect in {container} failed: {result.first_error_line() if result else 'no docker'}"
        )
    lines = [gc_summary(result.stdout)]
    # A registry serving with the image's in-memory blob descriptor cache still lists the blobs just deleted: a
    # push of one is answered "already exists" and the image cannot be pulled (registry/handlers/app.go;
    # distribution/distribution#4569). Only a new process forgets them.
    if not blob_descriptor_cache_off(container, exec_docker):
        why = (
            "it keeps blob descriptors in memory, and would answer 'already exists' for the deleted blobs and "
            "accept images whose layers are gone (https://github.com/distribution/distribution/issues/4569); "
            "make up recreates it without that cache"
        )
        if dry_run:
            lines.append(f"would restart {container}: {why}")
        else:
            restarted = exec_docker(["restart", container], 120)
            if restarted is None or not restarted.ok:
                detail = restarted.first_error_line() if restarted else "no docker"
                raise UserError(
                    f"restarting {container} after the collection failed ({detail}); run `docker restart "
                    f"{container}` before the next push: {why}"
                )
            lines.append(f"restarted {container}: {why}")
    after = registry_size_kib(container, exec_docker)
    lines.append(f"reclaimed {human(before - after)} (registry data {human(before)} -> {human(after)})")
    return lines


def sharing_stacks(settings: Settings, root: Path = ROOT) -> list[Settings]:
    """Every stack whose local registry is this one (same container name and port)."""
    found = []
    for path in sorted(root.glob("Pulumi.*.yaml")):
        other = stack_mod.load(path.name.removeprefix("Pulumi.").removesuffix(".yaml"), root=root)
        if (other.registry_mode, other.registry_name, other.registry_port) == (
            settings.registry_mode,
            settings.registry_name,
            settings.registry_port,
        ):
            found.append(other)
    return found


def stack_images(other: Settings) -> tuple[StackImages, str | None]:
    """A stack's deployed image and history, and its kube context; a stack never deployed claims nothing."""
    env = stack_mod.pulumi_env(other.stack)
    try:
        outputs = stack_mod.outputs(other.stack, env)
    except UserError:
        return StackImages(other.stack, "", [], other.registry_keep_revisions), None
    history = read_history(other.stack, env)
    return StackImages(other.stack, str(outputs.get("image") or ""), history, other.registry_keep_revisions), str(
        outputs.get("kubeContext") or ""
    )


def cluster_pods(settings: Settings, context: str) -> list[Any]:
    """Every pod of the cluster: images in use anywhere there must stay."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    from ops.kube import TIMEOUT, api_client

    try:
        return list(
            client.CoreV1Api(api_client(settings, context)).list_pod_for_all_namespaces(_request_timeout=TIMEOUT).items
        )
    except (ApiException, HTTPError, OSError) as exc:
        raise UserError(
            f"cannot list the pods of cluster {context} ({exc.__class__.__name__}), so the images they run are "
            "unknown; nothing was deleted. Start the cluster (make up) and try again"
        ) from None


def execute(client: RegistryClient, result: Plan, dry_run: bool) -> list[str]:
    lines = [f"keep   {digest}  ({'; '.join(why)})" for digest, why in sorted(result.keep.items())]
    for digest in result.pin:
        if client.digest(IMAGE_REPOSITORY, digest) is None:
            lines.append(f"note   {digest} is kept but the registry does not have it")
            continue
        if not dry_run:
            client.pin(IMAGE_REPOSITORY, digest, PIN_PREFIX + digest.removeprefix("sha256:")[:12])
        lines.append(f"pin    {digest} as {PIN_PREFIX}{digest.removeprefix('sha256:')[:12]} (kept, had no tag)")
    for digest, tags in sorted(result.delete.items()):
        if not dry_run:
            client.delete(IMAGE_REPOSITORY, digest)
        lines.append(f"{'would delete' if dry_run else 'delete'} {digest}  tags {' '.join(tags)}")
    lines += [f"note   {note}" for note in result.notes]
    return lines


def registry_tags(client: RegistryClient) -> dict[str, str]:
    tags = {}
    for tag in client.tags(IMAGE_REPOSITORY):
        digest = client.digest(IMAGE_REPOSITORY, tag)
        if digest:
            tags[tag] = digest
    return tags


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Delete unneeded images from a stack's local registry.")
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--dry-run", action="store_true", help="report what would go; change nothing")
    args = parser.parse_args(argv)
    settings = stack_mod.load(args.stack)
    if settings.registry_mode != "local":
        raise UserError(
            f"stack {args.stack} pushes to {settings.registry_server}, not to a local registry; clean that "
            "registry with its own retention policy"
        )
    hosts = [f"{settings.registry_name}:{REGISTRY_PORT}", f"localhost:{settings.registry_port}"]
    stacks, pods = [], []
    for other in sharing_stacks(settings):
        images, context = stack_images(other)
        stacks.append(images)
        if context:
            pods += cluster_pods(other, context)
    client = RegistryClient(f"http://127.0.0.1:{settings.registry_port}")
    result = plan(
        stacks,
        registry_tags(client),
        running_digests(pods, hosts),
        lambda ref: ref.startswith(tuple(f"{host}/" for host in hosts)),
    )
    for line in execute(client, result, args.dry_run):
        print(line)
    for line in garbage_collect(settings.registry_name, args.dry_run):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(None))
