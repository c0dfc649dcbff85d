"""Layer 4, DNS: the host resolves to the route's address (loopback for kind)."""

from __future__ import annotations

from ops.diagnose import dns as d
from tests.ops.diagnose.builders import CTX


def test_a_localhost_ingress_address_means_loopback() -> None:
    """kind publishes `localhost` as the ingress address: both loopback addresses match it."""
    assert d.expected_addresses(["localhost", "198.51.100.4"]) == {"127.0.0.1", "::1", "198.51.100.4"}
    assert d.check_dns(["::1"], ["localhost"], CTX, local=False).ok


def test_dns_loopback_for_kind_and_stale_record() -> None:
    assert d.check_dns(["127.0.0.1"], ["localhost"], CTX, local=True).ok
    assert not d.check_dns(None, ["localhost"], CTX, local=True).ok
    assert d.check_dns(["198.51.100.4"], ["198.51.100.4"], CTX, local=False).line() == (
        "PASS dns/host: dev.wal-service.local -> 198.51.100.4 (the ingress address)"
    )
    stale = d.check_dns(["203.0.113.9"], ["198.51.100.4"], CTX, local=False)
    assert stale.detail == "dev.wal-service.local -> 203.0.113.9, not the ingress address 198.51.100.4"


def test_a_host_that_does_not_resolve_gets_the_fix_for_where_it_runs() -> None:
    """kind: one hosts-file line; a real cluster: the DNS record and the address it must point at."""
    assert d.check_dns(None, ["localhost"], CTX, local=True).line() == (
        "FAIL dns/host: dev.wal-service.local does not resolve; cause: no DNS record or hosts-file line -> next: "
        "echo '127.0.0.1 dev.wal-service.local' | sudo tee -a /etc/hosts"
    )
    assert d.check_dns([], ["198.51.100.4"], CTX, local=False).line() == (
        "FAIL dns/host: dev.wal-service.local does not resolve; cause: no DNS record or hosts-file line -> next: "
        "point the DNS record dev.wal-service.local at 198.51.100.4"
    )
    assert d.check_dns(["127.0.0.1"], ["localhost"], CTX, local=True).line() == (
        "PASS dns/host: dev.wal-service.local -> 127.0.0.1 (loopback, where kind maps the ingress)"
    )


def test_a_kind_host_that_resolves_elsewhere_is_a_stale_line_not_a_pass() -> None:
    """kind maps the route to loopback only: an old hosts-file line pointing elsewhere sends users nowhere."""
    assert d.check_dns(["203.0.113.9"], ["localhost"], CTX, local=True).line() == (
        "FAIL dns/host: dev.wal-service.local -> 203.0.113.9, not the ingress address 127.0.0.1, ::1; cause: a "
        "stale DNS record or hosts-file line -> next: echo '127.0.0.1 dev.wal-service.local' | sudo tee -a /etc/hosts"
    )
