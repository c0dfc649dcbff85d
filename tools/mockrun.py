"""Run the real `__main__.py` under Pulumi's mocks with one stack's configuration.

This is what render and the tests share. It gives the program the config the Pulumi
CLI would (`components.stack_config.load_stack_config`), records every resource
registration exactly as the engine would receive it (inputs with secrets still
wrapped, parent, provider, dependencies, options) and prints the whole record as JSON.

The machine is a stand-in too, so renders do not depend on the host or the network: the Docker daemon the
program asks (components/docker_host.py) is MOCK_DOCKER_ENDPOINT with cgroup v2 unless --docker-cgroup says
otherwise, and the Gateway API CRDs (components/gateway_api_crds.py) are not fetched: the program gets
MOCK_GATEWAY_API_CRDS in their place.

Run it in a fresh process per stack: the Pulumi runtime keeps global state.

    python -m tools.mockrun --stack dev [--set key=value ...] [--unset key ...] [--docker-cgroup 1]

`--set 'key={secure: ...}'` stands for an encrypted value the mock cannot decrypt (the program sees a
placeholder); `--set 'key={secret: value}'` for `pulumi config set --secret key value` (the program sees the
value, marked secret), for secrets whose content the program reads, such as wal-service:apiKeys.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import runpy
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import patch

import yaml

from components import docker_host, gateway_api_crds, registry
from components.stack_config import PROJECT, ROOT, ConfigError, full_key, load_stack_config

# Wire markers of the Pulumi RPC protocol (sdk/go/common/resource/sig).
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SIG_KEY = "4dabf18193072939515e22adb298388d"
MASK = "[secret]"
FAKE_KUBECONFIG = "apiVersion: v1\nkind: Config\ncurrent-context: mock\n# mock kubeconfig\n"
MOCK_DOCKER_ENDPOINT = "unix:///var/run/docker.sock"
MOCK_GATEWAY_API_CRDS = [f"{gateway_api_crds.STANDARD}*.yaml"]


def _mask(value: Any) -> Any:
    """Mask a secret's values but keep its shape (a Secret's stringData stays a map), so masked
    manifests still validate against the Kubernetes schema."""
    if isinstance(value, dict) and value.get(SIG_KEY) != SECRET_SIG:
        return {k: _mask(v) for k, v in value.items() if k != SIG_KEY}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return MASK


def _unwrap(value: Any, *, mask: bool) -> Any:
    """Turn wire values into plain ones: secrets masked or revealed, unknowns marked."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return _mask(value.get("value")) if mask else _unwrap(value.get("value"), mask=mask)
        if SIG_KEY in value:  # resource references, assets
            return {k: _unwrap(v, mask=mask) for k, v in value.items() if k != SIG_KEY}
        return {k: _unwrap(v, mask=mask) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v, mask=mask) for v in value]
    if value == UNKNOWN:
        return "[unknown]"
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire format (protobuf Struct) carries every number as a double
    return value


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    wire_inputs: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "custom": self.custom,
            "parent": self.parent,
            "provider": self.provider,
            "dependencies": self.dependencies,
            "property_dependencies": self.property_dependencies,
            "options": self.options,
            "wire_inputs": self.wire_inputs,
            "inputs": _unwrap(self.wire_inputs, mask=True),
        }


