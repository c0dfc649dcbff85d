"""Tool versions are read from the real output formats; downloads are verified before they land in bin/."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from components.stack_config import ROOT
from ops import tools
from ops.proc import UserError
from tests.ops.conftest import MakeTools


def test_versions_parse_from_each_tools_own_format() -> None:
    assert tools.parse_kind_version("kind v0.33.0 go1.24.2 linux/amd64\n") == (0, 33, 0)
    kubectl = '{"clientVersion": {"major": "1", "minor": "37", "gitVersion": "v1.37.1"}, "kustomizeVersion": "v5.7.1"}'
    assert tools.parse_kubectl_version(kubectl) == (1, 37, 1)
    assert tools.parse_pulumi_version("v3.274.1\n") == (3, 274, 1)
    assert tools.parse_pulumi_version("v3.220.0-alpha.x1234\n") == (3, 220, 0)
    assert tools.parse_kubectl_version("Client Version: v1.37.1") is None
    assert tools.parse_kind_version("something else 1.2.3") is None


def test_check_tool_reports_missing_old_and_good(make_tools: MakeTools) -> None:
    env = make_tools("kind", "kubectl", FAKE_KIND_VERSION="v0.20.0")
    old = tools.check_tool("kind", env)
    assert old.problem == "v0.20.0 is older than the minimum v0.33.0"
    # Still the binary that runs: preflight asks it which clusters exist, and the report shows where it is.
    assert old.path == str(Path(env["PATH"].split(":")[0]) / "kind")
    assert tools.check_tool("kubectl", env).version == (1, 37, 1)
    assert tools.check_tool("kubectl", env).ok
    assert tools.check_tool("pulumi", env).problem == "not found"


def test_minimums_are_what_the_pins_need(make_tools: MakeTools) -> None:
    """kind v0.32 cannot be trusted with the pinned node image (first listed by v0.33); a CLI older than the SDK in
    requirements.txt (pulumi==3.272.0) may not serve what the SDK asks for."""
    env = make_tools("kind", "pulumi", FAKE_KIND_VERSION="v0.32.0", FAKE_PULUMI_VERSION="v3.219.0")
    assert tools.check_tool("kind", env).problem == "v0.32.0 is older than the minimum v0.33.0"
    assert tools.check_tool("pulumi", env).problem == "v3.219.0 is older than the minimum v3.272.0"
    requirement = next(
        line for line in (ROOT / "requirements.txt").read_text().splitlines() if line.startswith("pulumi==")
    )
    sdk = tools.parse_pulumi_version(requirement.removeprefix("pulumi=="))
    assert sdk is not None and tools.MINIMUM["pulumi"] >= sdk
    assert tools.parse_pulumi_version(tools.PINNED["pulumi"]) >= tools.MINIMUM["pulumi"]


def test_kubectl_more_than_one_minor_from_the_cluster_is_refused(make_tools: MakeTools) -> None:
    env = make_tools("kubectl", FAKE_KUBECTL_VERSION="v1.35.2")
    assert tools.check_tool("kubectl", env, cluster_minor=36).ok
    assert tools.check_tool("kubectl", env, cluster_minor=34).ok
    assert tools.check_tool("kubectl", env, cluster_minor=37).problem == (
        "v1.35.2 is outside kubectl's supported skew of one minor version from the cluster's 1.37"
    )


def test_release_urls_follow_each_projects_pattern() -> None:
    kind = tools.release("kind", "darwin", "arm64")
    assert kind.url == "https://github.com/kubernetes-sigs/kind/releases/download/v0.33.0/kind-darwin-arm64"
    assert kind.checksum_url == kind.url + ".sha256sum"
    kubectl = tools.release("kubectl", "linux", "amd64")
    assert kubectl.url == "https://dl.k8s.io/release/v1.37.1/bin/linux/amd64/kubectl"
    assert kubectl.checksum_url == kubectl.url + ".sha256"
    pulumi = tools.release("pulumi", "linux", "amd64")
    assert pulumi.url == "https://get.pulumi.com/releases/sdk/pulumi-v3.274.1-linux-x64.tar.gz"
    assert pulumi.checksum_url == "https://get.pulumi.com/releases/sdk/pulumi-3.274.1-checksums.txt"
    assert tools.release("pulumi", "darwin", "arm64").filename == "pulumi-v3.274.1-darwin-arm64.tar.gz"
    assert tools.platform_key("Linux", "x86_64") == ("linux", "amd64")
    assert tools.platform_key("Darwin", "arm64") == ("darwin", "arm64")
    with pytest.raises(UserError, match="no pinned downloads for windows/amd64"):
        tools.platform_key("Windows", "AMD64")


def test_checksum_files_in_all_three_formats() -> None:
    digest = "a" * 64
    assert tools.expected_sha256(f"{digest}\n", "kubectl") == digest
    assert tools.expected_sha256(f"{digest}  kind-linux-amd64\n", "kind-linux-amd64") == digest
    listing = f"{'b' * 64}  pulumi-v3.274.1-darwin-x64.tar.gz\n{digest}  pulumi-v3.274.1-linux-x64.tar.gz\n"
    assert tools.expected_sha256(listing, "pulumi-v3.274.1-linux-x64.tar.gz") == digest
    with pytest.raises(UserError, match="lists no SHA-256 for kind-linux-arm64"):
        tools.expected_sha256(f"{digest}  kind-linux-amd64\n", "kind-linux-arm64")


class FakeFetch:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.calls: list[str] = []

    def __call__(self, url: str, dest: Path) -> None:
        self.calls.append(url)
        dest.write_bytes(self.files[url])


def test_install_fetches_the_checksum_first_and_refuses_a_mismatch(tmp_path: Path) -> None:
    rel = tools.release("kind", "linux", "amd64")
    fetch = FakeFetch({rel.checksum_url: f"{'0' * 64}  kind-linux-amd64\n".encode(), rel.url: b"tampered"})
    bin_dir = tmp_path / "bin"
    with pytest.raises(UserError, match="refusing to install it"):
        tools.install(rel, bin_dir, fetch)
    assert fetch.calls == [rel.checksum_url, rel.url]
    assert list(bin_dir.iterdir()) == []


def test_install_puts_a_verified_binary_in_bin(tmp_path: Path) -> None:
    rel = tools.release("kubectl", "linux", "amd64")
    body = b"#!/bin/sh\necho kubectl\n"
    fetch = FakeFetch({rel.checksum_url: hashlib.sha256(body).hexdigest().encode(), rel.url: body})
    target = tools.install(rel, tmp_path / "bin", fetch)
    assert target == tmp_path / "bin" / "kubectl"
    assert target.read_bytes() == body
    assert target.stat().st_mode & 0o111


def test_pulumi_tarball_is_unpacked_next_to_its_language_hosts(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in ("pulumi/pulumi", "pulumi/pulumi-language-python", "../escape"):
            data = f"{name}\n".encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    body = buffer.getvalue()
    rel = tools.release("pulumi", "linux", "amd64")
    checksums = f"{hashlib.sha256(body).hexdigest()}  {rel.filename}\n".encode()
    tools.install(rel, tmp_path / "bin", FakeFetch({rel.checksum_url: checksums, rel.url: body}))
    assert sorted(p.name for p in (tmp_path / "bin").iterdir()) == ["pulumi", "pulumi-language-python"]
    assert not (tmp_path / "escape").exists()


def test_a_failed_download_names_the_url_and_how_to_install_by_hand(tmp_path: Path) -> None:
    rel = tools.release("kind", "linux", "amd64")

    def offline(url: str, _dest: Path) -> None:
        raise UserError(f"download of {url} failed: [Errno -3] Temporary failure in name resolution")

    with pytest.raises(UserError) as caught:
        tools.install(rel, tmp_path / "bin", offline)
    message = str(caught.value)
    assert f"download of {rel.checksum_url} failed" in message
    assert "install kind v0.33.0 (or newer than v0.33.0) by hand" in message
    assert "https://kind.sigs.k8s.io/docs/user/quick-start/#installation" in message
    assert f"put it on PATH or in {tmp_path / 'bin'}/" in message and "\n" not in message


def test_pinned_replaces_a_usable_but_different_version(make_tools: MakeTools, tmp_path: Path) -> None:
    """CI installs exactly the pinned releases, whatever the runner image brings."""
    env = make_tools("kind", "kubectl", "pulumi", FAKE_KIND_VERSION="v0.34.0")
    fetched: list[str] = []

    def fetch(url: str, dest: Path) -> None:
        fetched.append(url)
        raise UserError("offline")

    assert tools.ensure(("kind",), env=env, bin_dir=tmp_path / "bin", fetch=fetch)[0].ok  # >= minimum: kept
    assert fetched == []
    with pytest.raises(UserError, match="install kind v0.33.0"):
        tools.ensure(("kind",), env=env, bin_dir=tmp_path / "bin", fetch=fetch, pinned=True)
    assert fetched == [tools.release("kind", *tools.platform_key()).checksum_url]


def test_runs_before_any_virtualenv_exists() -> None:
    """The dev-on-kind workflow fetches the tools with a bare Python: ops.tools may use the standard library only."""
    root = Path(__file__).resolve().parents[2]
    # -S: no site-packages at all (neither the venv's nor the system's), only the standard library and the checkout.
    proc = subprocess.run(
        [sys.executable, "-S", "-m", "ops.tools", "--help"], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "--pinned" in proc.stdout


def test_a_download_lands_whole_in_the_file_and_a_failed_one_names_the_url(tmp_path: Path) -> None:
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from threading import Thread

    payload = bytes(range(256)) * 9000  # over 2 MiB: more than one chunk of the copy
    agents: list[str | None] = []

    class Release(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            agents.append(self.headers.get("User-Agent"))
            if self.path != "/kind-linux-amd64":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Release)
    serving = Thread(target=lambda: [server.handle_request() for _ in range(2)], daemon=True)
    serving.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        tools.http_fetch(f"{base}/kind-linux-amd64", tmp_path / "kind")
        with pytest.raises(UserError) as failed:
            tools.http_fetch(f"{base}/missing", tmp_path / "missing")
    finally:
        serving.join(timeout=10)
        server.server_close()
    assert (tmp_path / "kind").read_bytes() == payload
    assert str(failed.value) == f"download of {base}/missing failed: HTTP Error 404: Not Found"
    assert agents == ["wal-service-ops", "wal-service-ops"], "GitHub refuses requests without a User-Agent"


def test_a_tool_whose_version_command_fails_is_reported_with_the_command_and_its_error(tmp_path: Path) -> None:
    kind = tmp_path / "kind"
    kind.write_text("#!/bin/sh\necho 'error: cannot exec binary: wrong architecture' >&2\nexit 126\n")
    kind.chmod(0o755)
    status = tools.check_tool("kind", {"PATH": str(tmp_path)})
    assert (status.path, status.version) == (str(kind), None)
    assert status.problem == "`kind version` failed: error: cannot exec binary: wrong architecture"
