"""The wal-service-guardrails policies, one module per topic.

Each topic module declares every policy right after its check, with its enforcement level,
severity, a public documentation url and tags. This package only collects them into `POLICIES`,
in topic order: `policy/__main__.py` builds the pack from that list, `tools/policy_doc.py` the
README's policy table, and the tests run it. Adding a policy to a topic touches that topic's
module only; a new topic is a new module listed in `TOPICS`.

The modules import each other relatively, so the package loads both as `guardrails` (the Pulumi
CLI runs policy/ as a script, with policy/ first on sys.path) and as `policy.guardrails` (tests).
"""

from __future__ import annotations

from types import ModuleType

from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from . import credentials, images, ingress, network, pod_security, probes, resources, scaling
from .common import Policy

PACK_NAME = "wal-service-guardrails"
TOPICS: tuple[ModuleType, ...] = (ingress, images, probes, resources, pod_security, network, credentials, scaling)


def declared_in(topic: ModuleType) -> list[Policy]:
    """The policies a topic module declares, in the order it declares them."""
    return [
        value for value in vars(topic).values() if isinstance(value, ResourceValidationPolicy | StackValidationPolicy)
    ]


POLICIES: list[Policy] = [policy for topic in TOPICS for policy in declared_in(topic)]
