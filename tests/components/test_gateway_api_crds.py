"""The Gateway API CRDs a kind stack installs: fetched from where they are published, checked, cached."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pulumi
import pytest

from components import gateway_api_crds as crds
from components.args_from_settings import gateway_api_crd_files
from components.stack_checks import stack_settings
from e2e.upstream_files import download


@pytest.fixture(scope="module")
def module_zip() -> Path:
    """The module zip Go downloaded and checked against e2e/upstream/go.sum: the bytes a proxy serves."""
    return Path(download(crds.MODULE)["Zip"])


def test_the_pinned_hash_is_gos(module_zip: Path) -> None:
    """MODULE_HASH is go.sum's line, and module_hash computes what Go computes (dirhash Hash1)."""
    go_sum = (Path(__file__).resolve().parents[2] / "e2e" / "upstream" / "go.sum").read_text()
    assert f"{crds.MODULE} {crds.VERSION} {crds.MODULE_HASH}\n" in go_sum
    assert crds.module_hash(zipfile.ZipFile(module_zip)) == crds.MODULE_HASH


def test_the_standard_channel_is_unpacked_and_cached(module_zip: Path, tmp_path: Path) -> None:
    files = crds.standard_channel(str(module_zip), tmp_path)
    names = [f.name for f in files]
    assert names == sorted(names)
    assert {"gateway.networking.k8s.io_gateways.yaml", "gateway.networking.k8s.io_httproutes.yaml"} <= set(names)
    assert not [n for n in names if "experimental" in n or "tcproutes" in n], "the standard channel only"
    # Cached: a second call does not read the source again.
    assert crds.standard_channel(str(tmp_path / "gone.zip"), tmp_path) == files


def test_a_zip_that_is_not_the_pinned_module_is_refused(module_zip: Path, tmp_path: Path) -> None:
    """A mirror serving anything else (one CRD changed by a byte) installs nothing."""
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(module_zip) as source, zipfile.ZipFile(tampered, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("_httproutes.yaml"):
                data += b"\n"
            out.writestr(info, data)
    cache = tmp_path / "cache"
    with pytest.raises(crds.BundleError, match=r"is not sigs\.k8s\.io/gateway-api v1\.5\.1: its hash is h1:"):
        crds.standard_channel(str(tampered), cache)
    assert not cache.exists(), "nothing unpacked from a zip that failed the check"


def test_an_unreachable_source_names_the_key_and_the_air_gapped_fix(tmp_path: Path) -> None:
    settings = stack_settings("dev", {"gatewayApiCrds": str(tmp_path / "missing.zip")})
    with pytest.raises(pulumi.RunError) as caught:
        crds_home = tmp_path / "home"
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("XDG_CACHE_HOME", str(crds_home))
            gateway_api_crd_files(settings)
    message = str(caught.value)
    assert message.startswith(f"wal-service:gatewayApiCrds: could not read {tmp_path / 'missing.zip'}"), message
    assert "pulumi config set wal-service:gatewayApiCrds <path of the zip> -s dev" in message
    assert "\n" not in message


def test_not_a_zip_is_named(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_bytes(b"<html>proxy login</html>")
    with pytest.raises(crds.BundleError, match="is not a zip archive"):
        crds.standard_channel(str(page), tmp_path / "cache")
