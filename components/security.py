"""Pod Security Standards "restricted" contexts, shared by every workload the program runs."""

from __future__ import annotations

from pulumi_kubernetes.core.v1 import (
    CapabilitiesArgs,
    PodSecurityContextArgs,
    SeccompProfileArgs,
    SecurityContextArgs,
)


def restricted_container(uid: int) -> SecurityContextArgs:
    """Non-root, no privilege escalation, no capabilities, read-only root, runtime-default seccomp."""
    return SecurityContextArgs(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        capabilities=CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"),
    )


def restricted_pod(uid: int, fs_group_change_policy: str | None = None) -> PodSecurityContextArgs:
    """The pod-level half; fsGroup = uid makes mounted volumes writable for the process."""
    return PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid,
        fs_group_change_policy=fs_group_change_policy,
        seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"),
    )
