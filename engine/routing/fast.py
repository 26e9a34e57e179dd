"""The hot path: the route's answer without a DuckDB query per request, provably the SQL's.

A route decision depends on the request only through (a) the required capabilities, the usage
keys and the price context, (b) the token / image counts checked against limits and
multiplied by rates, and (c) the decision time, only through which price rows and lifecycle
dates are in force. So:

* A **plan** is evaluated by ``sql/routing/route.sql`` itself, once per (capabilities, usage
  keys, price context, policy, fund sources, time interval): it is the SQL's answer for a unit
  usage (quantity 1 of each key) with no limits to check, which yields each model's static
  reasons and, for each model still eligible, the pricing twin's line items per unit. The twin's
  line amounts are exact decimals linear in the quantity (``unit_price × quantity / per``, no
  rounding), so ``quantity × unit amount`` here equals the twin's amount exactly. The only
  quantity-dependent row choice, the long-context cliff, is covered by evaluating the plan at
  one representative input-token count per threshold (the smallest count crossing it) and
  picking, per model, the evaluation whose crossed thresholds equal the request's.
* Per request, the limits (context, output, images), the cost, ``max_price_per_call`` and the
  ranking are computed here in Python over the plan: integer arithmetic, no SQL.
* Decisions are memoized per exact request shape (requirements + policy + fund sources + time
  interval): a repeated shape is a dictionary lookup.

``tests/test_routing_fast.py`` checks that ``FastRouter.route`` equals ``Router.route_sql`` on
many random requests.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Context, Decimal, Inexact
from typing import Any

from .decision import Candidate, Exclusion, FundSources, LineItem, RouteDecision
from .policy import TenantPolicy
from .requirements import Requirements
from .route import Router

EXACT = Context(prec=120, traps=[Inexact])  # money here is never rounded; inexact raises


@dataclass(frozen=True, slots=True)
class UnitLine:
    dimension: str
    usage_key: str
    unit_price: Decimal
    per: int
    price_id: str
    unit_amount: Decimal  # the twin's line amount divided by the probe's quantity


@dataclass(frozen=True, slots=True)
class PlanModel:
    provider_id: str
    model_id: str
    provider_kind: str
    fund_source: str | None
    missing: tuple[str, ...]  # missing_capability:* reasons (listed before size reasons)
    static: tuple[str, ...]  # lifecycle / policy / credential reasons (after size reasons)
    context_window: int | None
    max_output_tokens: int | None
    max_images: int | None
    thresholds: tuple[tuple[int, bool], ...]
    # per representative input-token count: unpriced reasons, or the unit line items; None
    # where the SQL did not price it (the context is too small for every count of that tier,
    # which the size check here excludes first)
    priced: dict[int, tuple[str, ...] | tuple[UnitLine, ...] | None]
    # the exclusion when capability / lifecycle / policy / credential reasons apply, built once
    # per plan and reused whenever the request adds no size reason
    excluded: Exclusion | None


@dataclass(frozen=True, slots=True)
class Plan:
    models: tuple[PlanModel, ...]


def crossed(thresholds: tuple[tuple[int, bool], ...], tokens: int) -> tuple[bool, ...]:
    return tuple(tokens > t or (incl and tokens == t) for t, incl in thresholds)


class FastRouter:
    """Wraps a :class:`Router`; same answers as ``Router.route_sql``, mostly without SQL."""

    def __init__(self, router: Router, max_plans: int = 1024, max_decisions: int = 65536):
        self.router = router
        self._plans: OrderedDict[tuple, Plan] = OrderedDict()
        self._decisions: OrderedDict[tuple, RouteDecision] = OrderedDict()
        self._max_plans, self._max_decisions = max_plans, max_decisions
        self._load_static()

    # --- per catalog ---------------------------------------------------------------------------

    def _load_static(self) -> None:
        con = self.router.con
        self._limits = {
            (p, m): (cw, mo, mi)
            for p, m, cw, mo, mi in con.execute(
                "SELECT provider_id, model_id, context_window, max_output_tokens, "
                "max_images_per_request FROM routing_models"
            ).fetchall()
        }
        self._thresholds: dict[tuple[str, str], tuple[tuple[int, bool], ...]] = {}
        for p, m, t, incl in con.execute(
            "SELECT DISTINCT provider_id, model_id, long_context_threshold, "
            "long_context_inclusive FROM prices WHERE long_context_threshold IS NOT NULL "
            "ORDER BY ALL"
        ).fetchall():
            self._thresholds[(p, m)] = (*self._thresholds.get((p, m), ()), (t, bool(incl)))
        # Instants where what is in force can change: price rows and lifecycle dates.
        instants = con.execute(
            "SELECT DISTINCT x FROM ("
            " SELECT effective_from AS x FROM prices UNION ALL"
            " SELECT effective_to FROM prices UNION ALL"
            " SELECT timezone('UTC', deprecated::TIMESTAMP) FROM models UNION ALL"
            " SELECT timezone('UTC', retired::TIMESTAMP) FROM models"
            ") WHERE x IS NOT NULL ORDER BY x"
        ).fetchall()
        self._instants = [x for (x,) in instants]
        edges = con.execute(
            "SELECT DISTINCT x FROM (SELECT window_start AS x FROM prices UNION ALL "
            "SELECT window_end FROM prices) WHERE x IS NOT NULL ORDER BY x"
        ).fetchall()
        self._window_edges: list[time] = [x for (x,) in edges]

    def time_key(self, at: datetime) -> tuple[int, int]:
        """Two instants with the same key see the same rows in force and lifecycle state."""
        when = at.astimezone(UTC)
        day = bisect.bisect_right(self._window_edges, when.time().replace(tzinfo=None))
        return bisect.bisect_right(self._instants, when), day if self._window_edges else 0

    # --- per request ---------------------------------------------------------------------------

    def route(
        self,
        request: Mapping[str, Any] | Requirements,
        tenant: str | None = None,
        funds: FundSources | None = None,
        at: datetime | None = None,
        policy: TenantPolicy | None = None,
    ) -> RouteDecision:
        req, policy, funds, at = self.router.resolve(request, tenant, funds, at, policy)
        if any(q == 0 for _, q in req.usage):  # a zero quantity is no usage (the twin drops it)
            usage = tuple((k, q) for k, q in req.usage if q)
            req = Requirements(
                req.capabilities,
                req.input_tokens,
                req.output_tokens,
                req.images,
                usage,
                req.context,
            )
        key = (req, policy, funds.key(), self.time_key(at))
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._decide(req, policy, self._plan(req, policy, funds, at))
            self._remember(self._decisions, key, decision, self._max_decisions)
        return decision

    def _plan(
        self, req: Requirements, policy: TenantPolicy, funds: FundSources, at: datetime
    ) -> Plan:
        usage_keys = tuple(k for k, _ in req.usage)
        # the price cap and local-first act per request: plans are shared across them
        base = TenantPolicy(
            byok_only=policy.byok_only,
            allowed_providers=policy.allowed_providers,
            blocked_providers=policy.blocked_providers,
            allow_deprecated=policy.allow_deprecated,
        )
        key = (req.capabilities, usage_keys, req.context, base, funds.key(), self.time_key(at))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._build_plan(req, base, funds, at)
            self._remember(self._plans, key, plan, self._max_plans)
        return plan

    def _build_plan(
        self, req: Requirements, policy: TenantPolicy, funds: FundSources, at: datetime
    ) -> Plan:
        reps = sorted(
            {0} | {t + (0 if incl else 1) for ts in self._thresholds.values() for t, incl in ts}
        )
        keys = [k for k, _ in req.usage]
        runs: dict[int, dict[tuple[str, str], tuple]] = {}
        for rep in reps if "input_tokens" in keys else [0]:
            # quantity 1 of each key; input tokens at the tier's representative count
            usage = tuple((k, max(rep, 1) if k == "input_tokens" else 1) for k in keys)
            probe = Requirements(req.capabilities, rep, None, 0, usage, req.context)
            only = None if rep == 0 else self._tiered_models(rep)
            rows = self.router.route_rows(probe, policy, funds, at, only)
            runs[rep] = {(row[0], row[1]): row for row in rows}
        models = []
        for (p, m), (_p, _m, kind, fund, reasons, _cost, _items) in sorted(runs[0].items()):
            # cliffs are crossed by input tokens: without them no threshold can matter
            thresholds = self._thresholds.get((p, m), ()) if "input_tokens" in keys else ()
            mine = {0} | {t + (0 if incl else 1) for t, incl in thresholds}
            priced = {rep: _unit_lines(runs[rep][(p, m)]) for rep in mine}
            missing = tuple(r for r in reasons if r.startswith("missing_capability:"))
            static = tuple(
                r for r in reasons if not r.startswith(("missing_capability:", "unpriced:"))
            )
            cw, mo, mi = self._limits[(p, m)]
            excluded = Exclusion(p, m, (*missing, *static)) if missing or static else None
            models.append(
                PlanModel(
                    p, m, kind, fund, missing, static, cw, mo, mi, thresholds, priced, excluded
                )
            )
        return Plan(tuple(models))

    def _tiered_models(self, rep: int) -> list[str]:
        """The models with a long-context threshold whose representative count is ``rep``."""
        return sorted(
            f"{p}/{m}"
            for (p, m), ts in self._thresholds.items()
            if any(t + (0 if incl else 1) == rep for t, incl in ts)
        )

    def _decide(self, req: Requirements, policy: TenantPolicy, plan: Plan) -> RouteDecision:
        quantities = {"requests": 1, **req.usage_dict()}  # the twin counts one request per call
        need = req.input_tokens + (req.output_tokens or 0)
        cap = policy.max_price_per_call
        ranked: list[tuple[tuple, PlanModel, int, tuple[LineItem, ...]]] = []
        exclusions: list[Exclusion] = []
        for pm in plan.models:
            size = _size_reasons(pm, req, need)
            if pm.excluded is not None and not size:
                exclusions.append(pm.excluded)
                continue
            if pm.excluded is not None or size:
                reasons = (*pm.missing, *size, *pm.static)
                exclusions.append(Exclusion(pm.provider_id, pm.model_id, reasons))
                continue
            lines = pm.priced[_rep(pm.thresholds, req.input_tokens)]
            assert lines is not None, "a tier the SQL did not price passed the size check"
            if lines and isinstance(lines[0], str):
                exclusions.append(Exclusion(pm.provider_id, pm.model_id, lines))  # type: ignore[arg-type]
                continue
            items = tuple(
                LineItem(
                    u.dimension,
                    quantities[u.usage_key],
                    u.unit_price,
                    u.per,
                    EXACT.multiply(u.unit_amount, quantities[u.usage_key]),
                    u.price_id,
                )
                for u in lines  # type: ignore[union-attr]
            )
            cost = Decimal(0)
            for item in items:
                cost = EXACT.add(cost, item.amount)
            if cap is not None and cost > cap:
                exclusions.append(Exclusion(pm.provider_id, pm.model_id, ("over_max_price",)))
                continue
            local = policy.local_first and pm.provider_kind == "local"
            ranked.append(((not local, cost, pm.provider_id, pm.model_id), pm, cost, items))
        ranked.sort(key=lambda r: r[0])
        candidates = tuple(
            Candidate(
                rank,
                pm.provider_id,
                pm.model_id,
                pm.provider_kind,
                pm.fund_source or "",
                cost,
                items,
            )
            for rank, (_, pm, cost, items) in enumerate(ranked, start=1)
        )
        exclusions.sort(key=lambda e: (e.provider_id, e.model_id))
        return RouteDecision(
            self.router.catalog_version, self.router.policies.version, candidates, tuple(exclusions)
        )

    @staticmethod
    def _remember(cache: OrderedDict, key: tuple, value: Any, limit: int) -> None:
        cache[key] = value
        if len(cache) > limit:
            cache.popitem(last=False)


def _rep(thresholds: tuple[tuple[int, bool], ...], tokens: int) -> int:
    """The smallest input-token count crossing the same thresholds as ``tokens``."""
    best = 0
    for t, incl in thresholds:
        if tokens > t or (incl and tokens == t):
            best = max(best, t + (0 if incl else 1))
    return best


def _size_reasons(pm: PlanModel, req: Requirements, need: int) -> tuple[str, ...]:
    out = []
    if pm.context_window is not None and pm.context_window < need:
        out.append("context_too_small")
    if (
        req.output_tokens is not None
        and pm.max_output_tokens is not None
        and pm.max_output_tokens < req.output_tokens
    ):
        out.append("output_too_small")
    if pm.max_images is not None and pm.max_images < req.images:
        out.append("too_many_images")
    return tuple(out)


def _unit_lines(row: tuple) -> tuple[str, ...] | tuple[UnitLine, ...] | None:
    _p, _m, _kind, _fund, reasons, _cost, items = row
    unpriced = tuple(r for r in reasons if r.startswith(("unpriced:", "ambiguous_price:")))
    if unpriced:
        return unpriced
    if reasons:
        return None
    return tuple(
        UnitLine(
            i["dimension"],
            i["usage_key"],
            i["unit_price"],
            i["per"],
            i["price_id"],
            EXACT.divide(i["amount"], i["quantity"]),  # exact: the amount is linear in it
        )
        for i in items
    )
