"""What the layers share: label selectors as the API server reads them, and the names of what verify reads, tied to
the objects the program creates."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kubernetes.client import V1LabelSelector

from components.app_config import CONFIG_MAP_NAME, HTTP_PORT, HTTP_PORT_NAME
from components.labels import APP_NAME, INSTANCE_LABEL, instance_name, selector_labels
from components.pod_spec import CONTAINER_NAME
from components.routes import HTTP_ROUTE_NAME, INGRESS_NAME
from components.stack_config import PROJECT, ROOT
from ops.diagnose import checks as d

if TYPE_CHECKING:
    from tests.conftest import StackRun

WORKLOAD = "ServiceWorkload"


def test_selector_expressions() -> None:
    from kubernetes.client import V1LabelSelectorRequirement as Req

    sel = V1LabelSelector(
        match_expressions=[Req(key="tier", operator="In", values=["api"]), Req(key="canary", operator="DoesNotExist")]
    )
    assert d.selector_matches(sel, {"tier": "api"})
    assert not d.selector_matches(sel, {"tier": "api", "canary": "1"})
    assert not d.selector_matches(sel, {"tier": "db"})
    needs = V1LabelSelector(
        match_expressions=[Req(key="canary", operator="Exists"), Req(key="tier", operator="NotIn", values=["db"])]
    )
    assert d.selector_matches(needs, {"canary": ""}), "Exists matches any value, the empty one too"
    assert not d.selector_matches(needs, {"tier": "api"})
    assert not d.selector_matches(needs, {"canary": "1", "tier": "db"})


# --- the names verify looks up are the program's -------------------------------------------------------------


def test_the_objects_verify_reads_are_named_as_the_program_names_them(run: StackRun, config: dict[str, str]) -> None:
    """verify looks objects up by the names the components declare: the objects must carry them, or `make verify`
    fails on a stack that is fine."""
    deployment = run.one("Deployment", WORKLOAD)
    assert deployment.metadata["name"] == APP_NAME, f"{deployment}: verify reads deployment/{APP_NAME}"
    service = run.one("Service", WORKLOAD)
    assert service.metadata["name"] == APP_NAME, f"{service}: verify reads service/{APP_NAME}"
    config_map = run.one("ConfigMap", WORKLOAD)
    assert config_map.metadata["name"] == CONFIG_MAP_NAME, f"{config_map}: the API-key check names another"
    (container,) = deployment.spec["template"]["spec"]["containers"]
    assert container["name"] == CONTAINER_NAME, f"{deployment}: verify reads the logs of container {CONTAINER_NAME}"
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports.get(HTTP_PORT_NAME) == HTTP_PORT, (
        f"{deployment}: the network check admits {HTTP_PORT_NAME}/{HTTP_PORT}"
    )
    instance = deployment.spec["template"]["metadata"]["labels"][INSTANCE_LABEL]
    ctx = d.Ctx(stack=run.stack, context="", namespace="", host="")
    assert instance == ctx.instance, f"{deployment}: the host check takes {ctx.instance} for this stack's"
    route, ingress = run.maybe("HTTPRoute", WORKLOAD), run.maybe("Ingress", WORKLOAD)
    if config["routing"] == "gateway":
        assert route is not None and ingress is None, f"stack {run.stack}: gateway routing without one HTTPRoute"
        assert route.metadata["name"] == HTTP_ROUTE_NAME, f"{route}: verify reads httproute/{HTTP_ROUTE_NAME}"
        assert route.body["apiVersion"] == f"{d.GATEWAY_GROUP}/{d.GATEWAY_VERSION}", f"{route}: verify asks another"
    else:
        assert ingress is not None and route is None, f"stack {run.stack}: ingress routing without one Ingress"
        assert ingress.metadata["name"] == INGRESS_NAME, f"{ingress}: verify reads ingress/{INGRESS_NAME}"


def test_the_instance_label_is_the_one_that_selects_the_pods() -> None:
    assert selector_labels(instance_name("dev")).get(INSTANCE_LABEL) == "wal-service-dev"


def test_the_config_keys_the_checks_name_exist(project_doc: dict[str, Any]) -> None:
    """A message that says `raise wal-service:memoryLimit` must name a key `pulumi config set` accepts."""
    named = {
        key
        for path in sorted((ROOT / "ops" / "diagnose").glob("*.py"))
        for key in re.findall(rf"\b{PROJECT}:[A-Za-z]+", path.read_text())
    }
    assert named, "the scan found no config key in ops/diagnose/"
    assert named <= set(project_doc["config"]), f"not in Pulumi.yaml: {sorted(named - set(project_doc['config']))}"
