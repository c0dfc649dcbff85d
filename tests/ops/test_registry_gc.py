"""make registry-gc: the keep-set and the registry API calls, against a fake registry served on 127.0.0.1.

No Docker here: the real `registry` container and its `garbage-collect` cannot run. The fake implements the
calls the clean-up makes as distribution/distribution answers them (tags/list, HEAD/GET/PUT/DELETE on
manifests; DELETE by digest answers 202 and drops the tags that point at it, or 405 UNSUPPORTED when deletes are
off), and `docker exec` is replaced by a recorder that answers like the registry image would.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from components.registry import NO_BLOB_DESCRIPTOR_CACHE
from ops import registry_gc as gc
from ops.proc import Result, UserError
from ops.registry_client import RegistryClient

REPO = "wal-service"
HOSTS = ("kind-registry:5000", "localhost:6000")
INDEX = "application/vnd.oci.image.index.v1+json"


def ours(ref: str) -> bool:
    return ref.startswith(tuple(f"{host}/" for host in HOSTS))


class FakeRegistry:
    """Manifests by digest and tags, as the registry's API exposes them."""

    def __init__(self, delete_enabled: bool = True) -> None:
        self.delete_enabled = delete_enabled
        self.manifests: dict[str, bytes] = {}
        self.tags: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []

    def push(self, tag: str, content: str) -> str:
        body = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": [], "content": content}).encode()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.manifests[digest] = body
        self.tags[tag] = digest
        return digest

    def handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _manifest(self) -> tuple[str, str] | None:
                prefix = f"/v2/{REPO}/manifests/"
                if not self.path.startswith(prefix):
                    return None
                reference = self.path[len(prefix) :]
                return reference, registry.tags.get(reference, reference)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                registry.calls.append(("GET", self.path))
                if self.path.startswith(f"/v2/{REPO}/tags/list"):
                    body = json.dumps({"name": REPO, "tags": sorted(registry.tags) or None}).encode()
                    return self._reply(200, body, {"Content-Type": "application/json"})
                found = self._manifest()
                if found and found[1] in registry.manifests:
                    headers = {"Content-Type": INDEX, "Docker-Content-Digest": found[1]}
                    return self._reply(200, registry.manifests[found[1]], headers)
                return self._reply(404)

            do_HEAD = do_GET  # noqa: N815

            def do_PUT(self) -> None:  # noqa: N802
                registry.calls.append(("PUT", self.path))
                found = self._manifest()
                body = self.rfile.read(int(self.headers["Content-Length"]))
                digest = "sha256:" + hashlib.sha256(body).hexdigest()
                assert found and self.headers["Content-Type"] == INDEX
                registry.manifests[digest] = body
                registry.tags[found[0]] = digest
                self._reply(201, headers={"Docker-Content-Digest": digest})

            def do_DELETE(self) -> None:  # noqa: N802
                registry.calls.append(("DELETE", self.path))
                if not registry.delete_enabled:
                    return self._reply(405, b'{"errors":[{"code":"UNSUPPORTED"}]}')
                found = self._manifest()
                if not found or found[1] not in registry.manifests:
                    return self._reply(404)
                del registry.manifests[found[1]]
                for tag in [t for t, d in registry.tags.items() if d == found[1]]:
                    del registry.tags[tag]
                self._reply(202)

        return Handler


