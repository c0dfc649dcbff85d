"""Prerequisite tools: find kind, kubectl and pulumi at minimum versions, or fetch pinned, verified releases.

    python -m ops.tools            report what is installed
    python -m ops.tools --install  download what is missing or too old into bin/ (gitignored)

Downloads go to bin/ only after the project's published checksum file was fetched, and are
refused when the SHA-256 differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ops.proc import BIN_DIR, UserError, cli, run, tool_env

Version = tuple[int, int, int]

KIND_VERSION = "0.33.0"
KUBECTL_VERSION = "1.37.1"
# The CLI `make e2e` builds and runs (e2e/toolchain/pulumi/go.mod: pkg/v3 v3.274.1): not older than the
# Python SDK in requirements.txt (pulumi==3.272.0), whose features the program may use.
PULUMI_VERSION = "3.274.1"
# kind: v0.33.0 is the first release whose notes list the pinned node image (kindNodeImage, v1.37.0); an
# older kind may not run it. pulumi: the SDK version in requirements.txt.
MINIMUM: dict[str, Version] = {"kind": (0, 33, 0), "kubectl": (1, 30, 0), "pulumi": (3, 272, 0)}
PINNED: dict[str, str] = {"kind": KIND_VERSION, "kubectl": KUBECTL_VERSION, "pulumi": PULUMI_VERSION}
VERSION_ARGS: dict[str, list[str]] = {
    "kind": ["kind", "version"],
    "kubectl": ["kubectl", "version", "--client", "-o", "json"],
    "pulumi": ["pulumi", "version"],
}
DOWNLOAD_TIMEOUT = 120.0
# Where each project explains installing by hand, for when a download cannot be made here.
MANUAL_INSTALL: dict[str, str] = {
    "kind": "https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
    "kubectl": "https://kubernetes.io/docs/tasks/tools/#kubectl",
    "pulumi": "https://www.pulumi.com/docs/iac/download-install/",
}
_SEMVER = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _semver(text: str) -> Version | None:
    match = _SEMVER.search(text)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None


def parse_kind_version(text: str) -> Version | None:
    """`kind v0.33.0 go1.24.2 linux/amd64`."""
    match = re.search(r"\bkind\s+(v\d+\.\d+\.\d+)", text)
    return _semver(match.group(1)) if match else None


def parse_kubectl_version(text: str) -> Version | None:
    """`kubectl version --client -o json`: clientVersion.gitVersion, e.g. v1.37.1."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    client = data.get("clientVersion") if isinstance(data, dict) else None
    if not isinstance(client, dict):
        return None
    return _semver(str(client.get("gitVersion", "")))


def parse_pulumi_version(text: str) -> Version | None:
    """`pulumi version`: v3.219.0 (possibly with a pre-release suffix)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return _semver(line) if re.match(r"^v?\d+\.\d+\.\d+", line) else None


PARSERS: dict[str, Callable[[str], Version | None]] = {
    "kind": parse_kind_version,
    "kubectl": parse_kubectl_version,
    "pulumi": parse_pulumi_version,
}


def show(version: Version) -> str:
    return "v" + ".".join(str(part) for part in version)


@dataclass(frozen=True)
class ToolStatus:
    name: str
    path: str | None
    version: Version | None
    problem: str | None
    """None when the tool is usable; else what is wrong, in a few words."""

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_tool(name: str, env: Mapping[str, str], cluster_minor: int | None = None) -> ToolStatus:
    """Find `name` on env's PATH and compare its version with the minimum; kubectl also with the cluster's
    Kubernetes minor (`cluster_minor`), which it may differ from by one at most
    (https://kubernetes.io/releases/version-skew-policy/#kubectl)."""
    path = shutil.which(name, path=env.get("PATH", ""))
    if path is None:
        return ToolStatus(name, None, None, "not found")
    result = run(VERSION_ARGS[name], env=env, timeout=20)
    if result is None or not result.ok:
        detail = result.first_error_line() if result else "cannot be run"
        return ToolStatus(name, path, None, f"`{' '.join(VERSION_ARGS[name])}` failed: {detail}")
    version = PARSERS[name](result.stdout)
    if version is None:
        return ToolStatus(name, path, None, f"cannot read its version from {result.stdout.strip()[:60]!r}")
    if version < MINIMUM[name]:
        return ToolStatus(name, path, version, f"{show(version)} is older than the minimum {show(MINIMUM[name])}")
    if name == "kubectl" and cluster_minor is not None and abs(version[1] - cluster_minor) > 1:
        return ToolStatus(
            name,
            path,
            version,
            f"{show(version)} is outside kubectl's supported skew of one minor version from the cluster's "
            f"1.{cluster_minor}",
        )
    return ToolStatus(name, path, version, None)


# ------------------------------------------------------------------------------------------ downloads
@dataclass(frozen=True)
class Release:
    name: str
    version: str
    url: str
    checksum_url: str
    filename: str
    """Name the checksum file lists the artifact under."""
    archive: bool


def platform_key(system: str | None = None, machine: str | None = None) -> tuple[str, str]:
    """(os, arch) as kind and kubectl spell them: linux|darwin, amd64|arm64."""
    system = (system or platform.system()).lower()
    machine = (machine or platform.machine()).lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)
    if system not in ("linux", "darwin") or arch is None:
        raise UserError(f"no pinned downloads for {system}/{machine}; install kind, kubectl and pulumi yourself")
    return system, arch


