"""The cost function: (model, usage, timestamp, context) -> line items and total, exactly.

Row selection, for each dimension the usage uses (the SQL twin in ``sql/pricing/`` implements
the same rules and is tested to agree exactly):

1. Rows in force at ``at``: ``effective_from <= at < effective_to``.
2. Eligible rows: service tier is the call's tier or ``standard``; region is the call's region or
   none; a time window (UTC, ``[start, end)``, wrapping past midnight when ``end < start``)
   contains ``at``'s time of day or the row has none; each qualifier (image size, image quality,
   video resolution) equals the call's or the row has none; a long-context row's threshold is
   crossed (input tokens ``>`` threshold, or ``>=`` when the row says ``inclusive``).
3. The most specific eligible row wins, compared in this order: the call's own service tier over
   ``standard``; the call's region over the default; a matching time window over none; more
   matching qualifiers over fewer; the highest crossed long-context threshold (a cliff: every
   token of the dimension gets that rate). Two rows equally specific is an ambiguous catalog:
   an error, never a coin toss.

Fallbacks, stated once:

* A service tier other than ``standard`` must be offered by the model (at least one row of that
  tier in force); a tier's rows override the standard rows per dimension, and dimensions the tier
  does not list keep their standard price (genai-prices' price-variant semantics). A tier the
  model has no rows for is unpriced (``UnpricedError``): a priority call is never billed at the
  cheaper standard rate by accident.
* A region without its own row for a dimension pays the default (region-less) row.

Quantities: each token is charged once, at the most specific priced key (genai-prices' leaf
decomposition, see :mod:`.usage`): a priced part (cache reads, cache writes, audio tokens, ...)
is taken out of its whole, so a cache write replaces the input rate for those tokens. A used key
with no price is an ``UnpricedError`` naming the provider, model and dimension, except the parts
listed in ``usage.FALLS_BACK_TO_WHOLE``, which stay in their whole. ``requests`` (one per call) is
charged only when the model has a per-request price. An explicit 0 is a price.

Money is ``Decimal`` computed exactly (an inexact step raises); nothing is rounded here.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime, time
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow

import msgspec
from msgspec.structs import astuple

from .index import ModelPrices, PriceIndex, PriceRow, PricingError, UnknownModelError
from .usage import FALLS_BACK_TO_WHOLE, PARTS, USAGE_KEYS, Usage, depth, strict_parts

# Enough digits for any DECIMAL(38,18) amount times any quantity; inexact results raise.
EXACT = Context(prec=100, traps=[Inexact, InvalidOperation, Overflow])
ZERO = Decimal(0)
ROOT_KEYS: frozenset[str] = frozenset(k for k, attrs in PARTS.items() if len(attrs) == 1)
# Keys in the order leaves are computed: parts before their wholes.
_LEAF_ORDER: tuple[str, ...] = tuple(sorted(USAGE_KEYS, key=lambda k: (-depth(k), k)))
_LEAF_RANK: dict[str, int] = {k: i for i, k in enumerate(_LEAF_ORDER)}
_KEY_RANK: dict[str, int] = {k: i for i, k in enumerate(USAGE_KEYS)}
_PARTS_OF: dict[str, tuple[str, ...]] = {k: strict_parts(k) for k in USAGE_KEYS}


class UnpricedError(PricingError):
    """A used dimension with no price: fail closed, never a silent 0."""

    def __init__(self, provider_id: str, model_id: str, dimension: str, detail: str) -> None:
        self.provider_id, self.model_id, self.dimension = provider_id, model_id, dimension
        super().__init__(f"{provider_id}/{model_id}: {dimension} is unpriced: {detail}")


class AmbiguousPriceError(PricingError):
    """Several rows apply equally to one dimension: the catalog must say which one wins."""

    def __init__(self, model: ModelPrices, usage_key: str, at: datetime, context: object) -> None:
        self.provider_id, self.model_id, self.dimension = (
            model.provider_id,
            model.model_id,
            usage_key,
        )
        super().__init__(
            f"{model.provider_id}/{model.model_id}: several {usage_key} rows apply equally at "
            f"{at.isoformat()} ({context})"
        )


class PricingContext(msgspec.Struct, frozen=True):
    """Request facts that select among price rows."""

    service_tier: str = "standard"
    region: str | None = None
    image_size: str | None = None
    image_quality: str | None = None
    video_resolution: str | None = None

    def describe(self) -> str:
        parts = [f"{k}={getattr(self, k)}" for k in self.__struct_fields__ if getattr(self, k)]
        return ", ".join(parts)


DEFAULT_CONTEXT = PricingContext()


class LineItem(msgspec.Struct, frozen=True, gc=False):
    """One charged dimension: ``amount = quantity * unit_price / per``, unrounded."""

    dimension: str
    usage_key: str
    price_id: str
    unit_price: Decimal
    per: int
    quantity: Decimal | int
    amount: Decimal
    effective_from: datetime
    conditions: str  # the row's canonical conditions (JSON), e.g. {"service_tier": "flex"}


class Breakdown(msgspec.Struct, frozen=True, gc=False):
    provider_id: str
    model_id: str
    at: datetime
    line_items: tuple[LineItem, ...]
    total: Decimal
    currency: str = "USD"
    catalog_version: str = ""
    context: PricingContext = DEFAULT_CONTEXT


def price_usage(
    prices: PriceIndex,
    provider_id: str,
    model_id: str,
    usage: Usage,
    at: datetime,
    context: PricingContext = DEFAULT_CONTEXT,
) -> Breakdown:
    """Price one call. Raises UnpricedError, AmbiguousPriceError or UnknownModelError.

    Served by the model's compiled plan (:mod:`.plan`): the rules of :func:`price_model`
    evaluated once per piece of time and size, identical results; anything the plan does not
    price (an error, an unusual key) goes through :func:`price_model` itself."""
    try:
        model = prices.models[(provider_id, model_id)]
    except KeyError:
        raise UnknownModelError(provider_id, model_id) from None
    if at.tzinfo is not UTC:
        at = as_utc(at)
    # the default context's plan sits in a slot of its own: no context hashing per call
    plan = model.default_plan if context is DEFAULT_CONTEXT else model.compiled.get(context)
    if plan is None:
        plan = _plan.plan_for(model, prices.dimension_for_key, context)
    if plan.simple:
        cell = plan.cells[bisect_right(plan.breaks, at)]
    else:
        cell = plan.cell(at, usage.input_tokens)
    if cell is not None:
        price, constants = cell
        priced = price(
            constants, astuple(usage), provider_id, model_id, at, prices.catalog_version, context
        )
        if priced is not None:
            return priced
    return price_model(model, prices.dimension_for_key, prices.catalog_version, usage, at, context)


def price_model(
    model: ModelPrices,
    dimension_for_key: dict[str, str],
    catalog_version: str,
    usage: Usage,
    at: datetime,
    context: PricingContext = DEFAULT_CONTEXT,
) -> Breakdown:
    """Price one call against one model's rows: the live index's, or a quote's frozen copy."""
    at = as_utc(at)
    if context.service_tier != "standard" and not model.offers_tier(context.service_tier, at):
        raise UnpricedError(
            model.provider_id,
            model.model_id,
            f"service_tier={context.service_tier}",
            f"the model has no {context.service_tier!r} prices in force at {at.isoformat()}",
        )
    chosen = select_rows(dimension_for_key, model, usage, at, context)
    items = line_items(model, usage, chosen)
    total = ZERO
    for item in items:
        total = EXACT.add(total, item.amount)  # exact at any size (the default context rounds)
    return Breakdown(
        model.provider_id, model.model_id, at, items, total, "USD", catalog_version, context
    )


