"""The local registry container: a garbage collection must leave no ghosts, shown on the real `registry` binary.

distribution's registry keeps blob descriptors in memory when its configuration says
`storage.cache.blobdescriptor: inmemory`, as the registry:3 image's /etc/distribution/config.yml does
(registry/handlers/app.go). `registry garbage-collect` deletes blobs on disk behind that cache: a later push of a
deleted layer is answered "already exists", its manifest is accepted and every pull of it fails
(distribution/distribution#1803, #3743, #4569).

The sequence tests run distribution v3.1.2's `registry`, built from the Go module proxy by e2e/registry/build.sh
(or the binary $WAL_REGISTRY_BIN names), on 127.0.0.1 with distribution's image configuration file (from the
pinned module) and the environment the program gives the container, read from the stack's mock
run. Only the storage root and the listen addresses move, off the container's paths and ports. Without the
binary they skip, except under CI, where they fail.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import http.client
import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import IO, Any

import pulumi
import pytest
import yaml

from components.registry import answering
from e2e.upstream_files import download
from ops import registry_gc as gc
from ops.proc import Result

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "e2e" / "registry" / "build.sh"
# distribution's own image config (its Dockerfile copies it to /etc/distribution/config.yml); the official registry
# image ships distribution-library-image's config-example.yml, with the same in-memory blob descriptor cache and
# delete settings. From the module e2e/registry/go.mod pins, not copied here.
IMAGE_CONFIG_IN_MODULE = "cmd/registry/config-dev.yml"
DISTRIBUTION = "github.com/distribution/distribution/v3"
# The registry:3 image's own ENV (distribution-library-image's Dockerfile): no OpenTelemetry exporter.
IMAGE_ENV = {"OTEL_TRACES_EXPORTER": "none"}
CONTAINER_TYPE = "docker:index/container:Container"


@functools.cache
def image_config() -> Path:
    return Path(download(DISTRIBUTION, ROOT / "e2e" / "registry")["Dir"]) / IMAGE_CONFIG_IN_MODULE


LOCAL_REGISTRY_STACKS = ("dev", "staging")
REPOSITORY = "wal-service"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def container(run: Any) -> dict[str, Any]:
    found = [r for r in run.registrations if r["type"] == CONTAINER_TYPE and r["name"].endswith("-registry-container")]
    assert len(found) == 1, f"{run.stack}: expected one registry container, got {[r['name'] for r in found]}"
    return found[0]


def container_env(run: Any) -> dict[str, str]:
    """The environment the stack gives its registry container (docker.Container `envs`)."""
    return dict(entry.split("=", 1) for entry in container(run)["inputs"].get("envs") or [])


@pytest.mark.parametrize("stack", LOCAL_REGISTRY_STACKS)
def test_registry_container_runs_without_the_blob_descriptor_cache(mockruns: Any, stack: str) -> None:
    run = mockruns.get(stack)
    name = container(run)["name"]
    env = container_env(run)
    assert "REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR" in env, (
        f"{stack}: {name} keeps the image's `storage.cache.blobdescriptor: inmemory`, so a garbage collection "
        "leaves deleted blobs in that cache (distribution/distribution#4569)"
    )
    # configuration/parser.go reads the value as YAML; registry/handlers/app.go takes "" as "no cache" and anything
    # else but inmemory/redis as an unknown type (caching off too, with a warning at every start).
    value = yaml.safe_load(env["REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR"])
    assert value == "", f"{stack}: {name} sets REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR to {value!r}, not ''"


def registry_binary() -> Path:
    explicit = os.environ.get("WAL_REGISTRY_BIN")
    if explicit:
        path = Path(explicit)
    else:
        printed = subprocess.run(["bash", str(BUILD), "--path"], capture_output=True, text=True, check=True, timeout=60)
        path = Path(printed.stdout.strip().splitlines()[-1])
    if path.is_file() and os.access(path, os.X_OK):
        return path
    message = (
        f"no registry binary at {path}"
        + (" ($WAL_REGISTRY_BIN)" if explicit else "")
        + ": build it with `bash e2e/registry/build.sh` (Go 1.26 and the Go module proxy)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def call(
    url: str, method: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own registry on loopback
            try:
                return response.status, response.headers, response.read()
            except http.client.IncompleteRead as exc:
                # What a ghost blob looks like: the cached descriptor's length, then nothing behind it.
                length = response.headers["Content-Length"]
                return response.status, response.headers, f"<body cut short: {len(exc.partial)} of {length}>".encode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Image:
    config: bytes
    layer: bytes

    @property
    def manifest(self) -> bytes:
        def descriptor(media_type: str, data: bytes) -> dict[str, Any]:
            return {"mediaType": media_type, "digest": sha256(data), "size": len(data)}

        return json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": descriptor("application/vnd.oci.image.config.v1+json", self.config),
                "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", self.layer)],
            }
        ).encode()

    @property
    def blobs(self) -> dict[str, bytes]:
        return {sha256(self.config): self.config, sha256(self.layer): self.layer}

    @staticmethod
    def build(name: str) -> Image:
        layer = f"the app code of image {name}\n".encode() * 64
        config = json.dumps(
            {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]}}
        ).encode()
        return Image(config=config, layer=layer)


class Registry:
    """`registry serve <the image's config file>` on 127.0.0.1, with the container's environment."""

    def __init__(self, binary: Path, env: Mapping[str, str], storage: Path, log: IO[str]) -> None:
        self.binary = binary
        self.storage = storage
        self.port = free_port()
        # Only where it listens and stores moves: the container's :5000, :5001 and volume are not ours to take.
        relocation = {
            "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(storage),
            "REGISTRY_HTTP_ADDR": f"127.0.0.1:{self.port}",
            "REGISTRY_HTTP_DEBUG_ADDR": "127.0.0.1:0",
        }
        assert not set(relocation) & set(env), f"the container's environment sets {sorted(set(relocation) & set(env))}"
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **IMAGE_ENV, **env, **relocation}
        self.log = log
        self.proc: subprocess.Popen[str] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", str(image_config())], env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"registry serve exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if call(f"{self.url}/v2/", "GET")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"registry serve did not answer on {self.url} within 30s; see {self.log.name}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def restart(self) -> None:
        self.stop()
        self.start()

    def command(self, argv: Sequence[str], timeout: float = 300) -> Result:
        """A command run inside the container (`docker exec`): the image's paths mapped onto ours."""
        program = str(self.binary) if argv[0] == "registry" else argv[0]
        paths = {gc.REGISTRY_CONFIG: str(image_config()), gc.REGISTRY_ROOT: str(self.storage)}
        local = [program, *(paths.get(arg, arg) for arg in argv[1:])]
        proc = subprocess.run(local, env=self.env, capture_output=True, text=True, check=False, timeout=timeout)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def blob_on_disk(self, digest: str) -> bool:
        hex_digest = digest.removeprefix("sha256:")
        return (self.storage / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data").is_file()

    def push(self, tag: str, image: Image) -> list[str]:
        """Push as `docker push` does: a blob the registry says it has is not sent again. Returns the skipped."""
        base = f"{self.url}/v2/{REPOSITORY}"
        skipped = []
        for digest, data in image.blobs.items():
            if call(f"{base}/blobs/{digest}", "HEAD")[0] == 200:
                skipped.append(digest)
                continue
            status, headers, body = call(f"{base}/blobs/uploads/", "POST")
            assert status == 202, f"starting the upload of {digest}: HTTP {status} {body!r}"
            location = headers["Location"]
            separator = "&" if "?" in location else "?"
            status, _, body = call(
                f"{location}{separator}digest={digest}", "PUT", data, {"Content-Type": "application/octet-stream"}
            )
            assert status == 201, f"uploading {digest}: HTTP {status} {body!r}"
        status, _, body = call(f"{base}/manifests/{tag}", "PUT", image.manifest, {"Content-Type": OCI_MANIFEST})
        assert status == 201, f"pushing manifest {tag}: HTTP {status} {body!r}"
        return skipped

    def pull(self, tag: str, image: Image) -> list[str]:
        """Pull the manifest and every blob; returns what failed."""
        base = f"{self.url}/v2/{REPOSITORY}"
        status, _, body = call(f"{base}/manifests/{tag}", "GET", headers={"Accept": OCI_MANIFEST})
        if status != 200:
            return [f"manifest {tag}: HTTP {status} {body[:200]!r}"]
        problems = []
        for digest, data in image.blobs.items():
            status, _, body = call(f"{base}/blobs/{digest}", "GET")
            if status != 200 or body != data:
                problems.append(f"blob {digest}: HTTP {status} {body[:200]!r}")
        return problems

    def delete(self, image: Image) -> None:
        status, _, body = call(f"{self.url}/v2/{REPOSITORY}/manifests/{sha256(image.manifest)}", "DELETE")
        assert status == 202, f"deleting manifest {sha256(image.manifest)}: HTTP {status} {body!r}"


@pytest.fixture
def registry(mockruns: Any, tmp_path: Path) -> Iterator[Registry]:
    binary = registry_binary()
    with (tmp_path / "registry.log").open("w") as log:
        server = Registry(binary, container_env(mockruns.get("dev")), tmp_path / "storage", log)
        server.start()
        try:
            yield server
        finally:
            server.stop()


def by_hand(registry: Registry) -> list[str]:
    """What an operator runs: `docker exec <registry> registry garbage-collect --delete-untagged <config>`."""
    result = registry.command(["registry", "garbage-collect", "--delete-untagged", gc.REGISTRY_CONFIG])
    assert result.ok, f"registry garbage-collect failed:\n{result.stdout}{result.stderr}"
    return [gc.gc_summary(result.stdout)]


def make_registry_gc(registry: Registry) -> list[str]:
    """`make registry-gc`'s collection step (ops.registry_gc.garbage_collect), its docker calls served locally."""
    name = "kind-registry"

    def docker(args: Sequence[str], timeout: float) -> Result:
        match list(args):
            case ["exec", container, *argv] if container == name:
                return registry.command(argv, timeout)
            case ["inspect", "--format", "{{json .Config.Env}}", container] if container == name:
                env = {**IMAGE_ENV, **{k: v for k, v in registry.env.items() if k.startswith("REGISTRY_")}}
                return Result(0, json.dumps([f"{k}={v}" for k, v in env.items()]) + "\n", "")
            case ["restart", container] if container == name:
                registry.restart()
                return Result(0, f"{name}\n", "")
        raise AssertionError(f"unexpected docker call: {list(args)}")

    return gc.garbage_collect(name, dry_run=False, exec_docker=docker)


@pytest.mark.parametrize("collect", [by_hand, make_registry_gc], ids=["by-hand", "make-registry-gc"])
def test_image_pushed_again_after_its_collection_can_be_pulled(registry: Registry, collect: Any) -> None:
    """push A, push B, delete A, collect, push A again, pull A: the way back to older app code after a clean-up."""
    a, b = Image.build("A"), Image.build("B")
    assert registry.push("a", a) == []
    assert registry.push("b", b) == []
    assert registry.pull("a", a) == [] and registry.pull("b", b) == []
    registry.delete(a)

    report = collect(registry)
    gone = [digest for digest in a.blobs if not registry.blob_on_disk(digest)]
    assert gone == list(a.blobs), f"the collection kept blobs of the deleted image A ({report}); nothing to test"

    skipped = registry.push("a", a)
    problems = registry.pull("a", a)
    assert problems == [], (
        "image A, pushed again after the collection, cannot be pulled: "
        + "; ".join(problems)
        + (f". The registry answered 'already exists' for {skipped}, blobs it had deleted" if skipped else "")
        + f" (registry log: {registry.log.name})"
    )
    assert skipped == [], f"the registry still claims A's deleted blobs {skipped}"
    assert registry.pull("b", b) == [], "the collection damaged image B, which was never deleted"


def _run(coroutine: Any) -> Any:
    """On a loop of its own: asyncio.run would leave the thread without a current loop, which later tests of
    Pulumi programs need."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_nothing_pushes_before_the_registry_answers() -> None:
    """The container runs a moment before the registry listens; the push address resolves only once it answers
    (here with 401, as a registry with auth does), so a build served from cache is not refused."""
    port = _free_port()
    asked: list[str] = []

    class Registry(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            asked.append(self.path)
            self.send_response(401)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    def start_late() -> None:
        time.sleep(1.0)
        server = HTTPServer(("127.0.0.1", port), Registry)
        server.handle_request()
        server.server_close()

    late = threading.Thread(target=start_late)
    late.start()
    try:
        assert _run(answering(f"127.0.0.1:{port}", "kind-registry", timeout=30)) == f"127.0.0.1:{port}"
    finally:
        late.join()
    assert asked == ["/v2/"], "resolved before the registry answered"


def test_a_registry_that_never_answers_stops_the_up_naming_the_container() -> None:
    port = _free_port()
    with pytest.raises(pulumi.RunError) as caught:
        _run(answering(f"127.0.0.1:{port}", "kind-registry", timeout=1))
    message = str(caught.value)
    assert message.startswith(f"the registry container kind-registry did not answer on http://127.0.0.1:{port}/v2/")
    assert message.endswith("see: docker logs kind-registry")


def test_a_registry_that_accepts_but_never_replies_does_not_hang_the_up() -> None:
    """A wedged registry (the port open, nothing behind it) must end in the same error, not an endless `up`."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)  # connections complete in the backlog; nobody ever reads or answers
        host = f"127.0.0.1:{listening.getsockname()[1]}"
        outcome: list[BaseException] = []

        def wait() -> None:
            try:
                _run(answering(host, "kind-registry", timeout=1))
            except BaseException as exc:  # handed to the test thread
                outcome.append(exc)

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        waiter.join(timeout=20)
        assert not waiter.is_alive(), "still waiting on a registry that will never answer"
    assert len(outcome) == 1 and isinstance(outcome[0], pulumi.RunError), outcome
    assert "did not answer" in str(outcome[0])


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_the_registry_comes_back_after_a_reboot(mockruns: Any, stack: str) -> None:
    """kind's node restarts with Docker (a laptop reboot, a Docker Desktop update); a registry that stayed down
    would leave every new pod in ImagePullBackOff until someone ran `make up` again."""
    run = mockruns.get(stack)
    (container,) = [r for r in run.registrations if r["type"] == "docker:index/container:Container"]
    assert container["inputs"]["restart"] == "always"
