"""Pod-template checksums: pods restart only when their template changes.

ConfigMaps and Secrets are updated in place (the provider's enableConfigMapMutable and
enableSecretMutable), and the kubelet never restarts a container for a changed environment
variable, so what pods read from them is folded into an annotation of the pod template.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence

import pulumi


def config_checksum(data: Mapping[str, str]) -> str:
    """SHA-256 of ConfigMap data (nothing secret in it)."""
    return hashlib.sha256(json.dumps(dict(data), sort_keys=True).encode()).hexdigest()


def secret_checksum(key: pulumi.Input[str], data: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[str]:
    """HMAC-SHA256 of a Secret's data under `key`, a random value kept in stack state.

    It changes whenever the data does, but unlike a plain hash it cannot be brute-forced back to a
    chosen password by whoever reads the pod annotation, so it is published as a plain value (a
    rotation shows in the preview as a changed annotation).
    """
    digest = pulumi.Output.all(key, dict(data)).apply(
        lambda v: hmac.new(str(v[0]).encode(), json.dumps(v[1], sort_keys=True).encode(), hashlib.sha256).hexdigest()
    )
    return pulumi.Output.unsecret(digest)


def combine(checksums: Sequence[str]) -> str:
    """One checksum over several (each already a digest), in any order."""
    return config_checksum({str(i): c for i, c in enumerate(sorted(checksums))})