def as_utc(at: datetime) -> datetime:
    if at.tzinfo is UTC:
        return at
    if at.tzinfo is None:
        raise PricingError(f"timestamp {at.isoformat()} has no timezone")
    return at.astimezone(UTC)


def select_rows(
    dimension_for_key: dict[str, str],
    model: ModelPrices,
    usage: Usage,
    at: datetime,
    context: PricingContext,
) -> dict[str, PriceRow | None]:
    """The chosen row per used usage key (None: no eligible row)."""
    chosen: dict[str, PriceRow | None] = {}
    time_of_day = at.time()
    input_tokens = usage.input_tokens
    plans = model.plans.get(context)
    if plans is None:
        plans = model.plans[context] = {}
    for key in usage.used_keys():
        candidates = plans.get(key)
        if candidates is None:
            candidates = plans[key] = _candidates(model, dimension_for_key.get(key), context)
        chosen[key] = _best_row(model, key, candidates, at, time_of_day, input_tokens, context)
    return chosen


Candidates = tuple[tuple[tuple[int, ...], PriceRow], ...]


def _candidates(model: ModelPrices, dimension: str | None, context: PricingContext) -> Candidates:
    """The rows of ``dimension`` that can apply under ``context`` (tier, region, qualifiers are
    known before the call's time and size), most specific first; cached per model."""
    ranked = []
    for row in model.rows.get(dimension, ()) if dimension else ():
        rank = _static_rank(row, context)
        if rank is not None:
            ranked.append((rank, row))
    ranked.sort(key=lambda pair: pair[0], reverse=True)
    return tuple(ranked)


