"""The gateway's engine-facing steps, run in worker threads (they touch DuckDB):

- ``Planner.plan``: the model (named, or routed for ``auto``), the tenant's policy, the
  credential (the vault's resolution tiers), and the provider endpoint to call;
- ``Settler``: usage from the provider's answer, its price, and one billing record.

Only wiring lives here: model choice is routing's, credential choice the vault's, prices
pricing's and records the ledger's.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from byokvault.engine.catalog.model import Provider
from byokvault.engine.routing.policy import TenantPolicy
from byokvault.engine.vault.resolve import fund_sources

from .gateway import CallPlan, CallRequest
from .problems import ApiProblem, invalid
from .routing import RouteService, no_candidate
from .state import Resources
from .upstream import PROTOCOL_OF_STYLE, build_target

AUTO = "auto"


class Planner:
    def __init__(self, res: Resources, routing: RouteService) -> None:
        self.res = res
        self.routing = routing
        self.providers: dict[str, Provider] = {p.id: p for p in res.catalog.providers}
        self.names = _name_index(res)
        self.speakers = {
            protocol: {pid for pid, p in self.providers.items() if _protocol(p) == protocol}
            for protocol in set(PROTOCOL_OF_STYLE.values())
        }

    def plan(self, tenant_id: str, call: CallRequest, call_id: str, protocol: str) -> CallPlan:
        requested = call.body["model"].strip()
        if requested == AUTO:
            return self._routed(tenant_id, call, call_id, protocol)
        policy = self.routing.policy(tenant_id)
        candidates = self._named(requested, protocol, policy)
        funded = fund_sources(self.res.vault, tenant_id)
        usable = _fundable(candidates, funded, policy, self.providers)
        if not usable:
            provider_id, _ = candidates[0]
            raise ApiProblem(
                "no_credential",
                f"no usable credential for {provider_id}: add a key with POST /v1/credentials",
                provider_id=provider_id,
            )
        provider_id, model_id = usable[0]
        return self._plan_for(tenant_id, call, call_id, provider_id, model_id, policy, False)

    def _routed(self, tenant_id: str, call: CallRequest, call_id: str, protocol: str) -> CallPlan:
        """``model: auto``: the cheapest model that can serve the request, among providers that
        speak this endpoint's protocol (no cross-protocol translation)."""
        hints = call.hints
        words = hints.get("capabilities", [])
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise invalid("byokvault.capabilities", "must be a list of capability ids or aliases")
        policy = self.routing.policy(tenant_id, _max_price(hints.get("max_price_per_call")))
        funds = self.routing.funds(tenant_id, self.speakers.get(protocol, set()))
        wrapper = {"endpoint": call.endpoint, "body": call.body, "capabilities": words}
        decision = self.routing.route(wrapper, tenant_id, policy, funds)
        chosen = decision.chosen
        if chosen is None:
            raise no_candidate(decision)
        return self._plan_for(
            tenant_id, call, call_id, chosen.provider_id, chosen.model_id, policy, True
        )

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
        resolution = self.res.vault.resolve(
            tenant_id,
            provider_id,
            call_id,
            allow_platform_fallback=not policy.byok_only,
            provider_kind=str(provider.kind),
        )
        base_url = (
            resolution.base_url
            or self.res.settings.provider_base_urls.get(provider_id)
            or provider.base_url
        )
        secret = resolution.secret.reveal() if resolution.secret is not None else None
        target = build_target(
            provider,
            model_id,
            call.endpoint,
            base_url=base_url,
            secret=secret,
            client_headers=call.client_headers,
        )
        del secret
        return CallPlan(
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
        )

    def _named(self, requested: str, protocol: str, policy: TenantPolicy) -> list[tuple[str, str]]:
        """(provider, model) pairs a concrete model name stands for, usable on this protocol."""
        found = self.names.get(requested)
        if not found:
            raise ApiProblem(
                "unknown_model",
                f"model: {requested!r} is not in the catalog (GET /v1/models lists ids)",
                errors=[{"field": "model", "message": "not in the catalog"}],
            )
        speaking = [pair for pair in found if _protocol(self.providers[pair[0]]) == protocol]
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


def _protocol(provider: Provider) -> str | None:
    return PROTOCOL_OF_STYLE.get(str(provider.api_style))


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
    """Usage → price → one billing record. Wired to pricing and the ledger."""

    def __init__(self, res: Resources) -> None:
        self.res = res

    def check_ready(self) -> None:
        """Refuse a call before the provider is paid when it could not be billed."""
        raise ApiProblem("unavailable", "settlement (pricing + ledger) is not wired in this build")

    def settle_response(self, plan: CallPlan, call: CallRequest, answer: Any) -> Any:
        raise ApiProblem("unavailable", "settlement (pricing + ledger) is not wired in this build")

    def settle_stream(self, plan: CallPlan, call: CallRequest, events: list[Any]) -> Any:
        raise ApiProblem("unavailable", "settlement (pricing + ledger) is not wired in this build")
