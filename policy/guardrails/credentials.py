"""Credentials: never a literal value in a pod spec or a ConfigMap, and the service never without its keys."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from .common import Report, as_map, as_seq, containers, declare, on_each_resource, pod_template

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
_CREDENTIAL_NAME = re.compile(
    r"(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|CREDENTIAL|PRIVATE_?KEY|API_?KEY|ACCESS_?KEY|(^|_)KEY$|(^|_)PWD$)",
    re.IGNORECASE,
)


def looks_like_credential(name: str) -> bool:
    # *_FILE variables name a mounted secret file, the recommended way to pass one.
    return bool(_CREDENTIAL_NAME.search(name)) and not name.upper().endswith("_FILE")


def check_no_plaintext_secrets(resource_type: str, props: Mapping[str, Any], report: Report) -> None:
    remedy = (
        "Keep the value in a Secret (a `pulumi config set --secret` or pulumi-random value) and reference it "
        "with valueFrom.secretKeyRef or envFrom.secretRef."
    )
    if resource_type == CONFIG_MAP:
        for key in as_map(props.get("data")):
            if looks_like_credential(str(key)):
                report(f"ConfigMap key {key!r} looks like a credential; ConfigMaps are shown in clear. {remedy}")
        return
    template = pod_template(resource_type, props)
    if template is None:
        return
    for where, container in containers(template.spec):
        for env in as_seq(container.get("env")):
            env = as_map(env)
            name = str(env.get("name") or "")
            if looks_like_credential(name) and env.get("value") not in (None, ""):
                report(f"{where} sets {name} as a literal value in the pod spec. {remedy}")


no_plaintext_secrets = declare(
    "no-plaintext-secrets",
    on_each_resource(check_no_plaintext_secrets),
    description="No credential-like env var or ConfigMap key carries a literal value: pod specs and ConfigMaps "
    "are readable by anyone who can read the namespace and end up in logs and state; credentials come from Secrets.",
    remediation="Move the value into a Secret and use valueFrom.secretKeyRef.",
    url="https://kubernetes.io/docs/concepts/configuration/secret/",
    severity=Severity.CRITICAL,
    tags=["security", "secrets"],
)


def _disables_auth(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() == "disabled"


def check_service_authentication(resource_type: str, props: Mapping[str, Any], report: Report) -> None:
    why = (
        "AUTH=disabled makes the WAL service serve every log, reads and appends, to anyone who reaches it, "
        "whatever the stack's API keys. Remove it: clients authenticate with Bearer tokens of the stack's keys "
        "(wal-service:generateApiKey, wal-service:apiKeys); AUTH=disabled is for local runs of the service only."
    )
    if resource_type == CONFIG_MAP:
        if _disables_auth(as_map(props.get("data")).get("AUTH")):
            report(f"ConfigMap sets AUTH=disabled. {why}")
        return
    template = pod_template(resource_type, props)
    if template is None:
        return
    for where, container in containers(template.spec):
        for env in as_seq(container.get("env")):
            env = as_map(env)
            if env.get("name") == "AUTH" and _disables_auth(env.get("value")):
                report(f"{where} sets AUTH=disabled. {why}")


service_authentication = declare(
    "service-authentication",
    on_each_resource(check_service_authentication),
    description="The WAL service never runs with AUTH=disabled (in a ConfigMap or a container's env): every "
    "request under /api/v1/logs/ must carry an API key, or whoever reaches the service reads and writes every log.",
    remediation="Remove AUTH=disabled; give clients keys (wal-service:apiKeys) instead.",
    url="https://owasp.org/API-Security/editions/2023/en/0xa2-broken-authentication/",
    severity=Severity.CRITICAL,
    tags=["security", "authentication"],
)
