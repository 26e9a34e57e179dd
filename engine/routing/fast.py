"""The hot path: the route's answer without a DuckDB query per request, provably the SQL's.

A route decision depends on the request only through (a) the required capabilities, the usage
keys and the price context, (b) the token / image counts checked against limits and
multiplied by rates, and (c) the decision time, only through which price rows and lifecycle
dates are in force (:meth:`FastRouter.time_key`). Three layers of memory, each cheaper to fill:

* **Per catalog version** (``ModelTable``, one query, ``sql/routing/models.sql``): every model's
  limits, lifecycle dates, provider and capability set, as numpy columns in route.sql's
  tie-break order (provider_id, model_id).
* **Per (usage keys, price context, time interval)** (``RateCard``, one query,
  ``sql/routing/rates.sql``): every model priced by the pricing twin at a unit usage, once per
  long-context tier. The twin's line amounts are exact decimals linear in the quantity
  (``unit_price × quantity / per``), so a request's line is ``quantity × unit amount`` exactly;
  the tier is the only quantity-dependent row choice, and the tier a request falls in is the
  model's largest tier start ("rep") not above its input tokens. The global tier starts cut
  the input-token axis into segments where every model's tier is fixed: per segment each
  model's cost is linear in the quantities, ``rates @ q``.
* **Per (capabilities, policy, fund sources)** (``Plan``, in memory, no SQL): capability
  bitsets, lifecycle, provider policy and fund sources as vector masks; the models passing
  them ("statically eligible") with their limits and each one's rate-card row per segment.

Per request, the limits, the cost (float, vectorized), the price cap and the ranking run over
the plan's arrays. Floats only *select*: costs are sums of non-negative terms, so a float cost
is within ~1e-15 (relative) of the exact one, and every model within ``BAND`` of the k-th
cheapest float is confirmed with exact ``Decimal`` arithmetic; the returned costs, line items,
ties (broken by provider_id, model_id) and the price cap are exact.

``route(..., top=k)`` returns the best ``k`` candidates only (the gateway needs the first); a
full decision (every candidate and every exclusion, as the SQL returns) is O(models) in
Python and built only when asked for, or when no candidate remains (the exclusions then say
why). Decisions are memoized per exact request shape.

``tests/test_routing_fast.py`` checks that ``FastRouter.route`` equals ``Router.route_sql`` (and
its first ``k`` candidates) on random requests, also over the full committed catalog.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Context, Decimal, Inexact
from typing import Any

import numpy as np

from ..paths import sql_text
from .decision import Candidate, Exclusion, FundSources, LineItem, RouteDecision
from .policy import TenantPolicy
from .requirements import Requirements
from .route import Router, sql_cap

EXACT = Context(prec=120, traps=[Inexact])  # money here is never rounded; inexact raises
NO_LIMIT = np.iinfo(np.int64).max  # a limit the catalog does not state is not checked
# Float costs are within ~(keys + 2) × 2⁻⁵³ of the exact ones (non-negative terms): anything
# within this relative band of a boundary is settled exactly.
BAND = 1e-9
FUND_NAMES = ("", "byok", "platform", "local")  # index 0: no usable fund source


@dataclass(frozen=True, slots=True)
class UnitLine:
    dimension: str
    usage_key: str
    unit_price: Decimal
    per: int
    price_id: str
    unit_amount: Decimal  # the twin's line amount divided by the probe's quantity


Priced = tuple[UnitLine, ...] | tuple[str, ...]  # unit lines, or the price-problem reasons
# per model: missing-capability reasons, lifecycle / policy / credential reasons, and its
# exclusion when no size reason applies (None when statically eligible)
Static = tuple[tuple[str, ...], tuple[str, ...], Exclusion | None]


def _limit(value: int | None) -> int:
    return NO_LIMIT if value is None else value


def _ordinal(day: Any) -> int:
    return NO_LIMIT if day is None else day.toordinal()


class ModelTable:
    """Every model of the catalog version, in route.sql's tie-break order, as columns."""

    def __init__(self, rows: list[tuple]) -> None:
        self.ids: list[tuple[str, str]] = [(r[0], r[1]) for r in rows]
        self.kinds: list[str] = [r[2] for r in rows]
        self.index = {key: i for i, key in enumerate(self.ids)}
        self.providers = sorted({p for p, _ in self.ids})
        kind_of = dict(zip((p for p, _ in self.ids), self.kinds, strict=True))
        self.provider_kinds = [kind_of[p] for p in self.providers]
        number = {p: i for i, p in enumerate(self.providers)}
        self.provider_of = np.array([number[p] for p, _ in self.ids], dtype=np.int64)
        self.local = np.array([k == "local" for k in self.kinds], dtype=bool)
        self.context = np.array([_limit(r[3]) for r in rows], dtype=np.int64)
        self.output = np.array([_limit(r[4]) for r in rows], dtype=np.int64)
        self.images = np.array([_limit(r[5]) for r in rows], dtype=np.int64)
        self.deprecated = np.array([_ordinal(r[6]) for r in rows], dtype=np.int64)
        self.retired = np.array([_ordinal(r[7]) for r in rows], dtype=np.int64)
        members: dict[str, list[int]] = {}
        for i, r in enumerate(rows):
            for cap in r[8]:
                members.setdefault(cap, []).append(i)
        self.has: dict[str, np.ndarray] = {}
        for cap, where in members.items():
            mask = np.zeros(len(rows), dtype=bool)
            mask[where] = True
            self.has[cap] = mask

    def __len__(self) -> int:
        return len(self.ids)

    def lacking(self, capability: str) -> np.ndarray:
        have = self.has.get(capability)
        return np.ones(len(self), dtype=bool) if have is None else ~have