@pytest.fixture
def fake() -> Iterator[tuple[FakeRegistry, RegistryClient]]:
    registry = FakeRegistry()
    server = ThreadingHTTPServer(("127.0.0.1", 0), registry.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield registry, RegistryClient(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


def update(version: int, head: str = "", image_ref: str = "", result: str = "succeeded") -> dict[str, Any]:
    return {
        "kind": "update",
        "result": result,
        "version": version,
        "environment": {"git.head": head, "git.dirty": "false"} if head else {},
        "config": {"wal-service:imageRef": {"value": image_ref}} if image_ref else {},
    }


def commit(n: int) -> str:
    return f"{n:x}".ljust(40, "0")


def test_keeps_deployed_recent_history_and_running_deletes_the_rest(fake: tuple[FakeRegistry, Any]) -> None:
    registry, client = fake
    digests = {n: registry.push(commit(n)[:12], f"build {n}") for n in range(1, 7)}
    running_only = registry.push("ffffffffffff", "an old build a pod still runs")
    history = [update(n, head=commit(n)) for n in range(1, 7)] + [update(7, head=commit(7), result="failed")]
    stacks = [gc.StackImages("dev", f"kind-registry:5000/{REPO}@{digests[6]}", history, keep_revisions=3)]
    running = {running_only: ["default/old-pod"]}

    plan = gc.plan(stacks, gc.registry_tags(client), running, ours)
    assert set(plan.keep) == {digests[6], digests[5], digests[4], running_only}, plan.keep
    assert "dev: deployed now" in plan.keep[digests[6]]
    assert set(plan.delete) == {digests[1], digests[2], digests[3]}
    lines = gc.execute(client, plan, dry_run=False)

    deleted = {path.rsplit("/", 1)[-1] for method, path in registry.calls if method == "DELETE"}
    assert deleted == {digests[1], digests[2], digests[3]}, "only what the plan deletes goes through the API"
    assert set(registry.manifests) == {digests[4], digests[5], digests[6], running_only}
    assert sum(line.startswith("delete ") for line in lines) == 3
    assert sum(line.startswith("keep ") for line in lines) == 4


def test_a_running_digest_without_a_tag_is_pinned_before_the_untagged_sweep(fake: tuple[FakeRegistry, Any]) -> None:
    registry, client = fake
    old = registry.push("3f2a9c1d7e4b-dirty", "first dirty build")
    new = registry.push("3f2a9c1d7e4b-dirty", "second dirty build: the tag moved on")
    assert registry.tags["3f2a9c1d7e4b-dirty"] == new
    stacks = [gc.StackImages("dev", f"kind-registry:5000/{REPO}@{new}", [], keep_revisions=5)]
    plan = gc.plan(stacks, gc.registry_tags(client), {old: ["wal-service-dev/wal-service-abc"]}, ours)
    assert plan.pin == [old] and not plan.delete
    gc.execute(client, plan, dry_run=False)
    pin = "keep-" + old.removeprefix("sha256:")[:12]
    assert registry.tags[pin] == old, "the running image must carry a tag so --delete-untagged keeps it"


def test_imagerefs_of_other_registries_and_missing_builds_are_not_kept(fake: tuple[FakeRegistry, Any]) -> None:
    registry, client = fake
    local = registry.push("aaaaaaaaaaaa", "local build")
    elsewhere = "sha256:" + "b" * 64
    history = [
        update(3, image_ref=f"registry.example.com/{REPO}@{elsewhere}"),
        update(2, head=commit(99)),  # its tag was never pushed here or is gone
        update(1, image_ref=f"kind-registry:5000/{REPO}@{local}"),
    ]
    plan = gc.plan([gc.StackImages("dev", "", history, keep_revisions=5)], gc.registry_tags(client), {}, ours)
    assert set(plan.keep) == {local}
    assert any("no longer has" in note for note in plan.notes)


def test_dry_run_changes_nothing(fake: tuple[FakeRegistry, Any]) -> None:
    registry, client = fake
    registry.push("aaaaaaaaaaaa", "old")
    plan = gc.plan([gc.StackImages("dev", "", [], keep_revisions=1)], gc.registry_tags(client), {}, ours)
    lines = gc.execute(client, plan, dry_run=True)
    assert [m for m, _ in registry.calls if m in ("DELETE", "PUT")] == []
    assert lines[0].startswith("would delete ")


def test_a_registry_without_deletes_is_named_with_the_setting(fake: tuple[FakeRegistry, Any]) -> None:
    registry, client = fake
    registry.delete_enabled = False
    digest = registry.push("aaaaaaaaaaaa", "old")
    with pytest.raises(UserError, match="REGISTRY_STORAGE_DELETE_ENABLED=true"):
        client.delete(REPO, digest)
    assert digest in registry.manifests


def test_running_digests_come_from_specs_and_statuses_of_our_registry_only() -> None:
    digest_a, digest_b, digest_c, foreign = ("sha256:" + c * 64 for c in "abcf")
    pod = SimpleNamespace(
        metadata=SimpleNamespace(namespace="wal-service-dev", name="wal-service-1"),
        spec=SimpleNamespace(
            init_containers=[SimpleNamespace(image=f"kind-registry:5000/{REPO}@{digest_a}")],
            containers=[
                SimpleNamespace(image=f"docker.io/library/postgres@{foreign}"),
                SimpleNamespace(image=f"kind-registry:5000/{REPO}@{digest_c}"),
            ],
        ),
        status=SimpleNamespace(
            init_container_statuses=None,
            container_statuses=[SimpleNamespace(image_id=f"localhost:6000/{REPO}@{digest_b}", image="postgres:17")],
        ),
    )
    found = gc.running_digests([pod], HOSTS)
    pod_name = ["wal-service-dev/wal-service-1"]
    assert found == {digest_a: pod_name, digest_b: pod_name, digest_c: pod_name}


def test_garbage_collection_runs_in_the_container_and_reports_what_it_reclaimed() -> None:
    calls: list[list[str]] = []
    sizes = iter(["319488\t/var/lib/registry\n", "233472\t/var/lib/registry\n"])

    def docker(args: Any, timeout: float) -> Result:
        calls.append(list(args))
        if "du" in args:
            return Result(0, next(sizes), "")
        if args[0] == "inspect":
            return Result(0, json.dumps(CONTAINER_ENV) + "\n", "")
        # The summary line as distribution's garbagecollect.go prints it.
        return Result(0, "wal-service\n\n41 blobs marked, 12 blobs and 3 manifests eligible for deletion\n", "")

    lines = gc.garbage_collect("kind-registry", dry_run=False, exec_docker=docker)
    assert calls[1] == [
        "exec",
        "kind-registry",
        "registry",
        "garbage-collect",
        "--delete-untagged",
        "/etc/distribution/config.yml",
    ]
    assert lines == [
        "registry garbage-collect: 41 blobs still referenced; 12 blobs and 3 manifests removed",
        "reclaimed 84.0 MiB (registry data 312.0 MiB -> 228.0 MiB)",
    ]


# `docker inspect --format '{{json .Config.Env}}'` of the container components/registry.py creates: the image's
# ENV, then ours.
CONTAINER_ENV = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "OTEL_TRACES_EXPORTER=none",
    "REGISTRY_STORAGE_DELETE_ENABLED=true",
    NO_BLOB_DESCRIPTOR_CACHE,
]


class DockerRecorder:
    """`docker` as the registry container answers it; `env` is what `docker inspect` reports."""

    def __init__(self, env: list[str], fail: frozenset[str] = frozenset()) -> None:
        self.env = env
        self.fail = fail
        self.calls: list[list[str]] = []

    def __call__(self, args: Any, timeout: float) -> Result:
        self.calls.append(list(args))
        if args[0] in self.fail:
            return Result(1, "", f"Error response from daemon: cannot {args[0]} kind-registry")
        if args[0] == "inspect":
            return Result(0, json.dumps(self.env) + "\n", "")
        if "du" in args:
            return Result(0, "1024\t/var/lib/registry\n", "")
        if args[0] == "restart":
            return Result(0, "kind-registry\n", "")
        return Result(0, "1 blobs marked, 2 blobs and 1 manifests eligible for deletion\n", "")

    def restarts(self) -> list[list[str]]:
        return [call for call in self.calls if call[0] == "restart"]


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_registry_without_the_blob_descriptor_cache_is_not_restarted(dry_run: bool) -> None:
    docker = DockerRecorder(CONTAINER_ENV)
    lines = gc.garbage_collect("kind-registry", dry_run=dry_run, exec_docker=docker)
    assert docker.restarts() == [], f"restarted a registry that has no blob descriptor cache: {docker.calls}"
    assert not any("restart" in line for line in lines), lines


def test_a_registry_with_the_blob_descriptor_cache_is_restarted_after_a_real_collection() -> None:
    """A container created before components/registry.py turned the cache off: only a restart forgets the blobs
    the collection deleted (distribution/distribution#4569)."""
    docker = DockerRecorder([e for e in CONTAINER_ENV if not e.startswith("REGISTRY_STORAGE_CACHE_")])
    lines = gc.garbage_collect("kind-registry", dry_run=False, exec_docker=docker)
    collect = next(i for i, call in enumerate(docker.calls) if "garbage-collect" in call)
    assert docker.restarts() == [["restart", "kind-registry"]]
    assert docker.calls.index(["restart", "kind-registry"]) > collect, "restarted before the collection"
    restarted = [line for line in lines if line.startswith("restarted kind-registry: ")]
    assert restarted and "make up" in restarted[0] and "issues/4569" in restarted[0], lines


def test_a_dry_run_never_restarts_but_says_a_real_run_would() -> None:
    docker = DockerRecorder(CONTAINER_ENV[:3])
    lines = gc.garbage_collect("kind-registry", dry_run=True, exec_docker=docker)
    assert docker.restarts() == []
    assert any(line.startswith("would restart kind-registry: ") for line in lines), lines


def test_a_container_that_cannot_be_inspected_counts_as_cached_and_a_failed_restart_says_what_to_run() -> None:
    docker = DockerRecorder(CONTAINER_ENV, fail=frozenset({"inspect", "restart"}))
    with pytest.raises(UserError, match=r"run `docker restart kind-registry` before the next push"):
        gc.garbage_collect("kind-registry", dry_run=False, exec_docker=docker)


def test_unreachable_cluster_stops_before_any_delete(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = SimpleNamespace(kubeconfig="")
    asked: list[tuple[Any, ...]] = []

    def refuse(*args: Any, **__: Any) -> Any:
        asked.append(args)
        raise OSError("connection refused")

    monkeypatch.setattr("ops.kube.api_client", refuse)
    with pytest.raises(UserError) as refused:
        gc.cluster_pods(settings, "kind-wal-service-cluster")  # type: ignore[arg-type]
    assert asked == [(settings, "kind-wal-service-cluster")], "the stack's own cluster, not the current context"
    assert str(refused.value) == (
        "cannot list the pods of cluster kind-wal-service-cluster (OSError), so the images they run are unknown; "
        "nothing was deleted. Start the cluster (make up) and try again"
    )
