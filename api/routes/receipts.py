"""Receipts (the ledger's records, with their frozen price snapshots) and a tenant's real-time
usage (the ledger writer's running totals, current as of the last acknowledged record)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter

from byokvault.engine.ledger.record import LedgerEntry
from byokvault.engine.ledger.rows import entry_of
from byokvault.engine.paths import sql_text

from ..auth import Principal, provide_principal, tenant_scope
from ..problems import ApiProblem
from ..schemas import TenantUsageOut, UsageTotal

TENANT = {"dependencies": {"principal": Provide(provide_principal)}, "tags": ["billing"]}
TenantParam = Annotated[
    str | None, QueryParameter(description="admin token only: the tenant acted for")
]


@get("/v1/receipts/{record_id:str}", operation_id="getReceipt", sync_to_thread=True, **TENANT)
def get_receipt(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    record_id: FromPath[str],
    tenant_id: TenantParam = None,
) -> LedgerEntry:
    """One billing record: usage, every priced line with its price id and unit price, raw
    cost, margin or BYOK fee, billed and rounded amounts, and its place in the hash chain."""
    tenant = tenant_scope(principal, tenant_id)
    row = request.app.state.resources.ledger.store.find_record(record_id)
    if row is None or row["tenant_id"] != tenant:
        raise ApiProblem("not_found", f"no receipt {record_id}")
    return entry_of(row)


@get("/v1/receipts", operation_id="listReceipts", sync_to_thread=True, **TENANT)
def list_receipts(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    tenant_id: TenantParam = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    before_seq: Annotated[int | None, QueryParameter(ge=1, description="page: seq below")] = None,
) -> list[LedgerEntry]:
    """The tenant's receipts, newest first; page with ``before_seq`` (the last seq seen)."""
    tenant = tenant_scope(principal, tenant_id)
    store = request.app.state.resources.ledger.store
    params = {"tenant": tenant, "limit": limit, "before_seq": before_seq}
    return [entry_of(row) for row in store.records(sql_text("api/receipts.sql"), params)]


@get("/v1/usage", operation_id="tenantUsage", sync_to_thread=False, **TENANT)
def usage(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    tenant_id: TenantParam = None,
) -> TenantUsageOut:
    """Running totals per currency (in memory: no query), including every acknowledged call."""
    tenant = tenant_scope(principal, tenant_id)
    ledger = request.app.state.resources.ledger
    seq, _ = ledger.head()
    totals = [
        UsageTotal(u.currency, u.records, u.raw_cost, u.billed_amount, u.rounded_amount)
        for u in ledger.usage(tenant)
    ]
    return TenantUsageOut(tenant_id=tenant, ledger_seq=seq, totals=totals)


RECEIPT_HANDLERS = [get_receipt, list_receipts, usage]