@dataclass(frozen=True)
class RateCard:
    """Every model priced at a unit usage, per tier; see the module docstring."""

    keys: tuple[str, ...]  # the cost columns: the request's usage keys, then "requests"
    starts: list[int]  # segment starts on the input-token axis (starts[0] == 0)
    segment_rows: np.ndarray  # (segments, models): each model's row in each segment
    rates: np.ndarray  # (rows, keys) float unit amounts, for selection only
    priced: np.ndarray  # (rows,) the row prices fully
    lines: list[Priced]  # (rows,) exact unit lines, or the price-problem reasons

    @classmethod
    def build(cls, table: ModelTable, keys: tuple[str, ...], rows: list[tuple]) -> RateCard:
        column = {k: c for c, k in enumerate(keys)}
        rates = np.zeros((len(rows), len(keys)), dtype=np.float64)
        priced = np.zeros(len(rows), dtype=bool)
        lines: list[Priced] = []
        own: list[list[tuple[int, int]]] = [[] for _ in range(len(table))]  # (rep, row)
        for r, (p, m, rep, problem, items) in enumerate(rows):
            own[table.index[(p, m)]].append((rep, r))
            if problem is not None:
                lines.append((problem,))
                continue
            unit = tuple(_unit_line(i) for i in items)
            for u in unit:
                rates[r, column[u.usage_key]] += float(u.unit_amount)
            priced[r] = True
            lines.append(unit)
        starts = sorted({rep for reps in own for rep, _ in reps})
        first = np.array([reps[0][1] for reps in own], dtype=np.int64)  # rep 0 sorts first
        segment_rows = np.tile(first, (len(starts), 1))
        for i, reps in enumerate(own):
            if len(reps) > 1:
                for s, start in enumerate(starts):
                    segment_rows[s, i] = max((rep, row) for rep, row in reps if rep <= start)[1]
        return cls(keys, starts, segment_rows, rates, priced, lines)

    def segment(self, input_tokens: int) -> int:
        return bisect.bisect_right(self.starts, input_tokens) - 1


def _unit_line(item: dict) -> UnitLine:
    return UnitLine(
        item["dimension"],
        item["usage_key"],
        item["unit_price"],
        item["per"],
        item["price_id"],
        EXACT.divide(item["amount"], item["quantity"]),  # exact: the amount is linear in it
    )


