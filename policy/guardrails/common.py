"""What every topic module shares: reading properties as the engine sends them, and declaring a policy.

A resource check takes the resource type, its input properties (camelCase) and a report callback,
and calls the callback once per finding. A stack check takes the stack's resources (anything with
`resource_type`, `props`, `urn` and `name`, such as `pulumi_policy.PolicyResource`) and a callback
`(message, urn)`. `declare` turns a check (`on_each_resource(check)` or `on_the_stack(check)`) into the
policy the pack runs.

Property values arrive as `Mapping`/`Sequence` proxies under the real engine, so the helpers below
never test for `dict`/`list`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UnknownValueError

Report = Callable[[str], None]
"""Resource checks: report one finding (the engine attaches the resource's URN)."""
StackReport = Callable[[str, str | None], None]
"""Stack checks: report one finding and the URN of the resource it concerns."""

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY


class StackResource(Protocol):
    """What a stack check reads of a resource; `pulumi_policy.PolicyResource` satisfies it."""

    @property
    def resource_type(self) -> str: ...
    @property
    def props(self) -> Mapping[str, Any]: ...
    @property
    def urn(self) -> str: ...
    @property
    def name(self) -> str: ...


ResourceCheck = Callable[[str, Mapping[str, Any], Report], None]
StackCheck = Callable[[Sequence[StackResource], StackReport], None]
Policy = ResourceValidationPolicy | StackValidationPolicy


# --------------------------------------------------------------------------- property helpers


def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_seq(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, str | bytes) else ()


def dig(value: Any, *path: str) -> Any:
    for key in path:
        value = as_map(value).get(key)
    return value


# Kubernetes types whose props carry a pod spec, and where it sits.
_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": (),
    "kubernetes:apps/v1:Deployment": ("spec", "template"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template"),
    "kubernetes:core/v1:ReplicationController": ("spec", "template"),
    "kubernetes:batch/v1:Job": ("spec", "template"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template"),
}
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


@dataclass(frozen=True)
class PodTemplate:
    """A pod spec and the metadata beside it (the pod's own, or its template's)."""

    metadata: Mapping[str, Any]
    spec: Mapping[str, Any]


def pod_template(resource_type: str, props: Mapping[str, Any]) -> PodTemplate | None:
    """The pod template of a workload resource, None for anything else."""
    path = _POD_SPEC_PATHS.get(resource_type)
    if path is None:
        return None
    holder = dig(props, *path)
    return PodTemplate(as_map(dig(holder, "metadata")), as_map(dig(holder, "spec")))


def containers(spec: Mapping[str, Any], *kinds: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(description, container) for every container of the given kinds (all kinds when none given)."""
    for kind in kinds or ("initContainers", "containers", "ephemeralContainers"):
        for container in as_seq(spec.get(kind)):
            container = as_map(container)
            yield f"{kind[:-1]} {container.get('name', '?')!r}", container


def workloads(resources: Sequence[StackResource]) -> Iterator[tuple[StackResource, PodTemplate]]:
    """Every resource of the stack that runs pods, with its pod template."""
    for resource in resources:
        template = pod_template(resource.resource_type, resource.props)
        if template is not None:
            yield resource, template


def namespace_of(props: Mapping[str, Any]) -> str:
    return str(dig(props, "metadata", "namespace") or "default")


def name_of(props: Mapping[str, Any]) -> str:
    return str(dig(props, "metadata", "name") or "")


def selector_matches(selector: Any, labels: Mapping[str, Any]) -> bool:
    """Kubernetes LabelSelector semantics: an empty selector matches everything."""
    selector = as_map(selector)
    for key, value in as_map(selector.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    for expression in as_seq(selector.get("matchExpressions")):
        expression = as_map(expression)
        key, operator = str(expression.get("key")), expression.get("operator")
        values = {str(v) for v in as_seq(expression.get("values"))}
        present = key in labels
        if operator == "In" and not (present and str(labels[key]) in values):
            return False
        if operator == "NotIn" and present and str(labels[key]) in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def stack_of(urn: str) -> str:
    """The stack name inside a URN: `urn:pulumi:<stack>::<project>::<type>::<name>`."""
    head = urn.split("::", 1)[0]
    parts = head.split(":")
    return parts[2] if len(parts) >= 3 and parts[0] == "urn" and parts[1] == "pulumi" else ""


# --------------------------------------------------------------------------- declaring a policy


@dataclass(frozen=True)
class Validation:
    """How a policy runs: the policy class (per resource, or once over the stack) and what the engine calls."""

    policy_class: type[ResourceValidationPolicy] | type[StackValidationPolicy]
    """ResourceValidationPolicy (inputs of each resource) or StackValidationPolicy (all resources at once)."""
    validate: Callable[[Any, ReportViolation], None]
    """What the engine calls with its validation args and report callback."""


def on_each_resource(check: ResourceCheck) -> Validation:
    """Run `check` on every resource's inputs."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        check(args.resource_type, args.props, lambda message: report_violation(message, None))

    return Validation(ResourceValidationPolicy, validate)


# Kubernetes types that are components or releases, not objects with metadata.
_NOT_OBJECTS = ("kubernetes:yaml/", "kubernetes:helm.sh/", "kubernetes:kustomize/")


def require_known_objects(resources: Sequence[StackResource]) -> None:
    """A stack check judges objects by their outputs. Under preview, an object whose provider's configuration is not
    known yet (the first preview of a kind stack: its cluster does not exist) has none at all (pulumi sdk/v3
    plugin/provider_plugin.go, Create: "hand back an empty property map"), which would read as a Deployment in
    namespace 'default' with no policy. pulumi-policy reports such a check as not runnable during preview, as it does
    for any unknown value; the update checks the objects again with their real outputs."""
    for resource in resources:
        kind = resource.resource_type
        if kind.startswith("kubernetes:") and not kind.startswith(_NOT_OBJECTS) and "metadata" not in resource.props:
            raise UnknownValueError(UNKNOWN_OBJECT_VALUE, [resource.name, "metadata"])


def on_the_stack(check: StackCheck) -> Validation:
    """Run `check` once over all of the stack's resources."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        require_known_objects(args.resources)
        check(args.resources, report_violation)

    return Validation(StackValidationPolicy, validate)


def declare(
    name: str,
    validation: Validation,
    *,
    description: str,
    remediation: str,
    url: str,
    severity: Severity,
    tags: list[str],
    level: EnforcementLevel = MANDATORY,
    config_schema: PolicyConfigSchema | None = None,
) -> Policy:
    """The policy the pack runs; every message it reports ends with `url`, the public docs of the rule."""

    def validate(args: Any, report_violation: ReportViolation) -> None:
        def report(message: str, urn: str | None = None) -> None:
            report_violation(f"{message} See {url}", urn)

        validation.validate(args, report)

    policy: Policy = validation.policy_class(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=level,
        config_schema=config_schema,
        severity=severity,
        tags=tags,
        remediation_steps=remediation,
        url=url,
    )
    return policy
