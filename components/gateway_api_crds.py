"""The Gateway API CRDs a kind stack installs: fetched where they are published, checked, cached.

They are the standard channel (config/crd/standard/) of the Go module sigs.k8s.io/gateway-api at the version
NGINX Gateway Fabric is built against, from the module zip a Go module proxy serves. The zip is checked
against the module's `h1:` hash, the one go.sum files and the public checksum database (sum.golang.org)
record, so any mirror of it is as good as the original: the release bundle (standard-install.yaml) is the
same files concatenated under a header stamped with its build year (hack/build-install-yaml.sh), so its
checksum cannot be derived from the sources. Nothing is copied into this repository.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import urllib.request
import zipfile
from pathlib import Path

MODULE = "sigs.k8s.io/gateway-api"
# The standard channel of the Gateway API release NGINX Gateway Fabric 2.6 is built against (its
# technical specifications: 2.6.5 <-> Gateway API 1.5.1).
VERSION = "v1.5.1"
# go.sum's line for the module (e2e/upstream/go.sum holds the same one, checked by `go mod download`).
MODULE_HASH = "h1:RqVRIlkhLhUO8wOHKTLnTJA6o/1un4po4/6M1nRzdd0="
DEFAULT_SOURCE = f"https://proxy.golang.org/{MODULE}/@v/{VERSION}.zip"
STANDARD = f"{MODULE}@{VERSION}/config/crd/standard/"
FETCH_TIMEOUT = 120


class BundleError(Exception):
    """The bundle could not be had, or is not the pinned one."""


def module_hash(archive: zipfile.ZipFile) -> str:
    """golang.org/x/mod/sumdb/dirhash Hash1: sha256 over the sorted lines "<sha256 hex>  <name>\\n" of every file."""
    lines = []
    for name in sorted(info.filename for info in archive.infolist() if not info.is_dir()):
        lines.append(f"{hashlib.sha256(archive.read(name)).hexdigest()}  {name}\n")
    return "h1:" + base64.b64encode(hashlib.sha256("".join(lines).encode()).digest()).decode()


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "wal-service" / f"gateway-api-{VERSION}"


def _read(source: str) -> bytes:
    if "://" not in source:
        return Path(source).expanduser().read_bytes()
    with urllib.request.urlopen(source, timeout=FETCH_TIMEOUT) as response:  # noqa: S310 - https or a mirror
        data: bytes = response.read()
        return data


def standard_channel(source: str = DEFAULT_SOURCE, cache: Path | None = None) -> list[Path]:
    """The standard channel's CRD files, sorted: from the cache, or fetched from `source` (a URL or a path of the
    module zip), checked against MODULE_HASH and unpacked into the cache. Raises BundleError."""
    cache = cache or cache_dir()
    done = cache / ".complete"
    if not done.exists():
        try:
            data = _read(source)
        except OSError as exc:
            raise BundleError(f"could not read {source}: {exc}") from None
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            raise BundleError(f"{source} is not a zip archive") from None
        found = module_hash(archive)
        if found != MODULE_HASH:
            raise BundleError(f"{source} is not {MODULE} {VERSION}: its hash is {found}, expected {MODULE_HASH}")
        members = [n for n in archive.namelist() if n.startswith(STANDARD) and n.endswith(".yaml")]
        if not members:
            raise BundleError(f"{source} has no {STANDARD}*.yaml")
        cache.mkdir(parents=True, exist_ok=True)
        for name in members:
            target = cache / name.removeprefix(STANDARD)
            target.write_bytes(archive.read(name))
        done.write_text(f"{source}\n")
    return sorted(cache.glob("*.yaml"))