@dataclass
class Segment:
    """A plan's models in one input-token segment."""

    rows: np.ndarray  # (eligible,) rate-card row of each statically eligible model
    priced: np.ndarray  # (eligible,) bool
    _lists: tuple[list[int], list[bool]] | None = None

    def as_lists(self) -> tuple[list[int], list[bool]]:
        """rows and priced as Python lists (the full decision indexes them one by one)."""
        if self._lists is None:
            self._lists = (self.rows.tolist(), self.priced.tolist())
        return self._lists


@dataclass
class Plan:
    """Static eligibility for one (capabilities, policy, fund sources, ...) and its arrays."""

    card: RateCard
    eligible: np.ndarray  # model indices passing capability, lifecycle, policy and funds
    funds: list[str]  # fund source of each eligible model
    context: np.ndarray
    output: np.ndarray
    images: np.ndarray
    local: np.ndarray
    at: datetime  # an instant of the plan's time interval
    fund_sources: FundSources
    # per model, for the full decision's exclusions (built on first use)
    static: list[Static] | None = None
    segments: list[Segment] = field(default_factory=list)
    _position: dict[int, int] | None = None

    def __post_init__(self) -> None:
        # every segment up front (one gather each; small: no float matrices per plan, which
        # are many), sharing a segment where no eligible model changes tier
        for rows in self.card.segment_rows:
            rows = rows[self.eligible].astype(np.int32)
            if self.segments and np.array_equal(self.segments[-1].rows, rows):
                self.segments.append(self.segments[-1])
            else:
                self.segments.append(Segment(rows, self.card.priced[rows]))

    def position(self) -> dict[int, int]:
        """Model index → position among the eligible (for the full decision)."""
        if self._position is None:
            eligible = self.eligible.tolist()
            self._position = dict(zip(eligible, range(len(eligible)), strict=True))
        return self._position