def _fake_outputs(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Outputs a real provider would compute, so downstream code sees realistic values."""
    if type_ == "docker:index/image:Image":
        image_name = str(inputs.get("imageName", name))
        head, _, tail = image_name.rpartition(":")
        repo = head if head and "/" not in tail else image_name
        digest = hashlib.sha256(image_name.encode()).hexdigest()
        return {"repoDigest": f"{repo}@sha256:{digest}", "imageName": image_name}
    if type_ == "command:local:Command":
        create = str(inputs.get("create", ""))
        stdout = FAKE_KUBECONFIG if "get kubeconfig" in create else ""
        return {"stdout": stdout, "stderr": ""}
    if type_ == "random:index/randomPassword:RandomPassword":
        return {"result": "mock-random-" + hashlib.sha256(name.encode()).hexdigest()[:24]}
    return {}


def _main_program() -> None:
    runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")


async def _answered(push_host: str, *_: object) -> str:
    return push_host


def run(
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    preview: bool = False,
    program: Callable[[], object] = _main_program,
    docker_cgroup_version: str = "2",
) -> dict[str, Any]:
    """Run `program` (by default `__main__.py`) in this process under mocks; return the registrations and outputs.

    Tests pass a program that builds one component from its args alone."""
    import pulumi
    from google.protobuf import json_format
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime.mocks import _resolve_callbacks  # the mock monitor's own lookup of transform functions
    from pulumi.runtime.stack import wait_for_rpcs
    from pulumi.runtime.sync_await import _sync_await

    records: list[Registration] = []
    # Transforms in effect per URN: a resource's own, then its ancestors'. The engine runs them on every
    # descendant (remote components' children included); the mock monitor runs none, so this stands in for the
    # engine on the one option the program's transforms set.
    transforms_in_effect: dict[str, list[Any]] = {}

    def transformed_deleted_with(type_: str, name: str, transforms: list[Any]) -> str:
        for transform in transforms:
            args = pulumi.ResourceTransformArgs(
                custom=True, type_=type_, name=name, props={}, opts=pulumi.ResourceOptions()
            )
            result = transform(args)
            owner = result.opts.deleted_with if result is not None and result.opts is not None else None
            if owner is not None:
                # Resource names are unique in this program; the owner registered before anything it owns.
                return next(r.urn for r in records if r.name == owner._name)
        return ""

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
            state = {**args.inputs, **_fake_outputs(args.typ, args.name, args.inputs)}
            return f"{args.name}-id", state

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
            return {}, None

    class RecordingMonitor(pulumi_mocks.MockMonitor):
        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
            response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
            transforms = [*_resolve_callbacks(request.transforms), *transforms_in_effect.get(request.parent, [])]
            transforms_in_effect[response.urn] = transforms
            if request.type != "pulumi:pulumi:Stack":
                records.append(
                    Registration(
                        urn=response.urn,
                        type=request.type,
                        name=request.name,
                        custom=request.custom,
                        parent=request.parent,
                        provider=request.provider,
                        dependencies=list(request.dependencies),
                        property_dependencies={
                            key: list(deps.urns) for key, deps in request.propertyDependencies.items()
                        },
                        wire_inputs=json_format.MessageToDict(request.object),
                        options={
                            "deleteBeforeReplace": request.deleteBeforeReplace,
                            "additionalSecretOutputs": list(request.additionalSecretOutputs),
                            "ignoreChanges": list(request.ignoreChanges),
                            "replaceOnChanges": list(request.replaceOnChanges),
                            "retainOnDelete": request.retainOnDelete if request.HasField("retainOnDelete") else None,
                            "protect": request.protect if request.HasField("protect") else None,
                            "customTimeouts": json_format.MessageToDict(request.customTimeouts),
                            "deletedWith": request.deletedWith
                            or transformed_deleted_with(request.type, request.name, transforms),
                            # A remote component (yaml.v2.ConfigGroup) registers its children inside its provider,
                            # out of the mocks' sight: what the engine would give a Kubernetes object among them.
                            "childDeletedWith": transformed_deleted_with(
                                request.type, f"{request.name}-child", transforms
                            )
                            if request.remote
                            else None,
                        },
                    )
                )
            return response

    daemon = docker_host.DockerHost(endpoint=MOCK_DOCKER_ENDPOINT, cgroup_version=docker_cgroup_version)
    # The machine's stand-ins hold for this run only: tests run other programs in the same process.
    machine = contextlib.ExitStack()
    machine.enter_context(patch.object(docker_host, "probe", lambda *_: daemon))
    # Nothing listens on the registry's port under mocks.
    machine.enter_context(patch.object(registry, "answering", _answered))
    machine.enter_context(
        patch.object(gateway_api_crds, "standard_channel", lambda *_: [Path(n) for n in MOCK_GATEWAY_API_CRDS])
    )
    pulumi.runtime.set_all_config(config, secret_keys)
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=RecordingMonitor(mocks))
    error: str | None = None
    outputs: dict[str, Any] = {}
    secret_outputs: list[str] = []
    cwd = os.getcwd()
    os.chdir(ROOT)  # pulumi runs the program from the project directory
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        program()
        _sync_await(wait_for_rpcs())
        root = pulumi.runtime.settings.get_root_resource()
        for key, value in sorted(getattr(root, "outputs", {}).items()):
            output = pulumi.Output.from_input(value)
            outputs[key] = _sync_await(output.future())
            if _sync_await(output.is_secret()):
                secret_outputs.append(key)
    except pulumi.RunError as exc:
        error = str(exc)
    finally:
        os.chdir(cwd)
        machine.close()
    return {
        "stack": stack,
        "error": error,
        "resources": [r.as_json() for r in records],
        "outputs": {k: (MASK if k in secret_outputs else v) for k, v in outputs.items()},
        "secret_outputs": secret_outputs,
    }


def _parse_assignments(pairs: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        # YAML parsing mirrors how the value would be written in a stack file.
        result[key] = yaml.safe_load(raw) if raw else ""
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    parser.add_argument("--unset", action="append", default=[], metavar="KEY", help="remove a config value")
    parser.add_argument("--preview", action="store_true", help="run as a preview (dry run)")
    parser.add_argument(
        "--backend",
        help="the PULUMI_BACKEND_URL of the run (default: the stack's stateBackend, as a prepared shell sets it)",
    )
    parser.add_argument(
        "--docker-cgroup", choices=("1", "2"), default="2", help="the cgroup version the stand-in Docker daemon reports"
    )
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    overrides = _parse_assignments(args.set)
    revealed = {
        key: overrides.pop(key)["secret"]
        for key, value in list(overrides.items())
        if isinstance(value, dict) and set(value) == {"secret"}
    }
    try:
        config, secret_keys = load_stack_config(args.stack, overrides, args.unset)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for key, value in revealed.items():
        if key not in args.unset:
            config[full_key(key)] = str(value)
            secret_keys = sorted({*secret_keys, full_key(key)})
    # The program checks the backend it runs against (components.stack_checks.effective_backend).
    backend = config.get(f"{PROJECT}:stateBackend", "") if args.backend is None else args.backend
    if backend:
        os.environ["PULUMI_BACKEND_URL"] = backend
    else:
        os.environ.pop("PULUMI_BACKEND_URL", None)
    result = run(args.stack, config, secret_keys, preview=args.preview, docker_cgroup_version=args.docker_cgroup)
    json.dump(result, sys.stdout, indent=1, sort_keys=True, default=str)
    sys.stdout.write("\n")
    if result["error"]:
        print(f"error: {result['error']}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
