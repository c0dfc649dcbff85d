"""The hand-picked mutation sample behind the kill rate in README's testing section.

    python -m tools.mutation_sample            # every mutation, one line each, then the kill rate
    python -m tools.mutation_sample 3 17       # only these (1-based)

Each mutation is a realistic one-line mistake: one fragment, which must occur exactly once in its
file, replaced by another. The sample runs in a scratch copy of the working tree (its own git
repository, this checkout's virtualenvs linked in), one mutation at a time: first the tests that
mirror the mutated folder, then, if they all pass, the whole program suite. A mutation is killed
when some test fails; a fragment that no longer occurs is reported as stale, not counted. The
unmutated suite runs first and must pass, or every mutation would look killed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from components.stack_config import ROOT


@dataclass(frozen=True)
class Mutation:
    path: str
    """File the mutation edits, relative to the repository."""
    old: str
    """Fragment replaced; it must occur exactly once in the file."""
    new: str
    """What replaces it."""
    why: str
    """What would go wrong in a real deployment."""


MUTATIONS = [
    # components/workload.py and the modules it builds from
    Mutation(
        "components/workload.py",
        "max_unavailable=0, max_surge=MAX_SURGE",
        "max_unavailable=1, max_surge=MAX_SURGE",
        "a rollout takes a serving pod down before its replacement is ready",
    ),
    Mutation(
        "components/pod_spec.py",
        'when_unsatisfiable="ScheduleAnyway"',
        'when_unsatisfiable="DoNotSchedule"',
        "kind nodes have no zone label: every pod stays Pending",
    ),
    Mutation(
        "components/pod_spec.py",
        'match_label_keys=["pod-template-hash"]',
        "match_label_keys=None",
        "old and new ReplicaSets skew each other's spread during a rollout",
    ),
    Mutation(
        "components/pod_spec.py",
        "readiness_probe=http_probe(probes.ready_path, 5, 2)",
        "readiness_probe=http_probe(probes.health_path, 5, 2)",
        "readiness ignores the database: traffic reaches pods that cannot serve it",
    ),
    Mutation(
        "components/pod_spec.py",
        "-(-probes.startup_budget_seconds // STARTUP_PERIOD_SECONDS)",
        "probes.startup_budget_seconds // STARTUP_PERIOD_SECONDS",
        "an odd startup budget is cut short by one period",
    ),
    Mutation(
        "components/workload.py",
        "if scaling.min_pods >= 2:",
        "if scaling.min_pods > 2:",
        "two pods run without a disruption budget",
    ),
    Mutation(
        "components/workload.py",
        'unhealthy_pod_eviction_policy="AlwaysAllow"',
        'unhealthy_pod_eviction_policy="IfHealthyBudget"',
        "unhealthy pods block node drains",
    ),
    Mutation(
        "components/network_policies.py",
        'pod_selector=LabelSelectorArgs(), policy_types=["Ingress", "Egress"]',
        'pod_selector=LabelSelectorArgs(), policy_types=["Ingress"]',
        "egress is not denied by default",
    ),
    Mutation(
        "components/network_policies.py",
        'NetworkPolicyPortArgs(protocol="TCP", port=53),',
        'NetworkPolicyPortArgs(protocol="UDP", port=53),',
        "DNS over TCP (large answers) is blocked",
    ),
    Mutation(
        "components/app_config.py",
        '"DRAIN_SECONDS": str(shutdown.drain_seconds)',
        '"DRAIN_SECONDS": str(shutdown.shutdown_timeout_seconds)',
        "the service drains for the wrong time",
    ),
    Mutation(
        "components/workload.py",
        "pulumi.Output.all(config_data)",
        "pulumi.Output.all(base_config(args.config, args.shutdown))",
        "a changed DATABASE_HOST does not roll the pods",
    ),
    Mutation(
        "components/workload.py",
        "automount_service_account_token=False,\n            opts=child,",
        "automount_service_account_token=True,\n            opts=child,",
        "the service account hands every pod an API token",
    ),
    Mutation(
        "components/pod_spec.py",
        "enable_service_links=False,",
        "enable_service_links=True,",
        "every Service in the namespace is injected as environment variables",
    ),
    Mutation(
        "components/pod_spec.py",
        'image_pull_policy="IfNotPresent"',
        'image_pull_policy="Always"',
        "every restart pulls again: a registry outage stops restarts",
    ),
    Mutation(
        "components/pod_spec.py", "timeout_seconds=2,", "timeout_seconds=1,", "a slow health answer counts as a failure"
    ),
    Mutation(
        "components/workload.py",
        "progress_deadline_seconds=600",
        "progress_deadline_seconds=60",
        "a slow but healthy rollout is reported as failed",
    ),
    # components/database.py
    Mutation(
        "components/database.py",
        "default_mode=0o440",
        "default_mode=0o400",
        "the password file is unreadable through the postgres group",
    ),
    Mutation(
        "components/database.py",
        'when_deleted="Retain" if retain else "Delete"',
        'when_deleted="Delete" if retain else "Retain"',
        "retained data is deleted, and the reverse",
    ),
    Mutation(
        "components/database.py",
        'cluster_ip="None",',
        "cluster_ip=None,",
        "the StatefulSet's governing Service is not headless",
    ),
    Mutation(
        "components/database.py",
        'ignore_changes=["spec.volumeClaimTemplates"]',
        "ignore_changes=[]",
        "a storage change replaces the StatefulSet and its data",
    ),
    Mutation(
        "components/database.py",
        'claim_labels.pop("app.kubernetes.io/version", None)',
        "pass",
        "an image bump edits the immutable claim template",
    ),
    Mutation(
        "components/database.py",
        "mount_path=SECRETS_MOUNT, read_only=True",
        "mount_path=SECRETS_MOUNT",
        "the password mount is writable",
    ),
    Mutation(
        "components/database.py",
        "special=False,",
        "special=True,",
        "the password breaks the sync script's quoting and the connection string",
    ),
    Mutation(
        "components/database.py",
        " -c log_statement=none",
        "",
        "a postgresql.conf with log_statement=all logs the ALTER ROLE with its password",
    ),
    # components/registry.py, pull_check.py, kind_cluster.py, namespace.py
    Mutation(
        "components/registry.py",
        'printf \'server = "http://%s"',
        'printf \'server = "https://%s"',
        "containerd tries HTTPS against the plain-HTTP registry",
    ),
    Mutation(
        "components/registry.py",
        'external=args.host_port, ip="127.0.0.1"',
        "external=args.host_port",
        "the registry listens on every interface",
    ),
    Mutation(
        "components/registry.py",
        "triggers=[container.id, args.cluster_name]",
        "triggers=[container.id]",
        "a rebuilt cluster never gets the registry attached",
    ),
    Mutation(
        "components/registry.py",
        '"hostFromClusterNetwork": pull_host',
        '"hostFromClusterNetwork": push_host',
        "in-cluster tools are told the host-only address",
    ),
    Mutation(
        "components/pull_check.py",
        "triggers=[args.image, args.cluster_name]",
        "triggers=[args.cluster_name]",
        "a new image is never checked before the pods ask for it",
    ),
    Mutation(
        "components/kind_cluster.py",
        '"listenAddress": "127.0.0.1"',
        '"listenAddress": "0.0.0.0"',
        "the ingress ports are open to the network",
    ),
    Mutation(
        "components/kind_cluster.py",
        "delete_before_replace=True",
        "delete_before_replace=False",
        "the new cluster collides with the old one's name",
    ),
    Mutation(
        "components/kind_cluster.py",
        "logging=local.Logging.NONE",
        "logging=local.Logging.STDOUT_AND_STDERR",
        "the kubeconfig reaches the logs",
    ),
    Mutation(
        "components/namespace.py",
        '(("", "restricted"),',
        '(("", "baseline"),',
        "the namespace admits privileged-ish pods",
    ),
    # components/settings.py, environment.py and args_from_settings.py
    Mutation(
        "components/settings.py",
        "if self.termination_grace_period_seconds <= needed:",
        "if self.termination_grace_period_seconds < needed:",
        "a grace period equal to the drain kills mid-drain",
    ),
    Mutation(
        "components/settings.py",
        "if amount(self.cpu_limit) < amount(self.cpu_request):",
        "if amount(self.cpu_limit) <= amount(self.cpu_request):",
        "limit == request is refused",
    ),
    Mutation(
        "components/settings.py",
        'frozenset({"require", "verify-ca", "verify-full"})',
        'frozenset({"require", "verify-full"})',
        "verify-ca against the in-cluster server is accepted",
    ),
    Mutation(
        "components/settings.py",
        'if self.app_env == "production" and not self.tls_secret_name:',
        'if self.app_env == "prod" and not self.tls_secret_name:',
        "production serves plain HTTP",
    ),
    Mutation(
        "components/environment.py",
        'retain_on_delete=s.database_mode == "in-cluster" and s.database_retain_on_delete',
        "retain_on_delete=s.database_retain_on_delete",
        "prod keeps a namespace nothing needs",
    ),
    Mutation(
        "components/args_from_settings.py",
        'instance=f"{instance}-database"',
        "instance=instance",
        "the debug commands list the database pods as the service's",
    ),
    # policy/guardrails
    Mutation(
        "policy/guardrails/network.py",
        "return False  # a podSelector alone",
        'return pods is not None and selector_matches(pods, {"k8s-app": "kube-dns"})  #',
        "DNS egress to a look-alike pod in the own namespace is accepted",
    ),
    Mutation(
        "policy/guardrails/network.py",
        "    if not ports:\n        return True",
        "    if not ports:\n        return False",
        "a rule for all ports no longer counts as allowing DNS",
    ),
    Mutation("policy/guardrails/scaling.py", "if pods < 2:", "if pods <= 2:", "two pods without a PDB pass"),
    Mutation(
        "policy/guardrails/pod_security.py",
        'if _security_context(container).get("allowPrivilegeEscalation") is not False',
        'if _security_context(container).get("allowPrivilegeEscalation") is True',
        "an unset allowPrivilegeEscalation passes",
    ),
    Mutation(
        "policy/guardrails/images.py",
        'if tag == "latest" and not digest:',
        'if tag == "latest":',
        "latest@sha256 (pinned) is rejected",
    ),
    Mutation(
        "policy/guardrails/credentials.py",
        'and not name.upper().endswith("_FILE")',
        "",
        "*_FILE paths to mounted secrets are reported as credentials",
    ),
    Mutation(
        "policy/guardrails/ingress.py",
        "if first is not resource and first.urn != resource.urn:",
        "if first is not resource or first.urn != resource.urn:",
        "an Ingress conflicts with itself",
    ),
    Mutation("policy/guardrails/pod_security.py", '        "net.ipv4.tcp_rmem",\n', "", "a safe sysctl is rejected"),
    Mutation("policy/guardrails/probes.py", ', "kubernetes:apps/v1:DaemonSet"}', "}", "DaemonSets without probes pass"),
    # ops/
    Mutation(
        "ops/stack.py",
        'frozenset({"dev", "staging"})',
        'frozenset({"dev", "staging", "prod"})',
        "prod state is encrypted with the public dev passphrase",
    ),
    Mutation(
        "ops/stack.py",
        "{'-k ' if scheme == 'https' else ''}",
        "{'-k ' if scheme == 'http' else ''}",
        "the printed curl fails on the self-signed kind certificate",
    ),
    Mutation(
        "ops/rollback.py",
        '_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")',
        '_DIGEST = re.compile(r"^sha256:[0-9a-f]+$")',
        "a truncated digest is accepted for a rollback",
    ),
    Mutation(
        "ops/diagnose/service.py",
        "up = endpoint.conditions is None or endpoint.conditions.ready is not False",
        "up = endpoint.conditions is not None and endpoint.conditions.ready is True",
        "endpoints with unknown readiness count as down",
    ),
    Mutation(
        "ops/diagnose/service.py",
        "if ready != ready_pods:",
        "if not ready <= ready_pods:",
        "a Ready pod missing from the endpoints goes unnoticed",
    ),
    Mutation(
        "ops/diagnose/dns.py",
        'if addr == "localhost":',
        'if addr == "127.0.0.1":',
        "kind's published localhost status never matches the hosts-file line",
    ),
    Mutation(
        "ops/preflight.py",
        "if addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses):",
        "if addresses and any(ipaddress.ip_address(a).is_loopback for a in addresses):",
        "a host resolving to loopback and elsewhere passes preflight",
    ),
]


def _scratch_copy(into: Path) -> Path:
    """The working tree (tracked and untracked, not ignored) as its own git repository."""
    work = into / "repo"
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, work / name)
    for venv in (".venv", ".venv-checkov"):
        (work / venv).symlink_to(ROOT / venv)
    identity = ["-c", "user.name=mutation-sample", "-c", "user.email=mutation-sample@localhost"]
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", *identity, "commit", "-qm", "scratch"]):
        subprocess.run(command, cwd=work, check=True, capture_output=True)
    return work


def _suite_fails(work: Path, *paths: str) -> bool:
    proc = subprocess.run(
        [str(work / ".venv" / "bin" / "pytest"), "-x", "-q", "-p", "no:cacheprovider", *paths],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode != 0


def _first_tests(path: str) -> str:
    top = path.split("/", 1)[0]
    return f"tests/{top}" if top in ("components", "ops", "policy") else "tests"


def run(numbers: list[int]) -> int:
    chosen = [(n, MUTATIONS[n - 1]) for n in numbers] if numbers else list(enumerate(MUTATIONS, 1))
    killed = survived = 0
    with tempfile.TemporaryDirectory(prefix="mutation-sample-") as tmp:
        work = _scratch_copy(Path(tmp))
        # A suite that already fails would count every mutation as killed.
        if _suite_fails(work):
            print("the unmutated suite fails: fix it first (make test-program)", file=sys.stderr)
            return 1
        for number, mutation in chosen:
            target = work / mutation.path
            original = target.read_text()
            if original.count(mutation.old) != 1:
                print(f"{number:3} STALE    {mutation.path}: fragment found {original.count(mutation.old)} times")
                continue
            target.write_text(original.replace(mutation.old, mutation.new))
            try:
                dead = _suite_fails(work, _first_tests(mutation.path)) or _suite_fails(work)
            finally:
                target.write_text(original)
            killed += dead
            survived += not dead
            print(f"{number:3} {'killed ' if dead else 'SURVIVED'} {mutation.path}: {mutation.why}", flush=True)
    total = killed + survived
    if total:
        print(f"{killed}/{total} killed ({100 * killed / total:.0f}%)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("numbers", nargs="*", type=int, help="run only these mutations (1-based)")
    return run(parser.parse_args(argv).numbers)


if __name__ == "__main__":
    sys.exit(main())
