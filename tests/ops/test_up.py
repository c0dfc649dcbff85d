"""ops.up: `make up` lists every preflight problem and downloads nothing until they are fixed."""

from __future__ import annotations

import pytest

from ops import up
from ops.preflight import Finding

NO_DOCKER = Finding(
    "fail", "docker", "the docker CLI is not installed", "install Docker: https://docs.docker.com/get-docker/"
)
NO_KIND = Finding("warn", "kind", "not installed (need >= v0.33.0)", "`python -m ops.tools --install` fetches kind")
BUSY = Finding("fail", "port 80", "127.0.0.1:80 is in use by another process", "free it")


def test_a_machine_without_docker_gets_every_problem_and_no_download(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_download(*_args: object, **_kwargs: object) -> list[object]:
        pytest.fail("make up downloaded tools before the preflight problems were fixed")

    monkeypatch.setattr(up, "preflight", lambda _stack: [NO_DOCKER, NO_KIND, BUSY])
    monkeypatch.setattr(up.tools, "ensure", no_download)
    monkeypatch.setattr(up, "stream", lambda *_a, **_k: pytest.fail("pulumi up ran"))
    assert up.main(["--stack", "dev"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [NO_DOCKER.line(), NO_KIND.line(), BUSY.line()], out
    assert "make up stopped before changing anything" in out[3], out


def test_up_ends_with_how_to_call_the_api_with_a_key() -> None:
    from components.stack_checks import stack_settings

    dev = up.api_hint(stack_settings("dev"))
    assert dev == (
        'the API needs a key: curl -H "Authorization: Bearer $(pulumi stack output apiToken --show-secrets '
        '--stack dev)" http://dev.wal-service.local/api/v1/logs/demo/records'
    )
    prod = up.api_hint(stack_settings("prod"))
    assert "<a token of wal-service:apiKeys>" in prod and "apiToken" not in prod
