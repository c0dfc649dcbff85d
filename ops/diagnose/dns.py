"""Layer 4, DNS: the stack's host resolves to where the route listens."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from ops.diagnose.checks import Check, Ctx


def expected_addresses(ingress_addrs: Sequence[str]) -> set[str]:
    """IPs the public host should resolve to; `localhost` (kind's published status) means loopback."""
    expected: set[str] = set()
    for addr in ingress_addrs:
        if addr == "localhost":
            expected |= {"127.0.0.1", "::1"}
        else:
            expected.add(addr)
    return expected


def check_dns(resolved: Sequence[str] | None, route_addrs: Sequence[str], ctx: Ctx, local: bool) -> Check:
    expected = expected_addresses(route_addrs)
    fix = (
        f"echo '127.0.0.1 {ctx.host}' | sudo tee -a /etc/hosts"
        if local
        else f"point the DNS record {ctx.host} at {', '.join(sorted(expected))}"
    )
    if not resolved:
        return Check("dns", "host", False, f"{ctx.host} does not resolve", "no DNS record or hosts-file line", fix)
    if local and all(ipaddress.ip_address(a).is_loopback for a in resolved):
        return Check(
            "dns", "host", True, f"{ctx.host} -> {', '.join(resolved)} (loopback, where kind maps the {ctx.layer})"
        )
    if expected & set(resolved):
        return Check("dns", "host", True, f"{ctx.host} -> {', '.join(resolved)} (the {ctx.layer} address)")
    return Check(
        "dns",
        "host",
        False,
        f"{ctx.host} -> {', '.join(resolved)}, not the {ctx.layer} address {', '.join(sorted(expected)) or '?'}",
        "a stale DNS record or hosts-file line",
        fix,
    )
