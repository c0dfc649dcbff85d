"""The service's name, the app.kubernetes.io labels of the stack's objects, and the labels pods are selected by.

What an object belongs to decides its component label (the API, the namespace as a whole, the Gateway), and only
what changes with a release carries a version, so a new image touches only the objects that run it.
"""

from __future__ import annotations

from components.stack_config import PROJECT

APP_NAME = PROJECT
# GEP-1762: a Gateway's controller labels the data-plane pods it provisions with the Gateway's name.
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
# The label that tells one stack's objects from another's (the pods are selected by it, among others).
INSTANCE_LABEL = "app.kubernetes.io/instance"


def instance_name(stack: str) -> str:
    """The app.kubernetes.io/instance value of a stack's service."""
    return f"{APP_NAME}-{stack}"


def standard_labels(instance: str, version: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": APP_NAME,
        INSTANCE_LABEL: instance,
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/component": "api",
        "app.kubernetes.io/part-of": APP_NAME,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def stable_labels(instance: str, component: str) -> dict[str, str]:
    """Labels of the stack's objects that do not change with the service (no version): `component` names what
    they belong to, e.g. the namespace as a whole or the stack's Gateway."""
    labels = standard_labels(instance, "")
    del labels["app.kubernetes.io/version"]
    return {**labels, "app.kubernetes.io/component": component}


def namespace_labels(instance: str) -> dict[str, str]:
    """Labels of what belongs to the stack's namespace as a whole (the Namespace, its default-deny and DNS policies,
    the pull secret)."""
    return stable_labels(instance, "namespace")


def selector_labels(instance: str) -> dict[str, str]:
    """The immutable subset of the labels that selects the service's pods."""
    return {"app.kubernetes.io/name": APP_NAME, INSTANCE_LABEL: instance}
