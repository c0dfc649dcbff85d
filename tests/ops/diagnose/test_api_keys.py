"""Layer 3, route: the API keys, through the route: the world may not append, the stack's key may read."""

from __future__ import annotations

from ops.diagnose import api_keys as d
from tests.ops.diagnose.builders import CTX, GW

API = f"http://127.0.0.1:80{d.PROBE_PATH}"


def test_an_anonymous_append_refused_with_401_passes() -> None:
    check = d.check_anonymous_append(API, 401, "401 in 3 ms", "", "unauthorized", GW)
    assert check.ok and check.line() == f"PASS gateway/anonymous-append: POST {API} without a key: 401 in 3 ms " \
        "(refused, as it must be)"  # fmt: skip


def test_a_service_that_takes_anonymous_appends_fails() -> None:
    # 201: it wrote; 400 empty_body: it read the request past any key check (the empty body wrote nothing).
    for status, detail in ((201, ""), (400, "empty_body"), (413, "body_too_large")):
        check = d.check_anonymous_append(API, status, f"{status} in 2 ms", "", detail, GW)
        assert not check.ok, status
        assert "takes appends from anyone who reaches dev.wal-service.local" in check.detail
        assert "AUTH=disabled" in check.cause
        assert "get configmap wal-service-config" in check.next and "make up STACK=dev" in check.next


def test_an_answer_that_is_not_the_services_says_nothing_about_keys() -> None:
    """The ingress's default backend (404 without the service's JSON) or no answer: the check cannot tell."""
    for status, detail, cause in ((404, "", "the ingress controller has no rule"), (None, "", "nothing listens")):
        check = d.check_anonymous_append(API, status, "x", cause, detail, CTX)
        assert not check.ok
        assert check.detail.endswith("cannot tell whether keys are required") and check.cause == cause


def test_the_stacks_key_reads() -> None:
    check = d.check_authenticated_read(API, 200, "200 in 4 ms", "", "the stack output apiToken", GW)
    assert check.line() == f"PASS gateway/api-key: GET {API} with the stack output apiToken: 200 in 4 ms"


def test_a_refused_key_points_at_the_rollout_and_the_stacks_keys() -> None:
    check = d.check_authenticated_read(API, 401, "401 in 4 ms", "x", "WAL_API_TOKEN", GW)
    assert not check.ok and "the key is refused" in check.detail
    assert "rotation" in check.cause
    assert check.next == f"{GW.kubectl} rollout status deployment/wal-service; pulumi stack output apiKeys --stack dev"


def test_without_a_token_the_read_check_fails_with_how_to_give_one() -> None:
    check = d.check_authenticated_read(API, None, "", "", "", CTX)
    assert not check.ok and "export WAL_API_TOKEN=" in check.next