class FastRouter:
    """Wraps a :class:`Router`; same answers as ``Router.route_sql``, mostly without SQL."""

    def __init__(
        self,
        router: Router,
        max_plans: int = 256,
        max_decisions: int = 65536,
        max_cards: int = 64,
        warm: bool = False,
        max_full_decisions: int = 32,
    ):
        self.router = router
        self._cards: OrderedDict[tuple, RateCard] = OrderedDict()
        self._plans: OrderedDict[tuple, Plan] = OrderedDict()
        self._decisions: OrderedDict[tuple, RouteDecision] = OrderedDict()
        # a full decision lists every model: few are kept
        self._full_decisions: OrderedDict[tuple, RouteDecision] = OrderedDict()
        self._max_cards, self._max_plans = max_cards, max_plans
        self._max_decisions, self._max_full = max_decisions, max_full_decisions
        self._load_static()
        if warm:
            self.warm()

    def warm(
        self,
        usage_keys: tuple[str, ...] = ("input_tokens", "output_tokens"),
        context: tuple[tuple[str, str], ...] = (),
        at: datetime | None = None,
    ) -> None:
        """Build a rate card now (one twin query over the whole catalog) so that the first
        request of any capability set with these usage keys needs no SQL: a server calls this
        at startup for chat."""
        self._card(usage_keys, context, at or datetime.now(UTC))

    # --- per catalog ---------------------------------------------------------------------------

    def _load_static(self) -> None:
        con = self.router.con
        self.table = ModelTable(con.execute(sql_text("routing/models.sql")).fetchall())
        self._instants = [x for (x,) in con.execute(sql_text("routing/instants.sql")).fetchall()]
        edges = con.execute(sql_text("routing/windows.sql")).fetchall()
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
        top: int | None = None,
    ) -> RouteDecision:
        """The SQL's decision; with ``top``, only its first ``top`` candidates (exclusions are
        then listed only when no candidate remains)."""
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
        if top is not None and top < 1:
            raise ValueError("top must be at least 1")
        tkey = self.time_key(at)
        key = (req, policy, funds, tkey, top)
        decision = self._decisions.get(key) or self._full_decisions.get(key)
        if decision is None:
            plan = self._plan(req, policy, funds, at, tkey)
            decision = self._decide(req, policy, plan, top)
            if decision.exclusions or top is None:
                _remember(self._full_decisions, key, decision, self._max_full)
            else:
                _remember(self._decisions, key, decision, self._max_decisions)
        return decision

    def _card(
        self, keys: tuple[str, ...], context: tuple, at: datetime, tkey: tuple | None = None
    ) -> RateCard:
        key = (keys, context, tkey or self.time_key(at))
        card = self._cards.get(key)
        if card is None:
            rows = self.router.rate_rows(keys, context, at)
            columns = keys if "requests" in keys else (*keys, "requests")
            card = RateCard.build(self.table, columns, rows)
            _remember(self._cards, key, card, self._max_cards)
        return card

    def _plan(
        self, req: Requirements, policy: TenantPolicy, funds: FundSources, at: datetime, tkey: tuple
    ) -> Plan:
        usage_keys = tuple(k for k, _ in req.usage)
        # the price cap and local-first act per request: plans are shared across them
        base = (
            policy.byok_only,
            policy.allowed_providers,
            policy.blocked_providers,
            policy.allow_deprecated,
        )
        key = (req.capabilities, usage_keys, req.context, base, funds, tkey)
        plan = self._plans.get(key)
        if plan is None:
            card = self._card(usage_keys, req.context, at, tkey)
            plan = self._build_plan(req, policy, funds, at, card)
            _remember(self._plans, key, plan, self._max_plans)
        return plan

    def _build_plan(
        self,
        req: Requirements,
        policy: TenantPolicy,
        funds: FundSources,
        at: datetime,
        card: RateCard,
    ) -> Plan:
        t = self.table
        ok = ~self._retired(at) & ~self._deprecated(policy, at)
        for cap in req.capabilities:
            ok &= ~t.lacking(cap)
        ok &= ~self._blocked(policy)[t.provider_of]
        fund = self._fund_codes(policy, funds)[t.provider_of]
        ok &= fund > 0
        eligible = np.flatnonzero(ok)
        return Plan(
            card,
            eligible,
            [FUND_NAMES[c] for c in fund[eligible].tolist()],
            t.context[eligible],
            t.output[eligible],
            t.images[eligible],
            t.local[eligible],
            at,
            funds,
        )

    def _retired(self, at: datetime) -> np.ndarray:
        return self.table.retired <= at.astimezone(UTC).date().toordinal()

    def _deprecated(self, policy: TenantPolicy, at: datetime) -> np.ndarray:
        if policy.allow_deprecated:
            return np.zeros(len(self.table), dtype=bool)
        day = at.astimezone(UTC).date().toordinal()
        return (self.table.deprecated <= day) & ~self._retired(at)

    def _blocked(self, policy: TenantPolicy) -> np.ndarray:
        return np.array([not policy.allows_provider(p) for p in self.table.providers], dtype=bool)

    def _fund_codes(self, policy: TenantPolicy, funds: FundSources) -> np.ndarray:
        """route.sql's fund source per provider, as an index into FUND_NAMES."""
        codes = []
        for p, kind in zip(self.table.providers, self.table.provider_kinds, strict=True):
            if kind == "local":
                codes.append(3 if p in funds.local else 0)
            elif p in funds.byok:
                codes.append(1)
            elif not policy.byok_only and p in funds.platform:
                codes.append(2)
            else:
                codes.append(0)
        return np.array(codes, dtype=np.int64)

    # --- the decision --------------------------------------------------------------------------

    def _decide(
        self, req: Requirements, policy: TenantPolicy, plan: Plan, top: int | None
    ) -> RouteDecision:
        quantities = {"requests": 1, **req.usage_dict()}  # the twin counts one request per call
        # the tier follows the usage's input tokens (the twin's context_input_tokens)
        seg = plan.segments[plan.card.segment(quantities.get("input_tokens", 0))]
        if top is not None:
            best = self._best(req, policy, plan, seg, quantities, top)
            if best:
                return self._answer(best, ())
        return self._full(req, policy, plan, seg, quantities)

    def _fits(self, req: Requirements, plan: Plan, seg: Segment) -> np.ndarray:
        """Eligible models that fit the request's limits and price fully in this segment."""
        ok = seg.priced & (plan.context >= req.input_tokens + (req.output_tokens or 0))
        if req.output_tokens is not None:
            ok &= plan.output >= req.output_tokens
        if req.images:
            ok &= plan.images >= req.images
        return ok

    def _best(
        self,
        req: Requirements,
        policy: TenantPolicy,
        plan: Plan,
        seg: Segment,
        quantities: dict[str, int],
        top: int,
    ) -> list[tuple[int, Decimal, tuple[LineItem, ...], str]]:
        """The first ``top`` candidates: float selection, exact confirmation."""
        ok = self._fits(req, plan, seg)
        q = np.array([quantities.get(k, 0) for k in plan.card.keys], dtype=np.float64)
        cost = (plan.card.rates @ q)[seg.rows]  # every tier's row costed, then each model's
        cap = sql_cap(policy.max_price_per_call)
        if cap is not None:
            ok &= cost <= float(cap) * (1 + BAND)  # anything dropped is over the cap exactly
        groups = [ok & plan.local, ok & ~plan.local] if policy.local_first else [ok]
        out: list[tuple[int, Decimal, tuple[LineItem, ...], str]] = []
        for group in groups:
            if len(out) < top:
                out += self._cheapest(plan, seg, cost, group, top - len(out), quantities, cap)
        return out

    def _cheapest(
        self,
        plan: Plan,
        seg: Segment,
        cost: np.ndarray,
        ok: np.ndarray,
        k: int,
        quantities: dict[str, int],
        cap: Decimal | None,
    ) -> list[tuple[int, Decimal, tuple[LineItem, ...], str]]:
        """The ``k`` cheapest of ``ok`` by exact cost, then provider_id, model_id.

        Every one of them has a float cost within BAND of the k-th smallest float, so the band
        holds them all; the cap removes a suffix of the exact order, so what it leaves of the
        band is complete."""
        masked = np.where(ok, cost, np.inf)
        if k == 1:
            kth = masked.min() if len(masked) else np.inf
        elif k < len(masked):
            kth = np.partition(masked, k - 1)[k - 1]
        else:
            kth = np.inf
        band = np.flatnonzero(masked <= kth * (1 + BAND) if np.isfinite(kth) else ok)
        zeros = band[masked[band] == 0]  # a zero float is an exact zero (non-negative terms)
        if len(zeros) >= k:
            band = zeros[:k]  # all tie at zero: the tie-break is the index order
        exact = []
        for j in band.tolist():
            total, items = _exact(plan.card.lines[seg.rows[j]], quantities)  # type: ignore[arg-type]
            if cap is None or total <= cap:
                exact.append((total, j, items))
        exact.sort(key=lambda e: (e[0], e[1]))
        return [
            (int(plan.eligible[j]), total, items, plan.funds[j]) for total, j, items in exact[:k]
        ]

    def _full(
        self,
        req: Requirements,
        policy: TenantPolicy,
        plan: Plan,
        seg: Segment,
        quantities: dict[str, int],
    ) -> RouteDecision:
        """Every candidate and every exclusion, as route.sql lists them."""
        t = self.table
        static = self._static_reasons(req, policy, plan)
        size = self._size_reasons(req)
        position = plan.position()
        rows, priced = seg.as_lists()
        cap = sql_cap(policy.max_price_per_call)
        ranked: list[tuple[tuple, int, Decimal, tuple[LineItem, ...], str]] = []
        exclusions: list[Exclusion] = []
        for i, (p, m) in enumerate(t.ids):
            j = position.get(i)
            sized = size.get(i)
            if j is None or sized:
                missing, other, excluded = static[i]
                if sized:
                    excluded = Exclusion(p, m, (*missing, *sized, *other))
                exclusions.append(excluded)  # type: ignore[arg-type]
                continue
            lines = plan.card.lines[rows[j]]
            if not priced[j]:
                exclusions.append(Exclusion(p, m, lines))  # type: ignore[arg-type]
                continue
            total, items = _exact(lines, quantities)  # type: ignore[arg-type]
            if cap is not None and total > cap:
                exclusions.append(Exclusion(p, m, ("over_max_price",)))
                continue
            local = policy.local_first and t.kinds[i] == "local"
            ranked.append(((not local, total, i), i, total, items, plan.funds[j]))
        ranked.sort(key=lambda r: r[0])
        return self._answer(
            [(i, total, items, fund) for _, i, total, items, fund in ranked], exclusions
        )

    def _size_reasons(self, req: Requirements) -> dict[int, list[str]]:
        """The models the request's sizes exclude, with route.sql's size reasons in order."""
        t = self.table
        need = req.input_tokens + (req.output_tokens or 0)
        small = [("context_too_small", t.context < need)]
        if req.output_tokens is not None:
            small.append(("output_too_small", t.output < req.output_tokens))
        small.append(("too_many_images", t.images < req.images))
        size: dict[int, list[str]] = {}
        for reason, mask in small:
            for i in np.flatnonzero(mask).tolist():
                size.setdefault(i, []).append(reason)
        return size

    def _static_reasons(self, req: Requirements, policy: TenantPolicy, plan: Plan) -> list[Static]:
        """Per model: its missing capabilities and its lifecycle / policy / credential reasons
        (the size reasons go between them, as in route.sql), and its exclusion when no size
        reason applies (None for a statically eligible model)."""
        if plan.static is None:
            t = self.table
            caps = sorted(req.capabilities)
            lacking = zip(*(t.lacking(c).tolist() for c in caps), strict=True) if caps else None
            flags = zip(
                self._retired(plan.at).tolist(),
                self._deprecated(policy, plan.at).tolist(),
                self._blocked(policy)[t.provider_of].tolist(),
                (self._fund_codes(policy, plan.fund_sources)[t.provider_of] == 0).tolist(),
                strict=True,
            )
            names = ("retired", "deprecated", "policy_blocked", "no_usable_credential")
            shared: dict[tuple, tuple[tuple[str, ...], tuple[str, ...]]] = {}
            plan.static = []
            for (p, m), row in zip(t.ids, flags, strict=True):
                lacks = next(lacking) if lacking is not None else ()
                reasons = shared.get((lacks, row))
                if reasons is None:  # few distinct combinations: build each once
                    missing = tuple(
                        "missing_capability:" + c
                        for c, lack in zip(caps, lacks, strict=True)
                        if lack
                    )
                    other = tuple(n for n, flag in zip(names, row, strict=True) if flag)
                    reasons = shared[(lacks, row)] = (missing, other)
                missing, other = reasons
                excluded = Exclusion(p, m, (*missing, *other)) if missing or other else None
                plan.static.append((missing, other, excluded))
        return plan.static

    def _answer(
        self, ranked: list[tuple[int, Decimal, tuple[LineItem, ...], str]], exclusions
    ) -> RouteDecision:
        t = self.table
        candidates = tuple(
            Candidate(rank, *t.ids[i], t.kinds[i], fund, total, items)
            for rank, (i, total, items, fund) in enumerate(ranked, start=1)
        )
        return RouteDecision(
            self.router.catalog_version,
            self.router.policies.version,
            candidates,
            tuple(exclusions),
        )


def _exact(lines: tuple[UnitLine, ...], quantities: dict[str, int]) -> tuple[Decimal, tuple]:
    items = tuple(
        LineItem(
            u.dimension,
            quantities[u.usage_key],
            u.unit_price,
            u.per,
            EXACT.multiply(u.unit_amount, quantities[u.usage_key]),
            u.price_id,
        )
        for u in lines
    )
    total = Decimal(0)
    for item in items:
        total = EXACT.add(total, item.amount)
    return total, items


def _remember(cache: OrderedDict, key: tuple, value: Any, limit: int) -> None:
    cache[key] = value
    if len(cache) > limit:
        cache.popitem(last=False)
