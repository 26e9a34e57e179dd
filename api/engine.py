"""The gateway's engine-facing steps, run in worker threads (they touch DuckDB):

- ``Planner.plan``: the model (named, or routed for ``auto``), the tenant's policy, the
  credential (the vault's resolution tiers), and the provider endpoint to call;
- ``Settler``: usage from the provider's answer, its price, and one billing record.

Only wiring lives here: model choice is routing's, credential choice the vault's, prices
pricing's and records the ledger's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import Future
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from anyio import to_thread

from byokvault.engine.catalog.model import Provider
from byokvault.engine.ledger.record import BillingRecord, PricedLine, PricingSnapshot, usage_of
from byokvault.engine.ledger.record import FundSource as LedgerFundSource
from byokvault.engine.ledger.record import Rounding as LedgerRounding
from byokvault.engine.ledger.writer import IdempotencyConflict
from byokvault.engine.pricing.cost import AmbiguousPriceError, UnpricedError
from byokvault.engine.pricing.extract import Extracted, ExtractionError
from byokvault.engine.pricing.index import PricingError, UnknownModelError
from byokvault.engine.pricing.quote import Priced, Quote, QuoteNotFound
from byokvault.engine.pricing.quote import Settlement as QuoteSettlement
from byokvault.engine.pricing.usage import UsageError
from byokvault.engine.routing.policy import TenantPolicy
from byokvault.engine.vault.resolve import fund_sources

from . import translate
from .gateway import CallPlan, CallRequest, Settlement
from .problems import ApiProblem, invalid, register_domain_error
from .protocols import UPSTREAM_KEY, upstream_endpoint
from .routing import RouteService, no_candidate
from .state import Resources
from .translate import Untranslatable
from .upstream import build_target

AUTO = "auto"
# How many of the cheapest candidates a routed call considers before asking for the full ranking.
_GATEWAY_TOP = 8
_COMMIT_TIMEOUT_S = 30.0  # a commit not acknowledged by then fails the call (nothing is sent)
Funds = dict[str, frozenset[str]]  # fund source -> providers it can pay for (vault's view)


def _register_errors() -> None:
    def unpriced(exc: BaseException) -> ApiProblem:
        return ApiProblem("unpriced_model", str(exc))

    register_domain_error(UnpricedError, unpriced)
    register_domain_error(AmbiguousPriceError, unpriced)
    register_domain_error(UnknownModelError, lambda exc: ApiProblem("unknown_model", str(exc)))
    register_domain_error(QuoteNotFound, lambda exc: ApiProblem("quote_not_found", str(exc)))
    register_domain_error(
        ExtractionError,
        lambda exc: ApiProblem("provider_error", f"the provider's answer carried no usage: {exc}"),
    )
    register_domain_error(
        UsageError,
        lambda exc: ApiProblem(
            "provider_error", f"the provider reported an impossible usage: {exc}"
        ),
    )
    register_domain_error(PricingError, lambda exc: ApiProblem("validation_error", str(exc)))


_register_errors()


class Planner:
    def __init__(self, res: Resources, routing: RouteService) -> None:
        self.res = res
        self.routing = routing
        self.providers: dict[str, Provider] = {p.id: p for p in res.catalog.providers}
        self.names = _name_index(res)
        self.max_output = {
            (p.id, m.id): m.limits.max_output_tokens for p, m in res.catalog.models() if m.limits
        }
        # Per gateway endpoint, the providers that can serve it (natively or translated).
        self.servers = {
            endpoint: {pid for pid, p in self.providers.items() if _upstream(p, endpoint)}
            for endpoint in ("chat.completions", "embeddings", "responses", "messages")
        }

    def resolve_model(self, name: str) -> tuple[str, str]:
        """A concrete model name (id, alias or provider/model) → (provider, model)."""
        found = self.names.get(name.strip())
        if not found:
            raise ApiProblem(
                "unknown_model",
                f"model: {name!r} is not in the catalog (GET /v1/models lists ids)",
                errors=[{"field": "model", "message": "not in the catalog"}],
            )
        return found[0]

    def resolve_model_for(self, name: str, funded: Funds, policy: TenantPolicy) -> tuple[str, str]:
        """Like ``resolve_model``, but a bare id served by several providers resolves, as calls
        do, to the first one the tenant can pay for (its key, a local endpoint, the platform)."""
        first = self.resolve_model(name)
        candidates = self.names[name.strip()]
        usable = _fundable(candidates, funded, policy, self.providers)
        return usable[0] if usable else first

    def fund_source_for(self, provider_id: str, funded: Funds, policy: TenantPolicy) -> str:
        """Who would pay a call to ``provider_id`` now (``funded``: the vault's
        ``fund_sources``): the tenant's key, else a local endpoint, else the platform's key
        (when policy allows). Calls resolve their credential from the vault itself."""
        if provider_id in funded["byok"]:
            return "byok"
        if provider_id in funded["local"] or self.providers[provider_id].kind == "local":
            return "local"
        if policy.byok_only:
            raise ApiProblem(
                "no_credential", f"tenant policy is BYOK-only; no key for {provider_id}"
            )
        return "platform"

    def plan(self, tenant_id: str, call: CallRequest, call_id: str) -> CallPlan:
        requested = call.body["model"].strip()
        if call.idempotency_key:
            self._refuse_billed_key(tenant_id, call.idempotency_key)
        quote = self._quote(call)
        if quote is not None:
            requested = f"{quote.priced.provider_id}/{quote.priced.model_id}"
        if requested == AUTO:
            plan = self._routed(tenant_id, call, call_id)
        else:
            plan = self._concrete(tenant_id, call, call_id, requested)
        if quote is not None:
            plan.context["quote_id"] = quote.id
        return plan

    def _refuse_billed_key(self, tenant_id: str, key: str) -> None:
        """A key the ledger already billed (e.g. before a restart, so the answer is no longer
        held for replay) is refused before the provider is paid again."""
        found = self.res.ledger.find_key(tenant_id, key)  # from memory unless ever stored
        if found is not None:
            raise ApiProblem(
                "idempotency_conflict",
                f"Idempotency-Key already billed as record {found.record_id}; "
                "its response is no longer held for replay",
                record_id=found.record_id,
            )

    def _quote(self, call: CallRequest) -> Quote | None:
        quote_id = call.client_headers.get("x-byokvault-quote-id")
        if not quote_id:
            return None
        quote = self.res.quoter.store.get(quote_id)
        if quote is None:
            raise ApiProblem("quote_not_found", f"no quote {quote_id}")
        if not quote.valid_at(self.res.quoter.clock()):
            raise ApiProblem(
                "quote_expired",
                f"quote {quote_id} expired at {quote.expires_at.isoformat()}; ask for a new one",
            )
        return quote

    def _concrete(
        self, tenant_id: str, call: CallRequest, call_id: str, requested: str
    ) -> CallPlan:
        policy = self.routing.policy(tenant_id)
        candidates = self._named(requested, call.endpoint, policy)
        funded = fund_sources(self.res.vault, tenant_id)
        usable = _fundable(candidates, funded, policy, self.providers)
        if not usable:
            provider_id, _ = candidates[0]
            raise ApiProblem(
                "no_credential",
                f"no usable credential for {provider_id}: add a key with POST /v1/credentials",
                provider_id=provider_id,
            )
        servable, refused = self._servable(call, usable)
        if not servable:
            raise _untranslatable(f"model: {requested!r}", refused)
        provider_id, model_id = servable[0]
        return self._plan_for(tenant_id, call, call_id, provider_id, model_id, policy, False)

    def _routed(self, tenant_id: str, call: CallRequest, call_id: str) -> CallPlan:
        """``model: auto``: the cheapest model that can serve the request, among providers that
        speak this endpoint's protocol or one it translates to faithfully."""
        hints = call.hints
        words = hints.get("capabilities", [])
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise invalid("byokvault.capabilities", "must be a list of capability ids or aliases")
        policy = self.routing.policy(tenant_id, _max_price(hints.get("max_price_per_call")))
        funds = self.routing.funds(tenant_id, self.servers.get(call.endpoint, set()))
        wrapper = {"endpoint": call.endpoint, "body": call.body, "capabilities": words}
        # The few cheapest are enough unless translation refuses all of them: a full decision
        # ranks every model of the catalog (tens of ms), the top few take microseconds.
        decision = self.routing.route(wrapper, tenant_id, policy, funds, top=_GATEWAY_TOP)
        ranked = [(c.provider_id, c.model_id) for c in decision.candidates]
        servable, refused = self._servable(call, ranked)
        if not servable and len(ranked) == _GATEWAY_TOP:
            decision = self.routing.route(wrapper, tenant_id, policy, funds)
            ranked = [(c.provider_id, c.model_id) for c in decision.candidates]
            servable, refused = self._servable(call, ranked)
        if not servable:
            problem = no_candidate(decision)
            if refused:
                raise _untranslatable("model: 'auto'", refused, problem)
            raise problem
        provider_id, model_id = servable[0]
        return self._plan_for(tenant_id, call, call_id, provider_id, model_id, policy, True)

    def _servable(
        self, call: CallRequest, candidates: list[tuple[str, str]]
    ) -> tuple[list[tuple[str, str]], dict[str, Untranslatable]]:
        """The candidates whose provider takes this request as it is or faithfully translated;
        the others by ``provider/model`` with why the request cannot be translated for them."""
        verdicts: dict[str, Untranslatable | None] = {}
        kept: list[tuple[str, str]] = []
        refused: dict[str, Untranslatable] = {}
        for provider_id, model_id in candidates:
            upstream = _upstream(self.providers[provider_id], call.endpoint)
            if upstream is not None and upstream != call.endpoint and upstream not in verdicts:
                verdicts[upstream] = (
                    translate.check(call.endpoint, upstream, call.body)
                    if call.hints.get("translate", True) is not False
                    else Untranslatable("disabled", "the request set byokvault.translate: false")
                )
            problem = verdicts.get(upstream) if upstream else None
            if problem is None:
                kept.append((provider_id, model_id))
            else:
                refused[f"{provider_id}/{model_id}"] = problem
        return kept, refused

    def _plan_for(
        self,
        tenant_id: str,
        call: CallRequest,
        call_id: str,
        provider_id: str,
        model_id: str,
        policy: TenantPolicy,
        routed: bool,
    ) -> CallPlan:
        provider = self.providers[provider_id]
        started = time.perf_counter()
        resolution = self.res.vault.resolve(
            tenant_id,
            provider_id,
            call_id,
            allow_platform_fallback=not policy.byok_only,
            provider_kind=str(provider.kind),
            wait=False,  # its row commits during the provider call; settlement waits for it
        )
        self.res.metrics.observe(
            "byokvault_gateway_resolve_seconds",
            "Credential resolution per call, the access event's synced audit-log write included",
            time.perf_counter() - started,
        )
        base_url = (
            resolution.base_url
            or self.res.settings.provider_base_urls.get(provider_id)
            or provider.base_url
        )
        upstream = _upstream(provider, call.endpoint) or call.endpoint
        translated = self._translated_body(call, upstream, provider, model_id)
        secret = resolution.secret.reveal() if resolution.secret is not None else None
        target = build_target(
            provider,
            model_id,
            upstream,
            base_url=base_url,
            secret=secret,
            client_headers=call.client_headers,
        )
        del secret
        plan = CallPlan(
            call_id=call_id,
            tenant_id=tenant_id,
            endpoint=call.endpoint,
            provider_id=provider_id,
            model_id=model_id,
            api_style=str(provider.api_style),
            target=target,
            credential_id=resolution.credential_id,
            fund_source=str(resolution.fund_source),
            routed=routed,
            resolution=resolution,
        )
        if translated is not None:
            plan.context[UPSTREAM_KEY] = upstream
            plan.context[translate.TRANSLATED_BODY] = translated
        return plan

    def _translated_body(
        self, call: CallRequest, upstream: str, provider: Provider, model_id: str
    ) -> dict[str, Any] | None:
        """The request in the provider's protocol; None when it speaks the client's."""
        if upstream == call.endpoint:
            return None
        try:
            return translate.translate_request(
                call.endpoint,
                upstream,
                call.body,
                api_style=str(provider.api_style),
                max_output_tokens=self.max_output.get((provider.id, model_id)),
            )
        except translate.Untranslatable as exc:
            raise _untranslatable(f"{provider.id}/{model_id}", {provider.id: exc}) from None

    def _named(self, requested: str, endpoint: str, policy: TenantPolicy) -> list[tuple[str, str]]:
        """(provider, model) pairs a concrete model name stands for, usable on this endpoint."""
        found = self.names.get(requested)
        if not found:
            raise ApiProblem(
                "unknown_model",
                f"model: {requested!r} is not in the catalog (GET /v1/models lists ids)",
                errors=[{"field": "model", "message": "not in the catalog"}],
            )
        speaking = [pair for pair in found if _upstream(self.providers[pair[0]], endpoint)]
        if not speaking:
            styles = sorted({str(self.providers[p].api_style) for p, _ in found})
            raise ApiProblem(
                "validation_error",
                f"model: {requested!r} is served by the {', '.join(styles)} API, "
                "not this endpoint's",
                errors=[{"field": "model", "message": "wrong endpoint for this model's API"}],
            )
        allowed = [pair for pair in speaking if policy.allows_provider(pair[0])]
        if not allowed:
            raise ApiProblem(
                "policy_denied", f"the tenant's policy does not allow {speaking[0][0]}"
            )
        return allowed


