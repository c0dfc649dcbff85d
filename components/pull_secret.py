"""ImagePullSecret: credentials for an external registry, as a dockerconfigjson Secret."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from components.ownership import owned


def docker_config_json(server: str, username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {server: {"username": username, "password": password, "auth": token}}})


@dataclass(frozen=True)
class ImagePullSecretArgs:
    namespace: pulumi.Input[str]
    """Namespace of the pods that pull."""
    server: str
    """Registry host[:port]."""
    username: str
    """Registry user."""
    password: pulumi.Output[str]
    """Registry password (a secret Output from `pulumi config set --secret`)."""
    labels: dict[str, str]
    """Standard labels."""


class ImagePullSecret(pulumi.ComponentResource):
    name: pulumi.Output[str]

    def __init__(self, name: str, args: ImagePullSecretArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:ImagePullSecret", name, None, opts)
        secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata=ObjectMetaArgs(
                name="registry-credentials", namespace=args.namespace, labels=args.labels, annotations=owned()
            ),
            type="kubernetes.io/dockerconfigjson",
            string_data={
                # Derived from a secret Output, so it stays a secret.
                ".dockerconfigjson": args.password.apply(lambda pw: docker_config_json(args.server, args.username, pw))
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = secret.metadata.name
        self.register_outputs({"name": self.name})
