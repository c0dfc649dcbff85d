"""WAL Service platform: `pulumi up -s <stack>` runs the whole pipeline for that stack."""

import pulumi

from components.environment import Environment, EnvironmentArgs
from components.stack_checks import load_settings

settings = load_settings()
env = Environment(f"wal-{settings.stack}", EnvironmentArgs(settings=settings))

pulumi.export("namespace", env.namespace)
pulumi.export("url", env.url)
pulumi.export("image", env.image)
pulumi.export("imageDigest", env.image_digest)
pulumi.export("revision", env.revision)
pulumi.export("kubeContext", env.kube_context)
pulumi.export("debugCommands", env.debug_commands)
pulumi.export("recoveryCommands", env.recovery_commands)
pulumi.export("apiKeys", env.api_keys)
if env.api_token is not None:
    pulumi.export("apiToken", env.api_token)
