"""``POST /v1/route``: which model would serve a request, ranked by estimated cost, with every
excluded model and why. A query: it calls no provider and bills nothing."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from byokvault.engine.routing.decision import RouteDecision

from ..auth import Principal, provide_principal, tenant_scope
from ..catalog_sync import current
from ..problems import invalid
from ..schemas import RouteRequest


@post(
    "/v1/route",
    operation_id="route",
    tags=["routing"],
    status_code=200,
    sync_to_thread=True,  # fund sources come from the vault (DuckDB)
    dependencies={"principal": Provide(provide_principal)},
)
def route(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    data: JSONBody[RouteRequest],
) -> RouteDecision:
    tenant = tenant_scope(principal, data.tenant_id)
    if not data.body and not data.capabilities:
        raise invalid("body", "give a request body, capabilities, or both")
    if data.max_price_per_call is not None and data.max_price_per_call < 0:
        raise invalid("max_price_per_call", "must not be negative")
    service = current(request).routing
    wrapper: dict[str, Any] = {"body": data.body, "capabilities": data.capabilities}
    if data.endpoint:
        wrapper["endpoint"] = data.endpoint
    if data.batch:
        wrapper["batch"] = True
    policy = service.policy(tenant, data.max_price_per_call)
    return service.route(wrapper, tenant, policy, service.funds(tenant))
