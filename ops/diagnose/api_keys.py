"""Layer 3, route: the API keys, through the same path as the route's GET."""

from __future__ import annotations

from components.app_config import CONFIG_MAP_NAME
from components.labels import APP_NAME
from ops.diagnose.checks import Check, Ctx

# The log the checks below touch: the anonymous append sends no body, so even a service that took it
# would write nothing (400 empty_body), and the authenticated read only reads.
PROBE_LOG = "wal-verify"
PROBE_PATH = f"/api/v1/logs/{PROBE_LOG}/records"


def check_anonymous_append(target: str, status: int | None, summary: str, cause: str, detail: str, ctx: Ctx) -> Check:
    """An append without a key must be refused with 401. A 2xx, or the service's own answer about the request
    itself (400 empty_body...), means it got past the key check: it takes writes from whoever reaches it."""
    line = f"POST {target} without a key: {summary}"
    if status == 401:
        return Check(ctx.layer, "anonymous-append", True, f"{line} (refused, as it must be)")
    if status is not None and (200 <= status < 300 or (detail and 400 <= status < 500)):
        return Check(
            ctx.layer,
            "anonymous-append",
            False,
            f"{line}: the service takes appends from anyone who reaches {ctx.host}",
            "the pods run without API keys (AUTH=disabled, or an image from before API keys)",
            f"{ctx.kubectl} get configmap {CONFIG_MAP_NAME} -o yaml | grep -E 'AUTH|API_KEYS_FILE'; "
            f"make up STACK={ctx.stack}",
        )
    return Check(
        ctx.layer,
        "anonymous-append",
        False,
        f"{line}: cannot tell whether keys are required",
        cause or "the answer is not the service's",
        f"{ctx.kubectl} logs deploy/{APP_NAME} --tail=50",
    )


def check_authenticated_read(
    target: str, status: int | None, summary: str, cause: str, token_source: str, ctx: Ctx
) -> Check:
    """A read with the stack's key must succeed: the keys the pods loaded include it."""
    if not token_source:
        return Check(
            ctx.layer,
            "api-key",
            False,
            "no API token to check with: the stack exports no apiToken (generateApiKey is false)",
            "the check needs a token the stack's keys include",
            "export WAL_API_TOKEN=<the token of one of the stack's keys (pulumi stack output apiKeys lists them)>",
        )
    line = f"GET {target} with {token_source}: {summary}"
    if status == 200:
        return Check(ctx.layer, "api-key", True, line)
    if status == 401:
        return Check(
            ctx.layer,
            "api-key",
            False,
            f"{line}: the key is refused",
            "the pods know other keys: a rotation whose rollout has not finished, or a key removed from apiKeys",
            f"{ctx.kubectl} rollout status deployment/{APP_NAME}; pulumi stack output apiKeys --stack {ctx.stack}",
        )
    return Check(ctx.layer, "api-key", False, line, cause, f"{ctx.kubectl} logs deploy/{APP_NAME} --tail=50")