def line_items(
    model: ModelPrices, usage: Usage, chosen: dict[str, PriceRow | None]
) -> tuple[LineItem, ...]:
    """Charged quantities (leaf decomposition over the priced keys) times the chosen rates."""
    charged: list[str] = []
    for key, row in chosen.items():
        if row is not None or key in ROOT_KEYS or key not in PARTS:
            charged.append(key)
        elif key not in FALLS_BACK_TO_WHOLE:
            _unpriced(model, key, "this part has no price of its own (no fallback to its whole)")
    charged.sort(key=_LEAF_RANK.__getitem__)  # parts before their wholes
    leaves: dict[str, Decimal | int] = {}
    items: list[LineItem] = []
    for key in charged:
        leaf = getattr(usage, key)
        for part in _PARTS_OF[key]:
            if part in leaves:
                leaf -= leaves[part]
        leaves[key] = leaf
        row = chosen[key]
        if row is None:
            if key == "requests" or leaf == 0:
                continue  # no per-request fee / nothing left at this rate
            _unpriced(model, key, "no price row applies")
        if leaf == 0:
            continue
        items.append(
            LineItem(
                row.dimension,
                key,
                row.price_id,
                row.amount,
                row.per,
                leaf,
                EXACT.multiply(row.scaled_amount, leaf),
                row.effective_from,
                row.conditions_key,
            )
        )
    items.sort(key=lambda i: _KEY_RANK[i.usage_key])
    return tuple(items)


def _unpriced(model: ModelPrices, key: str, detail: str) -> None:
    raise UnpricedError(model.provider_id, model.model_id, key, detail)


def _best_row(
    model: ModelPrices,
    usage_key: str,
    candidates: Candidates,
    at: datetime,
    time_of_day: time,
    input_tokens: int,
    context: PricingContext,
) -> PriceRow | None:
    """The first candidate that applies at ``at`` for this size; another of the same rank that
    applies too is an ambiguity."""
    best: PriceRow | None = None
    best_rank: tuple[int, ...] | None = None
    for rank, row in candidates:
        if best_rank is not None and rank != best_rank:
            break
        if not _applies(row, at, time_of_day, input_tokens):
            continue
        if best is not None:
            raise AmbiguousPriceError(model, usage_key, at, context.describe() or "default context")
        best, best_rank = row, rank
    return best


def _static_rank(row: PriceRow, context: PricingContext) -> tuple[int, ...] | None:
    """How specifically ``row`` matches the call's context, or None when it cannot apply."""
    tier = row.service_tier == context.service_tier
    if not tier and row.service_tier != "standard":
        return None
    if row.region is not None and row.region != context.region:
        return None
    qualifiers = 0
    for have, want in (
        (row.image_size, context.image_size),
        (row.image_quality, context.image_quality),
        (row.video_resolution, context.video_resolution),
    ):
        if have is not None:
            if have != want:
                return None
            qualifiers += 1
    threshold = row.long_context_threshold
    return (
        int(tier),
        int(row.region is not None),
        int(row.window_start is not None),
        qualifiers,
        -1 if threshold is None else threshold,
    )


def _applies(row: PriceRow, at: datetime, time_of_day: time, input_tokens: int) -> bool:
    """The parts of eligibility that depend on the call's time and size."""
    if row.effective_from > at or (row.effective_to is not None and at >= row.effective_to):
        return False
    if row.window_start is not None and not _in_window(row, time_of_day):
        return False
    threshold = row.long_context_threshold
    if threshold is not None:
        if row.long_context_inclusive:
            return input_tokens >= threshold
        return input_tokens > threshold
    return True


def _in_window(row: PriceRow, time_of_day: time) -> bool:
    start, end = row.window_start, row.window_end
    if start < end:  # type: ignore[operator]
        return start <= time_of_day < end  # type: ignore[operator]
    return time_of_day >= start or time_of_day < end  # type: ignore[operator]


# At the end: plan.py builds on the selection functions above (and imports this module).
from . import plan as _plan  # noqa: E402
