"""Operator commands around the Pulumi program: preflight, up, down, preview, verify, status, rollback.

Each module is runnable (`python -m ops.<name> --stack dev`). Checks are pure functions over
data gathered by thin I/O helpers, so they are tested without Docker, a cluster or the Pulumi CLI.
"""
