"""Routing as the API uses it: the routing engine's fast path over this worker's catalog, fed
with the tenant's fund sources as the vault sees them now.

``FastRouter`` memoizes plans and decisions in plain dicts and builds plans with SQL on one
connection, so calls are serialized by a lock; a memoized decision is a dictionary lookup.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from byokvault.engine.routing.decision import FundSources, RouteDecision
from byokvault.engine.routing.fast import FastRouter
from byokvault.engine.routing.policy import Policies, TenantPolicy, load_policy
from byokvault.engine.routing.requirements import RequestError
from byokvault.engine.routing.route import Router
from byokvault.engine.vault.resolve import fund_sources

from .problems import ApiProblem, invalid, register_domain_error
from .state import Resources

register_domain_error(
    RequestError,
    lambda exc: invalid(getattr(exc, "field", "") or "body", str(exc).split(": ", 1)[-1]),
)


class RouteService:
    def __init__(self, res: Resources, policies: Policies | None = None) -> None:
        self.res = res
        known = {p.id for p in res.catalog.providers}
        self.policies = policies or load_policy(
            res.settings.rules_dir / "policy.yaml", known_providers=known
        )
        self._lock = threading.Lock()
        with self._lock:
            self.fast = FastRouter(Router(res.catalog, res.con, self.policies))

    def policy(self, tenant_id: str, max_price: Decimal | None = None) -> TenantPolicy:
        """The tenant's policy, tightened (never loosened) by a per-call price ceiling."""
        policy = self.policies.for_tenant(tenant_id)
        if max_price is not None and (
            policy.max_price_per_call is None or max_price < policy.max_price_per_call
        ):
            policy = dataclasses.replace(policy, max_price_per_call=max_price)
        return policy

    def funds(self, tenant_id: str, only_providers: set[str] | None = None) -> FundSources:
        """Who can pay for which provider now (vault), optionally limited to some providers."""
        sources = fund_sources(self.res.vault, tenant_id)

        def keep(ids: frozenset[str]) -> frozenset[str]:
            return ids if only_providers is None else ids & only_providers

        return FundSources(
            byok=keep(sources["byok"]),
            platform=keep(sources["platform"]),
            local=keep(sources["local"]),
        )

    def route(
        self,
        request: Mapping[str, Any],
        tenant_id: str,
        policy: TenantPolicy,
        funds: FundSources,
        top: int | None = None,
    ) -> RouteDecision:
        """The routing decision; with ``top``, only the first ``top`` candidates (cheap: no
        full ranking or exclusion list unless nothing is routable)."""
        with self._lock:
            return self.fast.route(request, tenant_id, funds, None, policy, top)


def no_candidate(decision: RouteDecision) -> ApiProblem:
    reasons: dict[str, int] = {}
    for exclusion in decision.exclusions:
        for reason in exclusion.reasons:
            kind = reason.split(":", 1)[0]
            reasons[kind] = reasons.get(kind, 0) + 1
    summary = ", ".join(f"{k} ({n})" for k, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
    return ApiProblem(
        "no_candidate",
        f"no model can serve this request: {summary or 'the catalog is empty'}",
        exclusion_reasons=reasons,
    )