def release(name: str, os_name: str, arch: str) -> Release:
    version = PINNED[name]
    if name == "kind":
        url = f"https://github.com/kubernetes-sigs/kind/releases/download/v{version}/kind-{os_name}-{arch}"
        return Release(name, version, url, f"{url}.sha256sum", f"kind-{os_name}-{arch}", False)
    if name == "kubectl":
        url = f"https://dl.k8s.io/release/v{version}/bin/{os_name}/{arch}/kubectl"
        return Release(name, version, url, f"{url}.sha256", "kubectl", False)
    if name == "pulumi":
        pulumi_arch = {"amd64": "x64", "arm64": "arm64"}[arch]
        filename = f"pulumi-v{version}-{os_name}-{pulumi_arch}.tar.gz"
        base = "https://get.pulumi.com/releases/sdk"
        return Release(name, version, f"{base}/{filename}", f"{base}/pulumi-{version}-checksums.txt", filename, True)
    raise UserError(f"no pinned release for {name}")


def expected_sha256(checksum_text: str, filename: str) -> str:
    """The SHA-256 for `filename` in a checksum file: `<hex>  <name>` lines, or a lone hex digest."""
    lines = [line.split() for line in checksum_text.splitlines() if line.strip()]
    if len(lines) == 1 and len(lines[0]) == 1 and _SHA256.match(lines[0][0].lower()):
        return lines[0][0].lower()
    for parts in lines:
        if len(parts) >= 2 and parts[-1].lstrip("*") == filename and _SHA256.match(parts[0].lower()):
            return parts[0].lower()
    raise UserError(f"the checksum file lists no SHA-256 for {filename}")


def http_fetch(url: str, dest: Path) -> None:
    """Stream `url` to `dest` (HTTPS, bounded by a socket timeout)."""
    request = urllib.request.Request(url, headers={"User-Agent": "wal-service-ops"})
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response, dest.open("wb") as out:  # noqa: S310
            shutil.copyfileobj(response, out, length=1 << 20)
    except OSError as exc:
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()  # it carries the response, and with it the connection
        raise UserError(f"download of {url} failed: {exc}") from None


Fetch = Callable[[str, Path], None]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def install(rel: Release, bin_dir: Path = BIN_DIR, fetch: Fetch = http_fetch) -> Path:
    """Download one release into bin_dir after verifying it against the published checksum.

    A failed download says which URL failed and how to install the tool by hand instead."""
    try:
        return _install(rel, bin_dir, fetch)
    except UserError as exc:
        raise UserError(
            f"{exc}; install {rel.name} v{rel.version} (or newer than {show(MINIMUM[rel.name])}) by hand "
            f"({MANUAL_INSTALL[rel.name]}) and put it on PATH or in {bin_dir}/, then run this again"
        ) from None


def _install(rel: Release, bin_dir: Path, fetch: Fetch) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=bin_dir, prefix=".download-") as tmp:
        checksum_file = Path(tmp) / "checksum"
        # The checksum comes first: no binary is fetched without something to check it against.
        fetch(rel.checksum_url, checksum_file)
        expected = expected_sha256(checksum_file.read_text(errors="replace"), rel.filename)
        artifact = Path(tmp) / rel.filename
        fetch(rel.url, artifact)
        actual = sha256_of(artifact)
        if actual != expected:
            raise UserError(
                f"{rel.url} has SHA-256 {actual}, but {rel.checksum_url} says {expected}; refusing to install it"
            )
        target = bin_dir / rel.name
        if rel.archive:
            _extract_pulumi(artifact, bin_dir)
        else:
            os.replace(artifact, target)
        target.chmod(0o755)
        return target


def _extract_pulumi(archive: Path, bin_dir: Path) -> None:
    # The tarball holds pulumi/<binaries>; the language hosts must sit next to pulumi.
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            name = Path(member.name)
            if not member.isfile() or len(name.parts) != 2 or name.parts[0] != "pulumi":
                continue
            source = tar.extractfile(member)
            if source is None:
                continue
            target = bin_dir / name.name
            with source, target.open("wb") as out:
                shutil.copyfileobj(source, out)
            target.chmod(0o755)


def ensure(
    names: tuple[str, ...] = ("kind", "kubectl", "pulumi"),
    env: Mapping[str, str] | None = None,
    bin_dir: Path = BIN_DIR,
    fetch: Fetch = http_fetch,
    pinned: bool = False,
    cluster_minor: int | None = None,
) -> list[ToolStatus]:
    """Install every missing, too-old or (kubectl) out-of-skew tool (every one not at its pinned version, with
    `pinned`); return the statuses after installing."""
    env = dict(env) if env is not None else tool_env(bin_dir=bin_dir)
    os_name, arch = platform_key()
    statuses = []
    for name in names:
        status = check_tool(name, env, cluster_minor)
        if pinned and status.ok and status.version != _semver(PINNED[name]):
            status = ToolStatus(name, status.path, status.version, f"not the pinned v{PINNED[name]}")
        if not status.ok:
            print(f"{name}: {status.problem}; fetching {name} v{PINNED[name]} into {bin_dir}/", flush=True)
            install(release(name, os_name, arch), bin_dir, fetch)
            status = check_tool(name, env, cluster_minor)
        statuses.append(status)
    return statuses


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check or fetch kind, kubectl and pulumi.")
    parser.add_argument("--install", action="store_true", help="download missing or too-old tools into bin/")
    parser.add_argument("--pinned", action="store_true", help="with --install: the pinned versions, whatever PATH has")
    args = parser.parse_args(argv)
    env = tool_env()
    statuses = ensure(env=env, pinned=args.pinned) if args.install else [check_tool(name, env) for name in PINNED]
    for status in statuses:
        version = show(status.version) if status.version else "?"
        label = "ok  " if status.ok else "FAIL"
        print(f"{label} {status.name} {version} {status.path or ''} {status.problem or ''}".rstrip())
    return 0 if all(status.ok for status in statuses) else 1


if __name__ == "__main__":
    raise SystemExit(main(None))
