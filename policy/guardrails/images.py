"""Images: production builds only, and pinned by digest where the stack demands it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from .common import (
    ADVISORY,
    Report,
    Validation,
    as_seq,
    containers,
    declare,
    dig,
    on_each_resource,
    pod_template,
    stack_of,
)

_DOCKER_IMAGES = frozenset({"docker:index/image:Image", "docker-build:index:Image"})
# uvicorn/nest/webpack/nodemon watch modes and the npm script that starts them.
_DEV_ARGUMENT = re.compile(r"^(--reload\b.*|--watch\b.*|start:dev|nodemon|watchmedo)$")
_DEV_REMEDY = (
    "Build and deploy the production target (compiled, no watcher) in every environment; keep development "
    "images for laptops outside Kubernetes."
)
# distribution/reference, simplified: [host[:port]/]path[:tag][@digest]
_IMAGE = re.compile(r"^(?P<name>(?:[^/@]+/)*[^:/@]+)(?::(?P<tag>[^/@]+))?(?:@(?P<digest>[^@]+))?$")
IMAGES_URL = "https://kubernetes.io/docs/concepts/containers/images/#image-names"


def image_tag(image: str) -> tuple[str | None, str | None]:
    """(tag, digest) of an image reference; (None, None) for a bare name."""
    match = _IMAGE.match(image.strip())
    if not match:
        return None, None
    return match.group("tag"), match.group("digest")


def _dev_image_problem(image: str) -> str | None:
    tag, digest = image_tag(image)
    if tag and tag.startswith("dev-"):
        return f"image {image!r} carries a development tag ({tag!r})"
    if tag == "latest" and not digest:
        return f"image {image!r} uses ':latest', which follows every push, so two pods may run different code"
    if tag is None and digest is None:
        return f"image {image!r} has neither tag nor digest, so it means ':latest'"
    return None


def check_no_development_images(resource_type: str, props: Mapping[str, Any], report: Report) -> None:
    if resource_type in _DOCKER_IMAGES:
        target = dig(props, "build", "target") or props.get("target")
        if target == "development":
            report(f"the image is built from the 'development' target. {_DEV_REMEDY}")
        names = [props.get("imageName")] + list(as_seq(props.get("tags")))
        for name in names:
            if isinstance(name, str) and (problem := _dev_image_problem(name)):
                report(f"{problem}. {_DEV_REMEDY}")
        return
    template = pod_template(resource_type, props)
    if template is None:
        return
    for where, container in containers(template.spec):
        words = [str(word) for word in (*as_seq(container.get("command")), *as_seq(container.get("args")))]
        hits = [token for word in words for token in re.split(r"\s+", word) if token and _DEV_ARGUMENT.match(token)]
        if hits:
            report(f"{where} runs a watcher/reloader ({', '.join(hits)}): that is a development image. {_DEV_REMEDY}")
        image = container.get("image")
        if isinstance(image, str) and (problem := _dev_image_problem(image)):
            report(f"{where}: {problem}. Deploy an immutable tag or, better, the digest.")


no_development_images = declare(
    "no-development-images",
    on_each_resource(check_no_development_images),
    description="No watch/reload commands, no :latest or dev-* tags and no image built from the 'development' "
    "target: development images restart on file changes, run unoptimised code and differ between pods.",
    remediation="Build the production target and deploy its digest in every environment.",
    url=IMAGES_URL,
    severity=Severity.HIGH,
    tags=["images", "supply-chain"],
)


DEFAULT_MANDATORY_STACKS = ("prod",)
IMAGE_PIN_CONFIG = PolicyConfigSchema(
    properties={
        "mandatoryStacks": {
            "type": "array",
            "items": {"type": "string"},
            "default": list(DEFAULT_MANDATORY_STACKS),
            "description": "Stacks where an image not pinned by digest blocks the update.",
        }
    }
)
PinCheck = Callable[..., None]
PIN_REMEDY = "Deploy repo@sha256:<digest> (the built image's repo_digest or imageRef)."


def unpinned_images(resource_type: str, props: Mapping[str, Any]) -> list[tuple[str, str]]:
    template = pod_template(resource_type, props)
    if template is None:
        return []
    return [
        (where, str(container.get("image")))
        for where, container in containers(template.spec)
        if "@sha256:" not in str(container.get("image") or "")
    ]


def check_image_pinned_by_digest(
    resource_type: str, props: Mapping[str, Any], report: Report, *, stack: str, mandatory_stacks: Iterable[str]
) -> None:
    """Reports in the mandatory stacks only; `check_image_pinned_by_digest_advisory` covers the others."""
    if stack not in set(mandatory_stacks):
        return
    for where, image in unpinned_images(resource_type, props):
        report(
            f"{where} runs {image!r}, not pinned by digest; stack {stack!r} deploys only immutable images, "
            "because a re-pushed tag changes what runs without any change in the program. "
            "Reference repo@sha256:<digest> (the pushed image's repo_digest, or imageRef)."
        )


def check_image_pinned_by_digest_advisory(
    resource_type: str, props: Mapping[str, Any], report: Report, *, stack: str, mandatory_stacks: Iterable[str]
) -> None:
    if stack in set(mandatory_stacks):
        return
    for where, image in unpinned_images(resource_type, props):
        report(
            f"{where} runs {image!r}, not pinned by digest: a re-pushed tag changes what runs. "
            "Reference repo@sha256:<digest>; this blocks in the stacks listed in mandatoryStacks."
        )


def on_each_pod_in_stack(check: PinCheck) -> Validation:
    """Run a pinning check on every resource, with the stack (from the URN) and mandatoryStacks (config)."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        stacks = args.get_config().get("mandatoryStacks", DEFAULT_MANDATORY_STACKS)
        check(
            args.resource_type,
            args.props,
            lambda message: report_violation(message, None),
            stack=stack_of(args.urn),
            mandatory_stacks=[str(s) for s in as_seq(stacks)],
        )

    return Validation(ResourceValidationPolicy, validate)


# Two policies, one per enforcement level: the engine gives a policy one level for every stack.
image_pinned_by_digest = declare(
    "image-pinned-by-digest",
    on_each_pod_in_stack(check_image_pinned_by_digest),
    description="Container images are pinned by @sha256 digest, so what runs is exactly what was tested; "
    "blocking in the stacks listed in mandatoryStacks.",
    remediation=PIN_REMEDY,
    url=IMAGES_URL,
    severity=Severity.MEDIUM,
    tags=["images", "supply-chain"],
    config_schema=IMAGE_PIN_CONFIG,
)
image_pinned_by_digest_advisory = declare(
    "image-pinned-by-digest-advisory",
    on_each_pod_in_stack(check_image_pinned_by_digest_advisory),
    description="Container images should be pinned by @sha256 digest (a warning in stacks outside "
    "mandatoryStacks; keep its mandatoryStacks equal to image-pinned-by-digest's).",
    remediation=PIN_REMEDY,
    url=IMAGES_URL,
    severity=Severity.LOW,
    tags=["images", "supply-chain"],
    level=ADVISORY,
    config_schema=IMAGE_PIN_CONFIG,
)
