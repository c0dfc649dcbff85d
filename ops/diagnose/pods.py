"""Layer 1, pods: the Deployment's rollout, then what is wrong with each pod that is not Ready (scheduling, image
pull, crash loop, failing probes), read from the pod's status and its events."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from components.image import IMAGE_REPOSITORY
from components.labels import APP_NAME
from components.pod_spec import CONTAINER_NAME
from components.registry import REGISTRY_PORT
from ops.diagnose.checks import Check, Ctx, is_ready, restarts


def _event_time(event: Any) -> datetime:
    moment = event.last_timestamp or event.event_time or event.first_timestamp
    if moment is None and event.metadata is not None:
        moment = event.metadata.creation_timestamp
    return moment or datetime.min.replace(tzinfo=UTC)


def events_for(events: Iterable[Any], kind: str, name: str) -> list[Any]:
    """The object's events, newest first."""
    found = [
        e
        for e in events
        if e.involved_object is not None and e.involved_object.kind == kind and e.involved_object.name == name
    ]
    return sorted(found, key=_event_time, reverse=True)


def _container(pod: Any) -> Any:
    containers = pod.spec.containers if pod.spec else []
    return next((c for c in containers if c.name == CONTAINER_NAME), containers[0] if containers else None)


def last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-count:])


def check_rollout(deployment: Any, ctx: Ctx) -> Check:
    if deployment is None:
        return Check(
            "pods",
            "rollout",
            False,
            f"no Deployment {APP_NAME} in {ctx.namespace}",
            "the stack is not deployed",
            f"make up STACK={ctx.stack}",
        )
    spec_replicas = deployment.spec.replicas if deployment.spec.replicas is not None else 1
    status = deployment.status
    updated = status.updated_replicas or 0
    available = status.available_replicas or 0
    total = status.replicas or 0
    observed = (status.observed_generation or 0) >= (deployment.metadata.generation or 0)
    detail = f"{updated}/{spec_replicas} updated, {available} available, {total} total"
    if observed and updated >= spec_replicas and available >= spec_replicas and total == updated:
        return Check("pods", "rollout", True, f"complete ({detail})")
    return Check(
        "pods",
        "rollout",
        False,
        f"not complete ({detail})",
        "new pods are not becoming available; see the pod lines below",
        f"{ctx.kubectl} rollout status deployment/{APP_NAME} --timeout=60s",
    )


def pull_cause(message: str, ctx: Ctx) -> tuple[str, str]:
    """Why an image pull failed, from the kubelet's event text."""
    reg = ctx.registry_name
    node = f"{ctx.cluster}-control-plane" if ctx.cluster else "<node>"
    text = message.lower()
    if "no such host" in text or (reg and f"lookup {reg}" in text):
        return (
            f"the nodes cannot resolve the registry name {reg or 'of the image'}: the registry container is not "
            "attached to the kind network (or is gone)",
            f"docker network connect kind {reg}" if reg else "check the registry host name",
        )
    if "http response to https client" in text:
        return (
            f"containerd tried HTTPS: the node has no /etc/containerd/certs.d/{reg}:{REGISTRY_PORT}/hosts.toml",
            f"docker exec {node} ls /etc/containerd/certs.d/; "
            + (ctx.rewrite_hosts or f"pulumi stack output recoveryCommands --stack {ctx.stack}"),
        )
    if "connection refused" in text:
        return (
            f"nothing answers at the registry ({reg or 'registry'} stopped or restarting)",
            f"docker start {reg} && curl -s http://localhost:{ctx.registry_port}/v2/_catalog"
            if reg
            else "check that the registry is up",
        )
    if "not found" in text or "manifest unknown" in text:
        return (
            "the registry does not have this image (push failed, or the registry was recreated empty)",
            f"curl -s http://localhost:{ctx.registry_port}/v2/{IMAGE_REPOSITORY}/tags/list; "
            f"make up STACK={ctx.stack} pushes again"
            if reg
            else f"check the image exists in the registry; make up STACK={ctx.stack}",
        )
    if "unauthorized" in text or "authentication required" in text or "403 forbidden" in text:
        return (
            "the registry refused the pull credentials",
            f"pulumi config set --secret wal-service:registryPassword <token> --stack {ctx.stack} && make up",
        )
    if "i/o timeout" in text or "deadline exceeded" in text:
        return ("the node cannot reach the registry in time (network)", f"docker exec {node} crictl pull <image>")
    return (message.strip() or "image pull failed", f"{ctx.kubectl} describe pod")


def _probe(container: Any, kind: str) -> Any:
    return getattr(container, f"{kind}_probe", None) if container is not None else None