def _untranslatable(
    what: str, refused: dict[str, Untranslatable], problem: ApiProblem | None = None
) -> ApiProblem:
    """``no_candidate``, naming the request features no candidate's protocol can carry."""
    reasons: dict[str, int] = {}
    for exc in refused.values():
        reasons[exc.reason] = reasons.get(exc.reason, 0) + 1
    first = next(iter(refused.values()))
    detail = f"{what}: the request cannot be translated faithfully to its provider's API ({first})"
    if problem is None:
        return ApiProblem("no_candidate", detail, exclusion_reasons=reasons)
    problem.detail += f"; {detail}"
    problem.extra["exclusion_reasons"] = {**problem.extra.get("exclusion_reasons", {}), **reasons}
    return problem


def _upstream(provider: Provider, endpoint: str) -> str | None:
    return upstream_endpoint(endpoint, str(provider.api_style))


def _max_price(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        price = Decimal(-1)
    if not price.is_finite() or price < 0:
        raise invalid("byokvault.max_price_per_call", "must be a non-negative decimal (USD)")
    return price


def _name_index(res: Resources) -> dict[str, list[tuple[str, str]]]:
    """Every name a model answers to: ``provider/model``, its id and aliases (deterministic)."""
    index: dict[str, list[tuple[str, str]]] = {}
    for provider, model in res.catalog.models():
        pair = (provider.id, model.id)
        for name in (f"{provider.id}/{model.id}", model.id, *model.aliases):
            index.setdefault(name, [])
            if pair not in index[name]:
                index[name].append(pair)
    return index


def _fundable(
    candidates: list[tuple[str, str]],
    funded: dict[str, frozenset[str]],
    policy: TenantPolicy,
    providers: dict[str, Provider],
) -> list[tuple[str, str]]:
    """Candidates someone can pay for: the tenant's key, the platform's (if policy allows) or a
    local provider."""
    payers = funded["byok"] | funded["local"]
    if not policy.byok_only:
        payers = payers | funded["platform"]
    return [pair for pair in candidates if pair[0] in payers or providers[pair[0]].kind == "local"]


class Settler:
    """Usage → price → one billing record, durable before the answer leaves.

    Usage comes from the provider's answer (pricing's extractors), the price from the Quoter
    (a valid quote's frozen prices, else the live catalog and rules), and the record goes
    through the ledger's single writer; the call returns once it is committed.
    """

    def __init__(self, res: Resources) -> None:
        self.res = res

    def check_ready(self) -> None:
        """Every piece settlement needs is wired (kept as a seam for degraded deployments)."""

    async def settle(self, plan: CallPlan, call: CallRequest, extracted: Extracted) -> Settlement:
        """Price the provider's usage (read by the gateway from its native answer) and commit
        the call's one billing record. Runs on the event loop: live pricing is pure Python
        and the commits are awaited as futures (no worker thread is held or woken); only a
        quote's lookup, which may read the quote store's DuckDB, goes to a thread."""
        at = datetime.now(UTC)
        if plan.context.get("quote_id") is None:
            settled = self._price(plan, extracted, at)
        else:
            settled = await to_thread.run_sync(self._price, plan, extracted, at)
        record = billing_record(plan, call, settled.priced, at, settled.quote_id)
        async with asyncio.timeout(_COMMIT_TIMEOUT_S):
            # The record names the resolution row: it must exist first.
            await _committed(plan.resolution.durable if plan.resolution else None)
            if plan.resolution is not None:
                plan.resolution.wait_durable(0)  # done: raises what its commit raised, if any
            started = time.perf_counter()
            try:
                entry = await asyncio.wrap_future(self.res.ledger.submit(record))
            except IdempotencyConflict as exc:
                raise ApiProblem(
                    "idempotency_conflict",
                    f"Idempotency-Key already billed as record {exc.original.record_id} for a "
                    "different call",
                    record_id=exc.original.record_id,
                ) from None
        self.res.metrics.observe(
            "byokvault_gateway_ledger_wait_seconds",
            "Time from submitting a billing record to the ledger's commit acknowledgement",
            time.perf_counter() - started,
        )
        return Settlement(entry.record_id, settled.priced.billed.rounding.amount, "USD")

    def _price(self, plan: CallPlan, extracted: Extracted, at: datetime) -> QuoteSettlement:
        return self.res.quoter.settle(
            plan.context.get("quote_id"),
            extracted.usage,
            at,
            provider_id=plan.provider_id,
            model_id=plan.model_id,
            fund_source=plan.fund_source,
            context=extracted.context,
        )


async def _committed(future: Future[Any] | None) -> None:
    """Wait for a writer thread's commit without a thread of our own (its outcome is read by
    the caller)."""
    if future is not None and not future.done():
        with contextlib.suppress(Exception):
            await asyncio.wrap_future(future)


def billing_record(
    plan: CallPlan, call: CallRequest, priced: Priced, at: datetime, quote_id: str | None
) -> BillingRecord:
    """The ledger's record of a priced call (its usage is what the lines priced)."""
    lines = tuple(
        PricedLine(
            dimension=line.dimension,
            price_id=line.price_id,
            unit_price=line.unit_price,
            per=line.per,
            quantity=Decimal(line.quantity),
            amount=line.raw_amount,
            effective_from=line.effective_from,
        )
        for line in priced.lines
    )
    quantities: dict[str, Decimal] = {}
    for line in lines:
        quantities[line.dimension] = quantities.get(line.dimension, Decimal(0)) + line.quantity
    billed = priced.billed
    return BillingRecord(
        tenant_id=plan.tenant_id,
        call_id=plan.call_id,
        idempotency_key=call.idempotency_key or plan.call_id,
        occurred_at=at,
        provider_id=plan.provider_id,
        model_id=plan.model_id,
        capability_class=priced.capability_class,
        tier=priced.context.service_tier,
        fund_source=LedgerFundSource(priced.fund_source),
        usage=usage_of(quantities),
        pricing=PricingSnapshot(
            lines=lines,
            raw_cost=priced.raw_total,
            billed_amount=billed.billed_amount,
            rounding=LedgerRounding(
                billed.rounding.amount, billed.rounding.mode, billed.rounding.quantum
            ),
            currency=priced.currency,
            catalog_version=priced.catalog_version,
            rules_version=priced.rules_version,
            margin_factor=billed.margin_factor,
            byok_fee=billed.byok_fee,
        ),
        credential_id=plan.credential_id,
        credential_resolution_id=plan.call_id,  # the vault's resolution row is keyed by call
        quote_id=quote_id,
    )
