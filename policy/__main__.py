"""Entry point the Pulumi CLI runs for `--policy-pack policy`: it only builds the pack.

The CLI executes this directory as a script (policy/ is then first on sys.path), so the
policies are imported as the top-level package `guardrails`; tests import it as
`policy.guardrails` from the repository root.
"""

from guardrails import PACK_NAME, POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name=PACK_NAME,
    policies=list(POLICIES),
    enforcement_level=EnforcementLevel.MANDATORY,
    description="Guardrails for the WAL service stacks: ingress routing, production images, probes and "
    "resources, Pod Security 'restricted', network isolation, credentials, scaling and image pinning.",
)