def probe_summary(container: Any, kind: str) -> str:
    probe = _probe(container, kind)
    if probe is None:
        return f"no {kind} probe"
    path = probe.http_get.path if probe.http_get else "(not HTTP)"
    period = probe.period_seconds or 10
    failures = probe.failure_threshold or 3
    delay = probe.initial_delay_seconds or 0
    budget = delay + period * failures
    return (
        f"{kind} probe GET {path}: {failures} x {period} s"
        + (f" + {delay} s delay" if delay else "")
        + f" = {budget} s"
    )


_PROBE_EVENT = re.compile(r"^(Startup|Readiness|Liveness) probe failed: (.*)$", re.S)


def diagnose_pod(pod: Any, events: Sequence[Any], log: str, ctx: Ctx) -> Check | None:
    """What is wrong with one pod, or None when it is Ready."""
    name = pod.metadata.name
    pod_events = events_for(events, "Pod", name)
    logs_cmd = f"{ctx.kubectl} logs {name} --previous --tail=50"
    describe = f"{ctx.kubectl} describe pod {name}"
    phase = pod.status.phase if pod.status else "Unknown"
    conditions = (pod.status.conditions if pod.status else None) or []
    unscheduled = next((c for c in conditions if c.type == "PodScheduled" and c.status == "False"), None)
    if phase == "Pending" and unscheduled is not None:
        event = next((e for e in pod_events if e.reason == "FailedScheduling"), None)
        why = event.message if event else (unscheduled.message or unscheduled.reason or "unschedulable")
        return Check("pods", name, False, "not scheduled", why, describe)

    for status in (pod.status.container_statuses if pod.status else None) or []:
        waiting = status.state.waiting if status.state else None
        if waiting is not None and waiting.reason in ("ErrImagePull", "ImagePullBackOff"):
            pulls = (e for e in pod_events if e.reason == "Failed" and (e.message or "").startswith("Failed to pull"))
            event = next(pulls, None)
            cause, fix = pull_cause(event.message if event else (waiting.message or ""), ctx)
            return Check("pods", name, False, f"{waiting.reason} for {status.image}", cause, fix)
        if waiting is not None and waiting.reason == "CrashLoopBackOff":
            term = status.last_state.terminated if status.last_state else None
            exit_info = f"exit {term.exit_code} ({term.reason})" if term else "exited"
            if term is not None and term.reason == "OOMKilled":
                cause = "killed for exceeding its memory limit; raise wal-service:memoryLimit"
            elif term is not None and term.exit_code == 2:
                cause = "configuration error at start-up"
            else:
                cause = "the process exits"
            tail = last_lines(log)
            cause += f"; last log lines: {tail}" if tail else ""
            return Check(
                "pods",
                name,
                False,
                f"CrashLoopBackOff, {status.restart_count} restarts, last {exit_info}",
                cause,
                logs_cmd,
            )
        if waiting is not None and waiting.reason in (
            "CreateContainerConfigError",
            "CreateContainerError",
            "InvalidImageName",
        ):
            return Check("pods", name, False, waiting.reason, waiting.message or waiting.reason, describe)

    if is_ready(pod):
        return None
    container = _container(pod)
    for event in pod_events:
        if event.reason != "Unhealthy":
            continue
        match = _PROBE_EVENT.match((event.message or "").strip())
        if not match:
            continue
        kind, failure = match.group(1).lower(), match.group(2).strip()
        summary = probe_summary(container, kind)
        if kind == "startup":
            cause = (
                f"the app did not answer within the startup budget ({summary}); the kubelet restarts it "
                f"({restarts(pod)} restarts so far). Slow start: raise wal-service:startupBudgetSeconds"
            )
        elif kind == "readiness":
            reason = (
                "the app says it is not ready (database or schema)" if "503" in failure else "the app does not answer"
            )
            cause = f"{reason} ({summary})"
        else:
            cause = f"the app stopped answering its liveness probe ({summary})"
        return Check(
            "pods",
            name,
            False,
            f"{match.group(1)} probe failing: {failure}",
            cause,
            f"{ctx.kubectl} logs {name} --tail=50",
        )
    return Check("pods", name, False, f"not Ready (phase {phase})", "no event explains it yet", describe)


def check_pods(pods: Sequence[Any], events: Sequence[Any], logs: Mapping[str, str], ctx: Ctx) -> list[Check]:
    """A summary line, then one diagnosis per unhealthy pod."""
    if not pods:
        return [
            Check("pods", "ready", False, "no pods", "the Deployment has created none", f"{ctx.kubectl} get rs,events")
        ]
    ready = [p for p in pods if is_ready(p)]
    total_restarts = sum(restarts(p) for p in pods)
    detail = f"{len(ready)}/{len(pods)} Ready, {total_restarts} restarts"
    checks = [
        Check(
            "pods",
            "ready",
            len(ready) == len(pods),
            detail,
            "see the pod lines below",
            f"{ctx.kubectl} get pods -o wide",
        )
    ]
    for pod in pods:
        problem = diagnose_pod(pod, events, logs.get(pod.metadata.name, ""), ctx)
        if problem is not None:
            checks.append(problem)
    return checks
