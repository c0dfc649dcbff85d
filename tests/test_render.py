"""tools.render: deterministic, YAML only, secrets masked."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tools.mockrun import MASK, SECRET_SIG, SIG_KEY, Registration
from tools.render import kubernetes_objects, to_yaml

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parent.parent
# What a leaked secret would look like: mockrun's stand-ins for `secure:` values and random passwords.
LEAK_MARKERS = ("mock-secret-value", "mock-random-", "render-placeholder")


@pytest.fixture(scope="module")
def renders(cli: Callable[..., subprocess.CompletedProcess[str]]) -> dict[str, subprocess.CompletedProcess[str]]:
    jobs = {"dev-1": "dev", "dev-2": "dev", "prod": "prod"}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(cli, "tools.render", stack) for key, stack in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize("key", ["dev-1", "prod"])
def test_render_prints_only_yaml_documents(renders: dict[str, subprocess.CompletedProcess[str]], key: str) -> None:
    proc = renders[key]
    assert proc.returncode == 0, f"tools.render {key} exited {proc.returncode}: {proc.stderr}"
    assert proc.stderr == "", f"tools.render {key} wrote to stderr: {proc.stderr}"
    assert proc.stdout.startswith("---\n"), f"tools.render {key}: output does not start with a document"
    docs = list(yaml.safe_load_all(proc.stdout))
    assert len(docs) >= 10, f"tools.render {key}: only {len(docs)} documents"
    for doc in docs:
        assert isinstance(doc, dict), f"tools.render {key}: a document is not a mapping: {doc!r}"
        assert doc.get("apiVersion") and doc.get("kind"), f"tools.render {key}: document without apiVersion/kind"
        assert (doc.get("metadata") or {}).get("name"), f"tools.render {key}: {doc['kind']} without metadata.name"


def test_render_is_byte_identical(renders: dict[str, subprocess.CompletedProcess[str]]) -> None:
    first, second = renders["dev-1"], renders["dev-2"]
    assert first.returncode == second.returncode == 0, f"{first.stderr}{second.stderr}"
    assert first.stdout == second.stdout, "two renders of dev differ: the output is not deterministic"


@pytest.mark.parametrize("key", ["dev-1", "prod"])
def test_render_masks_secrets(renders: dict[str, subprocess.CompletedProcess[str]], key: str) -> None:
    out = renders[key].stdout
    leaked = [marker for marker in LEAK_MARKERS if marker in out]
    assert not leaked, f"tools.render {key}: secret stand-ins in the output: {leaked}"
    # Both stacks deploy a database Secret: the mask must show, or the check above proves nothing.
    assert MASK in out, f"tools.render {key}: no masked value at all"


def _secret(value: Any) -> dict[str, Any]:
    return {SIG_KEY: SECRET_SIG, "value": value}


def test_masking_keeps_shape_and_hides_values() -> None:
    registration = Registration(
        urn="urn:pulumi:dev::wal-service::kubernetes:core/v1:Secret::s",
        type="kubernetes:core/v1:Secret",
        name="s",
        custom=True,
        parent="",
        provider="",
        dependencies=[],
        property_dependencies={},
        wire_inputs={
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s", "annotations": {"note": _secret("hunter2-annotation")}},
            "stringData": _secret({"password": "hunter2-password"}),
        },
    )
    record = {"resources": [registration.as_json()]}
    rendered = to_yaml(kubernetes_objects(record))
    assert "hunter2" not in rendered, f"a secret value leaked into the render:\n{rendered}"
    (doc,) = yaml.safe_load_all(rendered)
    assert doc["stringData"] == {"password": MASK}, doc
    assert doc["metadata"]["annotations"] == {"note": MASK}, doc
    assert registration.as_json()["wire_inputs"]["stringData"][SIG_KEY] == SECRET_SIG, "wire inputs must stay wrapped"


def test_a_readme_only_commit_renders_byte_identical_manifests(tmp_path: Path) -> None:
    """The version label and the image tag follow app/: a docs commit must not roll the pods."""
    from e2e.harness import snapshot

    repo = tmp_path / "repo"
    snapshot(ROOT, repo)
    for venv in (".venv", "policy/.venv"):
        (repo / venv).unlink(missing_ok=True)  # links to ours; the render runs our interpreter
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]

    def commit(message: str) -> None:
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
        subprocess.run(["git", *identity, "commit", "-q", "-m", message], cwd=repo, check=True)

    def render() -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "tools.render", "dev"], cwd=repo, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    commit("everything")
    before = render()
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nA docs change.\n")
    commit("README only")
    assert render() == before, "a README-only commit changed the rendered manifests"
    (repo / "app" / "README.md").write_text((repo / "app" / "README.md").read_text() + "\nShips with the image.\n")
    commit("app/ changes")
    after = render()
    assert after != before, "a commit to app/ left the version label as it was"


def test_render_shows_a_stack_with_a_value_changed_or_removed(capsys: pytest.CaptureFixture[str]) -> None:
    """`make render` answers "what would this config change deploy?" before anyone runs `pulumi config set`."""
    from tools.render import main

    def log_level(*argv: str) -> str:
        assert main(["dev", *argv]) == 0
        objects = list(yaml.safe_load_all(capsys.readouterr().out))
        (config_map,) = [o for o in objects if o["kind"] == "ConfigMap" and "LOG_LEVEL" in o.get("data", {})]
        return str(config_map["data"]["LOG_LEVEL"])

    assert log_level() == "debug"
    assert log_level("--set", "wal-service:logLevel=warning") == "warning"
    # Without the stack's line there is nothing to render: one line naming the key, no YAML.
    assert main(["dev", "--unset", "wal-service:logLevel"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert (
        err == "error: wal-service:logLevel is not set; set it in Pulumi.<stack>.yaml (it has no default on purpose)\n"
    )


def test_render_writes_block_yaml_documents_each_opened_by_its_marker(capsys: pytest.CaptureFixture[str]) -> None:
    """`make render > stack.yaml` is what a reviewer diffs and `kubectl apply -f` takes: one `---` per object,
    block style (a flow-style line holds a whole object and hides which field changed)."""
    from tools.render import main

    assert main(["dev"]) == 0
    text = capsys.readouterr().out
    objects = list(yaml.safe_load_all(text))
    assert text.startswith("---\n") and text.count("\n---\n") == len(objects) - 1

    def flow_style(node: yaml.Node) -> list[yaml.Node]:
        if isinstance(node, yaml.ScalarNode):
            return []
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
        here = [node] if node.flow_style and node.value else []
        return here + [found for child in children for found in flow_style(child)]

    assert not [n for doc in yaml.compose_all(text) for n in flow_style(doc)], "flow-style collections"


def test_objects_come_in_apply_order_then_by_namespace_and_name() -> None:
    """What `kubectl apply -f` of the render needs first comes first (a Namespace before what lives in it), and
    the rest in a fixed order, so two renders diff only where the stacks differ."""

    def registration(kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
        inputs = {"apiVersion": "v1", "kind": kind, "metadata": metadata}
        return {"custom": True, "type": f"kubernetes:core/v1:{kind}", "inputs": inputs}

    record = {
        "resources": [
            registration("Deployment", "wal-service", "wal-service-dev"),
            registration("Secret", "b", "wal-service-dev"),
            registration("Secret", "z", "nginx-gateway"),
            registration("Secret", "a", "wal-service-dev"),
            registration("Namespace", "wal-service-dev"),
            {"custom": False, "type": "wal:platform:Environment", "inputs": {}},
        ]
    }
    order = [(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in kubernetes_objects(record)]
    assert order == [
        ("Namespace", "", "wal-service-dev"),
        ("Secret", "nginx-gateway", "z"),
        ("Secret", "wal-service-dev", "a"),
        ("Secret", "wal-service-dev", "b"),
        ("Deployment", "wal-service-dev", "wal-service"),
    ]
