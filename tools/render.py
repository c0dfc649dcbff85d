"""Print every Kubernetes object a stack declares, as multi-document YAML.

Our offline `kustomize build`: it runs the real program under mocks with the
stack's config (secrets masked) and prints the objects in a stable order, so two
renders of one stack are byte-identical and stacks can be diffed.

    python -m tools.render dev            # manifests on stdout
    python -m tools.render prod --set wal-service:replicas=3
Bad config: exit 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

import yaml

from components.settings import SECRET_KEYS
from components.stack_config import PROJECT, ROOT, load_stack_config

# Cluster-scoped and referenced objects first, like kubectl apply order.
KIND_ORDER = [
    "Namespace",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Service",
    "StatefulSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "Ingress",
]


def _mockrun(stack: str, sets: list[str], unsets: list[str]) -> subprocess.CompletedProcess[str]:
    """`python -m tools.mockrun` for one stack as a preview, in a fresh interpreter (the Pulumi runtime keeps
    global state)."""
    cmd = [sys.executable, "-m", "tools.mockrun", "--stack", stack, "--preview"]
    cmd += [arg for item in sets for arg in ("--set", item)]
    cmd += [arg for item in unsets for arg in ("--unset", item)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


def run_stack(stack: str, sets: list[str] | None = None, unsets: list[str] | None = None) -> dict[str, Any]:
    """Run the program for `stack` and return the mock run record."""
    proc = _mockrun(stack, sets or [], unsets or [])
    if proc.returncode not in (0, 2) or not proc.stdout.strip():
        raise RuntimeError(f"mock run of stack {stack} crashed:\n{proc.stderr}")
    record: dict[str, Any] = json.loads(proc.stdout)
    return record


def kubernetes_objects(record: dict[str, Any]) -> list[dict[str, Any]]:
    objects = [
        r["inputs"]
        for r in record["resources"]
        if r["custom"] and r["type"].startswith("kubernetes:") and "kind" in r["inputs"] and "apiVersion" in r["inputs"]
    ]

    def key(obj: dict[str, Any]) -> tuple[int, str, str]:
        kind = obj["kind"]
        rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
        meta = obj.get("metadata", {})
        return rank, str(meta.get("namespace", "")), str(meta.get("name", ""))

    return sorted(objects, key=key)


def to_yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=True, default_flow_style=False, explicit_start=True)


# The program reads apiKeys' content, so its stand-in must parse: one well-formed (and masked) entry, given only
# where the stack requires keys of its own (production); elsewhere it would add a key the stack does not have.
API_KEYS_PLACEHOLDER = "{secret: render-placeholder:reader:" + "0" * 43 + "}"


def assumed_secrets(stack: str) -> list[str]:
    """Stand-ins for credentials the stack file leaves to `pulumi config set --secret`.

    Render shows what a configured stack deploys; secret values are masked in its output
    anyway. The missing-credential error itself is tested through tools.mockrun.
    """
    config, _ = load_stack_config(stack)
    placeholders = [
        f"{PROJECT}:{key}={{secure: render-placeholder}}"
        for key in sorted(SECRET_KEYS - {"apiKeys"})
        if not config.get(f"{PROJECT}:{key}")
    ]
    if not config.get(f"{PROJECT}:apiKeys") and config.get(f"{PROJECT}:appEnv") == "production":
        placeholders.append(f"{PROJECT}:apiKeys={API_KEYS_PLACEHOLDER}")
    return placeholders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render a stack's Kubernetes objects as YAML.")
    parser.add_argument("stack")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--unset", action="append", default=[], metavar="KEY")
    args = parser.parse_args(argv)
    try:
        placeholders = assumed_secrets(args.stack)
    except Exception as exc:  # noqa: BLE001 - any unreadable stack file is one line for the user
        print(f"error: {exc}", file=sys.stderr)
        return 2
    proc = _mockrun(args.stack, [*placeholders, *args.set], args.unset)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
        print(lines[-1] if lines else proc.stderr.strip().splitlines()[-1], file=sys.stderr)
        return 2
    sys.stdout.write(to_yaml(kubernetes_objects(json.loads(proc.stdout))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
