"""Operations: liveness, Prometheus metrics, and the admin's tenant-token management."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, PathParameter

from ..auth import Principal, provide_admin
from ..catalog_sync import current
from ..metrics import gauge
from ..problems import ApiProblem
from ..schemas import Health, TokenIssueRequest, TokenOut

TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
TenantId = Annotated[str, PathParameter(pattern=TENANT_PATTERN, description="tenant id")]
Admin = NamedDependency[Principal]


@get(
    "/healthz",
    operation_id="health",
    tags=["ops"],
    sync_to_thread=False,
    responses={
        503: ResponseSpec(Health, description="degraded: a component failed (each one says why)")
    },
)
def healthz(request: Request[Any, Any, Any]) -> Response[Health]:
    """Each component's state. A store that failed closed (the ledger, the vault's audit log)
    refuses work until a restart replays its log: 503, so a balancer routes around it."""
    res = current(request).resources
    components = res.component_status()
    healthy = all(v == "ok" for v in components.values())
    health = Health(
        status="ok" if healthy else "degraded",
        catalog_version=res.catalog.version,
        components=components,
    )
    return Response(health, status_code=200 if healthy else 503)


@get(
    "/metrics", operation_id="metrics", tags=["ops"], sync_to_thread=False, media_type="text/plain"
)
def metrics(request: Request[Any, Any, Any]) -> Response[str]:
    res = request.app.state.resources
    up = {name: float(state == "ok") for name, state in res.component_status().items()}
    text = res.metrics.render() + gauge(
        "byokvault_component_up",
        "1 if the component works, 0 if it failed (see /healthz)",
        up,
        "component",
    )
    return Response(text, media_type="text/plain; version=0.0.4")


admin = {"dependencies": {"admin": Provide(provide_admin)}}


@post(
    "/v1/admin/tenants/{tenant_id:str}/tokens",
    operation_id="issueTenantToken",
    tags=["admin"],
    sync_to_thread=True,  # writes the token file
    **admin,
)
def issue_token(
    request: Request[Any, Any, Any],
    admin: Admin,
    tenant_id: TenantId,
    data: JSONBody[TokenIssueRequest | None] = None,
) -> TokenOut:
    record, token = request.app.state.resources.tokens.issue(tenant_id, data.name if data else "")
    return TokenOut(record.token_id, record.tenant_id, record.name, record.created_at, token)


@get(
    "/v1/admin/tenants/{tenant_id:str}/tokens",
    operation_id="listTenantTokens",
    tags=["admin"],
    sync_to_thread=False,
    **admin,
)
def list_tokens(
    request: Request[Any, Any, Any], admin: Admin, tenant_id: TenantId
) -> list[TokenOut]:
    records = request.app.state.resources.tokens.tokens(tenant_id)
    return [TokenOut(r.token_id, r.tenant_id, r.name, r.created_at) for r in records]


@delete(
    "/v1/admin/tokens/{token_id:str}",
    operation_id="revokeToken",
    tags=["admin"],
    sync_to_thread=True,
    **admin,
)
def revoke_token(request: Request[Any, Any, Any], admin: Admin, token_id: FromPath[str]) -> None:
    if not request.app.state.resources.tokens.revoke(token_id):
        raise ApiProblem("not_found", f"no token {token_id}")
