"""A resource's URN is its identity in a deployed stack's state: the program must not move one by accident.

Pulumi replaces (deletes, then creates) a resource whose URN changed, unless the change carries
an alias: a renamed PostgreSQL StatefulSet or claim is a new, empty database. A URN is built
from the resource's type, its name and its parents' types, so a renamed component type, a
resource name or a dropped `parent=` all show up here. tests/urns/<stack>.txt lists what each
stack's program registers today. A deliberate change rewrites it (WAL_UPDATE_URNS=1 pytest
tests/test_urns.py) and says in its review why no alias is needed.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import MockRuns, StackRun

LISTS = Path(__file__).parent / "urns"


def test_every_stack_registers_the_urns_it_registered_before(run: StackRun, stack: str) -> None:
    assert_same_urns(run, stack)


def test_a_stack_with_an_https_listener_keeps_its_urns_too(mockruns: MockRuns) -> None:
    """The listener's certificate grant exists only with TLS."""
    assert_same_urns(mockruns.get("dev", ["wal-service:tlsSecretName=wal-tls"]), "dev-tls")


def assert_same_urns(run: StackRun, name: str) -> None:
    assert run.error is None, run.error
    stack = run.stack
    urns = sorted(registration["urn"] for registration in run.registrations)
    listed = LISTS / f"{name}.txt"
    if os.environ.get("WAL_UPDATE_URNS"):
        listed.write_text("".join(f"{urn}\n" for urn in urns))
    before = listed.read_text().splitlines()
    gone, new = sorted(set(before) - set(urns)), sorted(set(urns) - set(before))
    assert not gone and not new, (
        f"stack {stack}: URNs moved. On a deployed stack Pulumi deletes {gone} and creates {new} "
        "(add an alias to keep the resource, or, if re-creating it is meant, WAL_UPDATE_URNS=1)"
    )
    assert len(urns) == len(set(urns)), f"stack {stack}: a URN registered twice"
