"""The few Registry HTTP API V2 calls the ops need (https://distribution.github.io/distribution/spec/api/):
the clean-up's listing, tagging and deleting, and rollback's tag -> digest."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from email.message import Message

from ops.proc import UserError

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


class RegistryClient:
    """A registry reached over plain HTTP: the stack's local one, on 127.0.0.1."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, Message, bytes]:
        request = urllib.request.Request(
            f"{self.base_url}{path}", data=body, method=method, headers=dict(headers or {})
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - our own registry
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read()
        except OSError as exc:
            raise UserError(f"registry {self.base_url} does not answer ({exc}); is the stack up?") from None

    def tags(self, repository: str) -> list[str]:
        status, _, body = self._call("GET", f"/v2/{repository}/tags/list?n=10000")
        if status == 404:
            return []  # NAME_UNKNOWN: nothing was ever pushed
        if status != 200:
            raise UserError(f"registry {self.base_url}: listing the tags of {repository} gave HTTP {status}")
        return sorted(json.loads(body).get("tags") or [])

    def digest(self, repository: str, reference: str) -> str | None:
        """The manifest digest a tag (or digest) resolves to; None when the registry has no such manifest."""
        status, headers, _ = self._call(
            "HEAD", f"/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES}
        )
        digest = headers.get("Docker-Content-Digest", "") if status == 200 else ""
        return digest if DIGEST.fullmatch(digest) else None

    def pin(self, repository: str, digest: str, tag: str) -> None:
        """Tag an existing manifest: the same bytes PUT under a tag (the digest does not change)."""
        status, headers, body = self._call(
            "GET", f"/v2/{repository}/manifests/{digest}", headers={"Accept": MANIFEST_TYPES}
        )
        if status != 200:
            raise UserError(f"registry {self.base_url}: reading manifest {digest} gave HTTP {status}")
        media_type = headers.get("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        status, _, _ = self._call(
            "PUT", f"/v2/{repository}/manifests/{tag}", body=body, headers={"Content-Type": media_type}
        )
        if status != 201:
            raise UserError(f"registry {self.base_url}: tagging {digest} as {tag} gave HTTP {status}")

    def delete(self, repository: str, digest: str) -> None:
        status, _, _ = self._call("DELETE", f"/v2/{repository}/manifests/{digest}")
        if status == 405:
            raise UserError(
                f"registry {self.base_url} refuses deletes (HTTP 405 UNSUPPORTED): its container needs "
                "REGISTRY_STORAGE_DELETE_ENABLED=true; run make up to recreate it with that setting"
            )
        if status not in (202, 404):
            raise UserError(f"registry {self.base_url}: deleting {digest} gave HTTP {status}")
