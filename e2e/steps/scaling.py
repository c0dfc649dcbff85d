"""Autoscaling on and off again through `pulumi up`, with the stack policies reading live objects."""

from __future__ import annotations

import json
import os
from pathlib import Path

from e2e.harness import NAMESPACE, PROJECT, STACK, E2EFailure, Run
from e2e.plan import step

# What stack policies read; Secrets are never recorded (their outputs hold ciphertext).
RECORDED_TYPES = frozenset(
    {
        "kubernetes:apps/v1:Deployment",
        "kubernetes:apps/v1:StatefulSet",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "kubernetes:policy/v1:PodDisruptionBudget",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "kubernetes:networking.k8s.io/v1:Ingress",
        "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
    }
)
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # sdk/go/common/resource/sig: a secret value in state


@step("autoscaling on: up and preview with the policy pack, twice (stack policies read live objects)")
def autoscaling_on(run: Run) -> None:
    # Live, the Deployment holds spec.replicas (the API server's default, then the HPA's count), so a
    # policy reading spec.replicas would block every run after the first; it must read who applied it.
    run.pulumi("config", "set", f"{PROJECT}:autoscaling", "true")
    for _ in range(2):
        run.up()
        run.preview("--expect-no-changes")
    run.kubectl_json("get", "hpa", "wal-service", "-n", NAMESPACE)
    # E2E_RECORD_OUTPUTS=tests/policy/fixtures/deployed-outputs.json refreshes the policy tests' record.
    dest = Path(os.environ.get("E2E_RECORD_OUTPUTS") or run.root / "deployed-outputs.json").resolve()
    print(f"    outputs of {record_outputs(run, dest)} objects recorded in {dest}")


def record_outputs(run: Run, dest: Path) -> int:
    """The outputs the engine keeps for the objects stack policies read (what AnalyzeStack gets), with the
    inputs the program sent beside them: tests/policy/fixtures/deployed-outputs.json is one such record."""
    state = json.loads(run.sh("pulumi", "stack", "export", "--stack", STACK, echo=False).stdout)
    kept = [
        {
            "type": r["type"],
            "name": r["urn"].rsplit("::", 1)[-1],
            "urn": r["urn"],
            "inputs": r["outputs"]["__inputs"],
            "outputs": {k: v for k, v in r["outputs"].items() if not k.startswith("__")},
        }
        for r in state["deployment"]["resources"]
        if r["type"] in RECORDED_TYPES and SECRET_SIG not in json.dumps(r.get("outputs", {}))
    ]
    dest.write_text(json.dumps({"resources": kept}, indent=1, sort_keys=True) + "\n")
    return len(kept)


@step("autoscaling off again: the HPA goes before the Deployment takes replicas back; one up settles it")
def autoscaling_off(run: Run) -> None:
    # The pod template changes (no topology spread for one replica) while the Deployment still runs the
    # autoscaler's count, so the quota must hold both modes' pods. The engine deletes the HPA only after
    # updating the Deployment; without the handover the HPA scaled it back to minReplicas in between,
    # leaving 2 pods without a PDB, and the mandatory disruption-budget policy failed that up.
    before = run.template_hash()
    run.pulumi("config", "set", f"{PROJECT}:autoscaling", "false")
    run.up()
    replicas = run.deployment()["spec"]["replicas"]
    if replicas != 1:
        raise E2EFailure(f"after autoscaling went off the Deployment runs {replicas} replicas, not 1")
    hpas = run.kubectl_json("get", "hpa", "-n", NAMESPACE)["items"]
    if hpas:
        raise E2EFailure(f"autoscaling is off but HPAs remain: {[h['metadata']['name'] for h in hpas]}")
    run.preview("--expect-no-changes")
    after = run.template_hash()
    if after == before:
        raise E2EFailure("autoscaling went off but the pod template did not change")
    run.wait("the new ReplicaSet to be ready", lambda: run.rolled_to(after))
