"""ServiceImage: build app/ (production target), push it, and pin the pods to its digest."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker

APP_DIR = Path(__file__).resolve().parent.parent / "app"
IMAGE_REPOSITORY = "wal-service"


def source_revision(app_dir: Path = APP_DIR) -> str:
    """The last commit that changed app/ (what the image is built from), with -dirty when app/ has uncommitted
    changes: a commit elsewhere (README, the program) leaves the tag, the version label and the pods alone.

    Without git (an exported tarball) or history (a commit-less clone), a hash of app/'s files stands in, so an
    unchanged tree still gives an unchanged tag. A shallow clone sees its oldest commit as the one that made app/.
    """
    try:
        head = subprocess.run(
            ["git", "log", "-1", "--format=%h", "--abbrev=12", "--", "."],
            cwd=app_dir,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], cwd=app_dir, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        head = ""
    if not head:
        return "src-" + content_hash(app_dir)
    return f"{head}-dirty" if dirty else head


def content_hash(app_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in app_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(app_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class BuildInputs:
    """What the build of app/ takes from stack config besides the source, each a build argument of app/Dockerfile;
    all optional, for networks that reach neither Docker Hub nor PyPI directly."""

    python_image: str = ""
    """PYTHON_IMAGE: the base image; empty keeps the Dockerfile's pin."""
    pip_index_url: str = ""
    """PIP_INDEX_URL: the index pip installs from; empty is PyPI."""
    pip_extra_ca_pem: str = ""
    """PIP_EXTRA_CA_PEM: CA certificates (PEM text) pip trusts besides the base image's."""

    def build_args(self) -> dict[str, str]:
        # Only those set: a stack that sets none builds with the same inputs as before they existed.
        args = {
            "PYTHON_IMAGE": self.python_image,
            "PIP_INDEX_URL": self.pip_index_url,
            "PIP_EXTRA_CA_PEM": self.pip_extra_ca_pem,
        }
        return {name: value for name, value in args.items() if value}


@dataclass(frozen=True)
class ServiceImageArgs:
    push_host: pulumi.Input[str]
    """Registry address the host pushes to (localhost:6000 or an external registry)."""
    pull_host: pulumi.Input[str]
    """Registry address the cluster pulls from (kind-registry:5000 locally; the same host externally)."""
    revision: str
    """Image tag and REVISION build argument: the source revision."""
    registry: docker.RegistryArgs | None = None
    """Credentials for an external registry; None for the local one."""
    inputs: BuildInputs = BuildInputs()
    """Base image, package index and CA certificates for the build."""


class ServiceImage(pulumi.ComponentResource):
    pushed_ref: pulumi.Output[str]
    pull_ref: pulumi.Output[str]
    digest: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:ServiceImage", name, None, opts)
        image = docker.Image(
            f"{name}-image",
            image_name=pulumi.Output.concat(args.push_host, f"/{IMAGE_REPOSITORY}:{args.revision}"),
            build=docker.DockerBuildArgs(
                context="app",
                # pulumi-docker resolves the Dockerfile from the program's directory, not the context.
                dockerfile="app/Dockerfile",
                # Production images everywhere, dev included: what dev tests is what prod runs.
                target="production",
                args={"REVISION": args.revision, **args.inputs.build_args()},
            ),
            registry=args.registry,
            skip_push=False,
            build_on_preview=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.pushed_ref = image.repo_digest
        self.digest = image.repo_digest.apply(lambda ref: ref.rsplit("@", 1)[-1])
        # Same bytes, other address: nodes reach the registry by its name on the kind network.
        self.pull_ref = pulumi.Output.concat(args.pull_host, f"/{IMAGE_REPOSITORY}@", self.digest)
        self.register_outputs({"pushed_ref": self.pushed_ref, "pull_ref": self.pull_ref, "digest": self.digest})
