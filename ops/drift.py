"""`make drift STACK=dev`: what changed in the cluster behind Pulumi's back, one line per resource.

    python -m ops.drift --stack dev            runs the preview below against the stack
    python -m ops.drift --json preview.json    reads a preview someone else ran (CI runs pulumi itself)

It runs `pulumi preview --refresh --expect-no-changes --json`: the engine reads every live object,
and the Kubernetes provider diffs it against what the program sets (fields nobody declared, such as a
label someone added, are not drift). Each step that is not `same` is a drifted resource; its
`detailedDiff` names the fields, `oldState.outputs` holds the live values and `newState.inputs` the
program's (pulumi/pulumi sdk/go/common/display PreviewDigest). Nothing is changed: a preview writes no
state. `pulumi up --refresh` puts the fields back (plain `pulumi up` compares with the last recorded
state and sees nothing).

Exit status: 0 no drift, 1 drift (one line per resource), 2 the preview could not tell.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ops import stack as stack_mod
from ops.proc import UserError, cli, command_line, run

PREVIEW_TIMEOUT = 15 * 60
# Steps that mean "this resource is as the program says".
UNCHANGED = frozenset({"same", "refresh", "read"})
# How a resource drifted, by step op.
OPS = {
    "update": "changed",
    "replace": "changed; replacing it",
    "create-replacement": "changed; replacing it",
    "delete-replaced": "changed; replacing it",
    "create": "missing from the cluster",
    "delete": "in the state but no longer in the program",
}
# a.b[0]["c.d"]: Pulumi's property paths (sdk/go/common/resource/property_path.go).
_PATH_TOKEN = re.compile(r'\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]|\.?([^.\[\]]+)')
ABSENT = object()
VALUE_WIDTH = 60


def parse_path(path: str) -> list[str | int]:
    """`spec.egress[0].ports[1]` -> ["spec", "egress", 0, "ports", 1]; quoted keys keep their dots."""
    parts: list[str | int] = []
    for quoted, index, name in _PATH_TOKEN.findall(path):
        if index:
            parts.append(int(index))
        else:
            parts.append(json.loads(f'"{quoted}"') if quoted else name)
    return parts


def lookup(document: Any, path: str) -> Any:
    """The value at a property path, or ABSENT."""
    value = document
    for part in parse_path(path):
        if isinstance(part, int) and isinstance(value, list) and part < len(value):
            value = value[part]
        elif isinstance(part, str) and isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return ABSENT
    return value


def show(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 3] + "..."


def resource_label(step: Mapping[str, Any]) -> str:
    """`Deployment wal-service-dev/wal-service`: the kind and the object's namespace/name (its id)."""
    state = step.get("oldState") or step.get("newState") or {}
    kind = str(state.get("type") or step["urn"].split("::")[2]).rsplit(":", 1)[-1]
    ident = state.get("id") or step["urn"].rsplit("::", 1)[-1]
    return f"{kind} {ident}"


def drift_line(step: Mapping[str, Any]) -> str:
    op = str(step.get("op"))
    old = (step.get("oldState") or {}).get("outputs") or {}
    new = (step.get("newState") or {}).get("inputs") or {}
    paths = sorted(step.get("detailedDiff") or {}) or sorted(step.get("diffReasons") or [])
    fields = "; ".join(f"{p} {show(lookup(old, p))} (live) -> {show(lookup(new, p))} (program)" for p in paths)
    what = OPS.get(op, op)
    return f"drift {resource_label(step)}: {what}" + (f": {fields}" if fields and op != "create" else "")


def drift_lines(preview: Mapping[str, Any]) -> list[str]:
    """One line per resource whose live state differs from the program."""
    lines: dict[str, str] = {}
    for step in preview.get("steps") or []:
        if step.get("op") in UNCHANGED:
            continue
        # A replacement is several steps for one resource: report it once.
        lines.setdefault(str(step["urn"]), drift_line(step))
    return list(lines.values())


def errors(preview: Mapping[str, Any]) -> list[str]:
    return [
        str(d.get("message", "")).strip().splitlines()[0]
        for d in preview.get("diagnostics") or []
        if d.get("severity") == "error" and str(d.get("message", "")).strip()
    ]


def report(preview: Mapping[str, Any], stack: str) -> int:
    """Print the drift; the exit status as documented above."""
    problems = errors(preview)
    lines = drift_lines(preview)
    for line in lines:
        print(line)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        print("the preview failed, so the list above may be incomplete", file=sys.stderr)
        return 2
    if lines:
        print(
            f"{len(lines)} resource(s) differ from the program in stack {stack}; put them back with: "
            f"pulumi up --refresh --stack {stack}"
        )
        return 1
    print(f"no drift: every resource of stack {stack} matches the program")
    return 0


def preview_json(stack: str) -> dict[str, Any]:
    env = stack_mod.pulumi_env(stack)
    command = ["pulumi", "preview", "--refresh", "--expect-no-changes", "--json", "--non-interactive", "--stack", stack]
    print(f"$ {command_line(command, env)}", flush=True)
    result = run(command, env=env, timeout=PREVIEW_TIMEOUT)
    if result is None:
        raise UserError("pulumi is not installed; run: python -m ops.tools --install")
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise UserError(
            f"pulumi preview gave no JSON for stack {stack} ({result.first_error_line()}); is it deployed? "
            f"make up STACK={stack}"
        ) from None
    if not isinstance(data, dict):
        raise UserError(f"pulumi preview gave unexpected JSON for stack {stack}")
    return data


def read_json(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        data = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read a preview from {path}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is not the JSON of `pulumi preview --json`")
    return data


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Report drift between the live cluster and the program.")
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--json", metavar="FILE", help="read `pulumi preview --refresh --json` output instead")
    args = parser.parse_args(argv)
    if args.json:
        return report(read_json(args.json), args.stack)
    stack_mod.load(args.stack)
    return report(preview_json(args.stack), args.stack)


if __name__ == "__main__":
    raise SystemExit(main(None))
