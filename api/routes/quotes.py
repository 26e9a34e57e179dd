"""``POST /v1/quote`` (an exact price before the call, honored until it expires) and the
published margin table. Quotes are settled by the gateway (``x-byokvault-quote-id``)."""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from litestar import Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from byokvault.engine.pricing.cost import PricingContext
from byokvault.engine.pricing.quote import Quote
from byokvault.engine.pricing.usage import Usage, UsageError
from byokvault.engine.routing.requirements import requirements_for
from byokvault.engine.vault.resolve import cached_fund_sources, fund_sources

from ..auth import Principal, provide_principal, tenant_scope
from ..catalog_sync import current
from ..engine import Funds, Planner
from ..problems import invalid
from ..schemas import MarginTable, QuoteLineOut, QuoteOut, QuoteRequest


@post(
    "/v1/quote",
    operation_id="quote",
    tags=["billing"],
    status_code=200,
    dependencies={"principal": Provide(provide_principal)},
)
async def quote(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    data: JSONBody[QuoteRequest],
) -> QuoteOut:
    """A warm quote is pure Python on the event loop (prices in memory, the tenant's funding
    from the vault's cache, the quote kept by a write-behind store); only a cold vault cache
    sends the quote to a worker thread, because reading it is a DuckDB query."""
    tenant = tenant_scope(principal, data.tenant_id)
    version = current(request)  # one catalog version for the whole quote
    res = version.resources
    funded = cached_fund_sources(res.vault, tenant)
    if funded is None:
        funded = await to_thread.run_sync(fund_sources, res.vault, tenant)
    return quote_out(make_quote(version.gateway.planner, tenant, data, funded))


def make_quote(planner: Planner, tenant: str, data: QuoteRequest, funded: Funds) -> Quote:
    """Price ``data`` for ``tenant`` (who pays: ``funded``, the vault's fund sources)."""
    res = planner.res
    policy = planner.routing.policy(tenant)
    provider_id, model_id = planner.resolve_model_for(data.model, funded, policy)
    usage = _usage(data, res)
    fund_source = data.fund_source or planner.fund_source_for(provider_id, funded, policy)
    return res.quoter.quote(
        provider_id,
        model_id,
        usage,
        fund_source=fund_source,
        context=PricingContext(service_tier=data.service_tier),
    )


def _usage(data: QuoteRequest, res: Any) -> Usage:
    if (data.usage is None) == (data.body is None):
        raise invalid("usage", "give exactly one of usage (quantities) or body (a request)")
    if data.body is not None:
        estimated = requirements_for(data.body, res.catalog.taxonomy).usage_dict()
        return Usage.from_mapping(estimated)
    try:
        return Usage.from_mapping(data.usage or {})
    except (UsageError, TypeError) as exc:
        raise invalid("usage", str(exc)) from None


def quote_out(made: Quote) -> QuoteOut:
    priced = made.priced
    billed = priced.billed
    return QuoteOut(
        quote_id=made.id,
        created_at=made.created_at,
        expires_at=made.expires_at,
        provider_id=priced.provider_id,
        model_id=priced.model_id,
        fund_source=priced.fund_source,
        service_tier=priced.context.service_tier,
        usage={k: v for k, v in made.usage.quantities().items()},  # noqa: C416
        lines=[
            QuoteLineOut(
                dimension=line.dimension,
                usage_key=line.usage_key,
                quantity=line.quantity,
                unit_price=line.unit_price,
                per=line.per,
                raw_amount=line.raw_amount,
                marked_amount=line.marked_amount,
                price_id=line.price_id,
            )
            for line in priced.lines
        ],
        raw_cost=priced.raw_total,
        billed_amount=billed.billed_amount,
        rounded_amount=billed.rounding.amount,
        currency=priced.currency,
        catalog_version=priced.catalog_version,
        rules_version=priced.rules_version,
    )


@get("/v1/margins", operation_id="marginTable", tags=["billing"], sync_to_thread=False)
def margins(request: Request[Any, Any, Any]) -> MarginTable:
    """The published margin table: factor per capability class on platform-key calls, the
    BYOK fee, the local per-call fee, and the rounding step."""
    rules = request.app.state.resources.quoter.rules
    return MarginTable(
        rules_version=rules.version,
        margins=dict(rules.margins),
        byok_fee_percent=rules.byok_fee.percent,
        byok_fee_per_call=rules.byok_fee.per_call,
        local_fee_per_call=rules.local_fee.per_call,
        rounding_quantum=rules.rounding.quantum,
        rounding_mode=rules.rounding.mode,
    )
