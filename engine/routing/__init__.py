"""Capability-first routing: the cheapest model that supports every need of a request.

    from byokvault.engine.routing import FundSources, route
    decision = route(body, tenant="acme", fund_sources=FundSources(byok=frozenset({"openai"})))
    decision.chosen, decision.candidates, decision.exclusions

``Router.route_sql`` is the definition (``sql/routing/``); ``FastRouter.route`` is the hot path,
tested to return exactly the same decisions.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .decision import Candidate, Exclusion, FundSources, LineItem, RouteDecision
from .fast import FastRouter
from .policy import Policies, TenantPolicy, load_policy
from .requirements import RequestError, Requirements, requirements_for
from .route import Router

__all__ = [
    "Candidate",
    "Exclusion",
    "FastRouter",
    "FundSources",
    "LineItem",
    "Policies",
    "RequestError",
    "Requirements",
    "RouteDecision",
    "Router",
    "TenantPolicy",
    "load_policy",
    "requirements_for",
    "route",
]

_shared: dict[str, Router] = {}
_lock = threading.Lock()
_local = threading.local()


def default_router() -> FastRouter:
    """This thread's fast router over the bundled catalog (one DuckDB cursor per thread)."""
    fast = getattr(_local, "router", None)
    if fast is None:
        with _lock:
            if "bundled" not in _shared:
                _shared["bundled"] = Router.open()
            base = _shared["bundled"]
        fast = _local.router = FastRouter(base.cursor())
    return fast


def route(
    request: Mapping[str, Any] | Requirements,
    tenant: str | None = None,
    fund_sources: FundSources | None = None,
    at: datetime | None = None,
    router: FastRouter | None = None,
    top: int | None = None,
) -> RouteDecision:
    """Ranked candidates (cost breakdown, fund source) and exclusions (reason codes); with
    ``top``, only the best ``top`` candidates (and the exclusions only if none remains)."""
    return (router or default_router()).route(request, tenant, fund_sources, at, top=top)
