"""Image policies: production builds only, and digest pinning where the stack demands it."""

from __future__ import annotations

from typing import Any

import pytest

from policy.guardrails.images import check_image_pinned_by_digest, check_no_development_images
from tests.policy.builders import DIGEST, container, deployment, findings, urn
from tests.policy.engine import Pack, Resource, Violation, mandatory


@pytest.mark.parametrize(
    "overrides",
    [
        {"args": ["--reload", "--reload-dir", "/app/src"]},
        {"command": ["npm", "run", "start:dev"]},
        {"command": ["sh", "-c", "nest start --watch"]},
        {"image": "registry.example.com/app:latest"},
        {"image": "registry.example.com/app"},
        {"image": "localhost:6000/wal-service:dev-1a2b3c"},
    ],
    ids=["reload", "start-dev", "watch-in-shell", "latest", "implicit-latest", "dev-tag"],
)
def test_development_images_are_rejected(overrides: dict[str, Any]) -> None:
    assert findings(check_no_development_images, deployment(containers=[container(**overrides)]))


@pytest.mark.parametrize(
    "image",
    [DIGEST, "localhost:6000/wal-service:1a2b3c", "postgres:17.6-bookworm", f"app:latest@sha256:{'b' * 64}"],
)
def test_production_images_pass(image: str) -> None:
    resource = deployment(containers=[container(image=image, command=["python", "-m", "wal_service"])])
    assert findings(check_no_development_images, resource) == []


def test_docker_image_development_target_is_rejected() -> None:
    image = "docker:index/image:Image"

    def build(target: str | None) -> Resource:
        props: dict[str, Any] = {"imageName": "localhost:6000/wal-service:abc", "build": {"context": "app"}}
        if target:
            props["build"]["target"] = target
        return Resource(image, "img", urn(image, "img"), props)

    assert findings(check_no_development_images, build("production")) == []
    assert findings(check_no_development_images, build(None)) == []
    assert len(findings(check_no_development_images, build("development"))) == 1


def _levels(found: list[Violation], prefix: str = "image-pinned") -> list[tuple[str, str]]:
    return [(v.policy, v.level) for v in found if v.policy.startswith(prefix)]


@pytest.mark.parametrize(
    ("stack", "config", "expected"),
    [
        ("prod", {}, [("image-pinned-by-digest", "mandatory")]),
        ("dev", {}, [("image-pinned-by-digest-advisory", "advisory")]),
        ("staging", {}, [("image-pinned-by-digest-advisory", "advisory")]),
        ("staging", {"mandatoryStacks": ["staging"]}, [("image-pinned-by-digest", "mandatory")]),
        ("prod", {"mandatoryStacks": []}, [("image-pinned-by-digest-advisory", "advisory")]),
    ],
)
def test_image_pinning_is_mandatory_only_in_mandatory_stacks(
    stack: str, config: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    both = {"image-pinned-by-digest": config, "image-pinned-by-digest-advisory": config}
    tagged = deployment(containers=[container(image="registry.example.com/app:1.2.3")], stack=stack)
    assert _levels(Pack(both).run([tagged])) == expected
    assert _levels(Pack(both).run([deployment(stack=stack)])) == []


def test_image_without_any_image_field_is_unpinned() -> None:
    found = mandatory(Pack().run([deployment(containers=[{"name": "x"}], stack="prod")]))
    assert any(v.policy == "image-pinned-by-digest" for v in found)


def test_an_unpinned_image_in_a_mandatory_stack_is_named_with_why_and_how_to_pin_it() -> None:
    found: list[str] = []
    props = deployment(containers=[container(image="registry.example.com/app:1.2.3")], stack="prod").props
    check_image_pinned_by_digest(
        "kubernetes:apps/v1:Deployment", props, found.append, stack="prod", mandatory_stacks=["prod"]
    )
    assert found == [
        "container 'app' runs 'registry.example.com/app:1.2.3', not pinned by digest; stack 'prod' deploys only "
        "immutable images, because a re-pushed tag changes what runs without any change in the program. "
        "Reference repo@sha256:<digest> (the pushed image's repo_digest, or imageRef)."
    ]
