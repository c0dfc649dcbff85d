"""Pure diagnosis over Kubernetes API objects, layer by layer: pods, service, route, DNS, network.

Every function takes client model objects (V1Pod, CoreV1Event, V1EndpointSlice, V1Ingress,
V1NetworkPolicy...) or, for Gateway API kinds, the dicts the custom-objects API returns, exactly as
the API returns them, and gives Checks: pass/fail, what was seen, and on failure the likely cause
and the next command. No I/O here. The route layer is "gateway" (Gateway + HTTPRoute) or "ingress".

One module per layer, in the order `make verify` runs them: `pods`, `service`, `route` (and `api_keys`,
checked through the route), `dns`, `network`; `checks` holds Ctx, Check and what they share. This
package re-exports what ops/verify.py and ops/status.py call.
"""

from ops.diagnose.api_keys import PROBE_PATH, check_anonymous_append, check_authenticated_read
from ops.diagnose.checks import (
    GATEWAY_GROUP,
    GATEWAY_VERSION,
    Check,
    Ctx,
    check_http,
    is_ready,
    restarts,
    selector_matches,
)
from ops.diagnose.dns import check_dns
from ops.diagnose.network import check_network
from ops.diagnose.pods import check_pods, check_rollout
from ops.diagnose.route import (
    check_controller,
    check_gateway,
    check_host_claims,
    check_ingress_address,
    check_route,
    gateway_addresses,
    ingress_addresses,
)
from ops.diagnose.service import check_endpoints, endpoint_pods

__all__ = [
    "GATEWAY_GROUP",
    "GATEWAY_VERSION",
    "PROBE_PATH",
    "Check",
    "Ctx",
    "check_anonymous_append",
    "check_authenticated_read",
    "check_controller",
    "check_dns",
    "check_endpoints",
    "check_gateway",
    "check_host_claims",
    "check_http",
    "check_ingress_address",
    "check_network",
    "check_pods",
    "check_rollout",
    "check_route",
    "endpoint_pods",
    "gateway_addresses",
    "ingress_addresses",
    "is_ready",
    "restarts",
    "selector_matches",
]
