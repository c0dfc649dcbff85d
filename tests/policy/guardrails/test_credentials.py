"""Credentials never appear as literal values."""

from __future__ import annotations

from typing import Any

import pytest

from policy.guardrails.credentials import check_no_plaintext_secrets, check_service_authentication
from tests.policy.builders import container, deployment, findings, urn
from tests.policy.engine import Resource


@pytest.mark.parametrize("name", ["DATABASE_PASSWORD", "API_KEY", "GITHUB_TOKEN", "CLIENT_SECRET", "AWS_CREDENTIALS"])
def test_literal_credentials_are_rejected(name: str) -> None:
    bad = container(env=[{"name": name, "value": "hunter2"}])
    assert len(findings(check_no_plaintext_secrets, deployment(containers=[bad]))) == 1


@pytest.mark.parametrize(
    "env",
    [
        {"name": "DATABASE_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        {"name": "POSTGRES_PASSWORD_FILE", "value": "/run/secrets/password"},
        {"name": "KAFKA_ENABLED", "value": "false"},
        {"name": "MONKEY", "value": "banana"},
        {"name": "API_TOKEN"},
    ],
    ids=["secret-ref", "file", "flag", "not-a-key", "no-value"],
)
def test_non_credentials_and_secret_refs_pass(env: dict[str, Any]) -> None:
    assert findings(check_no_plaintext_secrets, deployment(containers=[container(env=[env])])) == []


def test_configmap_credential_keys_are_rejected() -> None:
    cm = "kubernetes:core/v1:ConfigMap"
    good = Resource(cm, "c", urn(cm, "c"), {"data": {"DATABASE_HOST": "db"}})
    bad = Resource(cm, "c", urn(cm, "c"), {"data": {"DATABASE_PASSWORD": "x"}})
    assert findings(check_no_plaintext_secrets, good) == []
    assert len(findings(check_no_plaintext_secrets, bad)) == 1


# --- the service never runs without its keys -------------------------------------------------------------


@pytest.mark.parametrize("value", ["disabled", "Disabled", " disabled "])
def test_auth_disabled_in_a_configmap_is_refused(value: str) -> None:
    cm = "kubernetes:core/v1:ConfigMap"
    bad = Resource(cm, "c", urn(cm, "c"), {"data": {"APP_ENV": "production", "AUTH": value}})
    (finding,) = findings(check_service_authentication, bad)
    assert "AUTH=disabled" in finding and "wal-service:apiKeys" in finding


def test_auth_disabled_in_a_containers_env_is_refused() -> None:
    bad = container(env=[{"name": "AUTH", "value": "disabled"}])
    (finding,) = findings(check_service_authentication, deployment(containers=[bad]))
    assert "sets AUTH=disabled" in finding


@pytest.mark.parametrize(
    "data",
    [
        {"API_KEYS_FILE": "/var/run/secrets/wal-service/api-keys/keys"},
        {"AUTH": "required"},
        {"OTHER_AUTH": "disabled"},
    ],
    ids=["keys-file", "required", "another-variable"],
)
def test_a_service_that_checks_keys_passes(data: dict[str, str]) -> None:
    cm = "kubernetes:core/v1:ConfigMap"
    assert findings(check_service_authentication, Resource(cm, "c", urn(cm, "c"), {"data": data})) == []
    env = [{"name": name, "value": value} for name, value in data.items()]
    assert findings(check_service_authentication, deployment(containers=[container(env=env)])) == []
