"""ApiKeys: the service's keys file, in a Secret the pods mount.

The file holds one line per key, `<name>:<role>:<sha256 hex of the token>` (app/README.md): the
tokens themselves never leave the program and its encrypted state, and the hashes stay secret too.
A generated writer key (pulumi-random) gives a stack a working token without any config.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from components.checksums import secret_checksum
from components.ownership import owned

SECRET_NAME = "wal-service-api-keys"
KEYS_FILE = "keys"
# 48 letters and digits: about 285 bits, and nothing a shell or an HTTP header needs quoted.
GENERATED_LENGTH = 48


@dataclass(frozen=True)
class ApiKey:
    """One key the service accepts."""

    name: str
    """What the access log calls requests made with it (a lower-case DNS label)."""
    role: str
    """reader (GET) or writer (GET and POST)."""
    token: pulumi.Input[str]
    """The bearer token (a secret); only its SHA-256 reaches the cluster."""


@dataclass(frozen=True)
class ApiKeysArgs:
    namespace: pulumi.Input[str]
    """Namespace of the service (an AppNamespace's output, so it exists first)."""
    labels: dict[str, str]
    """Labels of the Secret."""
    keys: Sequence[ApiKey] = ()
    """Keys from stack config."""
    generated_name: str = ""
    """Name of a writer key to generate besides them; empty generates none."""


def key_line(name: str, role: str, token: str) -> str:
    """The keys-file line of a token, as the service reads it (wal_service.auth.key_line)."""
    return f"{name}:{role}:{hashlib.sha256(token.encode()).hexdigest()}"


class ApiKeys(pulumi.ComponentResource):
    secret_name: pulumi.Output[str]
    file_key: str
    checksum: pulumi.Output[str]
    token: pulumi.Output[str] | None
    names: list[str]

    def __init__(self, name: str, args: ApiKeysArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:ApiKeys", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        keys = list(args.keys)
        self.token = None
        if args.generated_name:
            generated = random.RandomPassword(f"{name}-token", length=GENERATED_LENGTH, special=False, opts=child)
            self.token = pulumi.Output.secret(generated.result)
            keys.append(ApiKey(args.generated_name, "writer", self.token))
        if not keys:
            raise ValueError("ApiKeys needs at least one key: a service without keys refuses every request")

        lines: pulumi.Output[str] = pulumi.Output.all(*(key.token for key in keys)).apply(
            lambda tokens: "".join(
                key_line(key.name, key.role, str(token)) + "\n" for key, token in zip(keys, tokens, strict=True)
            )
        )
        keys_file: pulumi.Output[str] = pulumi.Output.secret(lines)
        secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata=ObjectMetaArgs(
                name=SECRET_NAME, namespace=args.namespace, labels=args.labels, annotations=owned()
            ),
            type="Opaque",
            string_data={KEYS_FILE: keys_file},
            opts=child,
        )
        self.secret_name = secret.metadata.name
        self.file_key = KEYS_FILE
        # Pods read the file at start: a changed key rolls them. Keyed, so the annotation tells nothing of a hash.
        checksum_key = random.RandomPassword(f"{name}-checksum-key", length=32, special=False, opts=child)
        self.checksum = secret_checksum(checksum_key.result, {KEYS_FILE: keys_file})
        self.names = [f"{key.name}:{key.role}" for key in keys]
        self.register_outputs(
            {
                "secret_name": self.secret_name,
                "file_key": self.file_key,
                "checksum": self.checksum,
                "token": self.token,
                "names": self.names,
            }
        )
