"""Kubernetes API clients for a stack, from its kubeContext output (never the current context) and its kubeconfig
file (a kind stack's own, which kind writes instead of ~/.kube/config)."""

from __future__ import annotations

from typing import Any

from components.settings import Settings
from ops.proc import UserError

TIMEOUT = 10  # seconds per API request


def api_client(settings: Settings, context: str) -> Any:
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    try:
        return config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=settings.kubeconfig_file or None, context=context
        )
    except (ConfigException, OSError) as exc:
        raise UserError(f"cannot use kube context {context}: {exc}; check: kubectl config get-contexts") from None


def get_or_none(call: Any, *args: Any, **kwargs: Any) -> Any:
    """A read that returns None for 404 instead of raising."""
    from kubernetes.client.exceptions import ApiException

    try:
        return call(*args, _request_timeout=TIMEOUT, **kwargs)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise UserError(f"Kubernetes API: {exc.status} {exc.reason}") from None
