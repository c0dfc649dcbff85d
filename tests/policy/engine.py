"""Run the guardrails pack over resources the way the Pulumi engine does, without starting the pack.

The engine calls every resource policy once per resource (`Analyze`) and every stack policy once
over all resources (`AnalyzeStack`), with the properties wrapped in pulumi-policy's unknown-checking
proxy and the policy's config (schema defaults applied by the CLI). `Pack.run` does the same with
the real `POLICIES` objects and collects each report with the policy's enforcement level.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from policy import guardrails
from tests.policy.deployed import live_object


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    urn: str
    message: str

    def __str__(self) -> str:
        return f"[{self.level}] {self.policy} {self.urn}: {self.message}"


@dataclass(frozen=True)
class Resource:
    """A registration as the analyzer receives it (type token, name, URN, inputs in camelCase)."""

    resource_type: str
    name: str
    urn: str
    props: dict[str, Any]


def resources_of(record: Mapping[str, Any]) -> list[Resource]:
    """Custom resources of a mock-run record; components never reach the analyzer."""
    return [
        Resource(r["type"], r["name"], r["urn"], copy.deepcopy(r["inputs"])) for r in record["resources"] if r["custom"]
    ]


def _default_config(policy: ResourceValidationPolicy | StackValidationPolicy) -> dict[str, Any]:
    schema = policy.config_schema
    if schema is None:
        return {}
    return {key: value["default"] for key, value in schema.properties.items() if "default" in value}


class Pack:
    """The guardrails pack with a per-policy config override, as `--policy-pack-config` would give it.

    `deployed=True` runs it as the engine does once the stack exists: stack policies then get outputs
    (live objects, tests/policy/deployed.py), resource policies still get inputs.
    """

    def __init__(self, config: Mapping[str, Mapping[str, Any]] | None = None, *, deployed: bool = False) -> None:
        self.config = config or {}
        self.deployed = deployed
        self.not_runnable: list[str] = []

    def _config(self, policy: ResourceValidationPolicy | StackValidationPolicy) -> dict[str, Any]:
        return {**_default_config(policy), **self.config.get(policy.name, {})}

    def run(self, resources: Iterable[Resource]) -> list[Violation]:
        resources = list(resources)
        found: list[Violation] = []
        for policy in guardrails.POLICIES:
            level = policy.enforcement_level.value if policy.enforcement_level else "advisory"
            config = self._config(policy)
            if isinstance(policy, ResourceValidationPolicy):
                for resource in resources:

                    def report(
                        message: str,
                        urn: str | None = None,
                        _p: str = policy.name,
                        _l: str = level,
                        _u: str = resource.urn,
                    ) -> None:
                        found.append(Violation(_p, _l, _u, message))

                    props = unknown_checking_proxy(copy.deepcopy(resource.props))
                    args = ResourceValidationArgs(
                        resource.resource_type,
                        props,
                        resource.urn,
                        resource.name,
                        None,  # type: ignore[arg-type]
                        None,
                        config,
                    )
                    policy.validate(args, report)
            else:
                policy_resources = [
                    PolicyResource(
                        r.resource_type,
                        unknown_checking_proxy(
                            live_object(r.resource_type, r.props) if self.deployed else copy.deepcopy(r.props)
                        ),
                        r.urn,
                        r.name,
                        None,  # type: ignore[arg-type]
                        None,
                        None,
                        [],
                        {},
                    )
                    for r in resources
                ]

                def stack_report(message: str, urn: str | None = None, _p: str = policy.name, _l: str = level) -> None:
                    found.append(Violation(_p, _l, urn or "", message))

                try:
                    policy.validate(StackValidationArgs(policy_resources, config), stack_report)
                except UnknownValueError:
                    # As pulumi-policy's analyzer does: "can't run policy ... during preview", no violation.
                    self.not_runnable.append(policy.name)
        return found


def mandatory(violations: Iterable[Violation]) -> list[Violation]:
    return [v for v in violations if v.level == "mandatory"]
