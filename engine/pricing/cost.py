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

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow

from .index import ModelPrices, PriceIndex, PriceRow, PricingError
from .usage import FALLS_BACK_TO_WHOLE, PARTS, USAGE_KEYS, Usage, depth, strict_parts

# Enough digits for any DECIMAL(38,18) amount times any quantity; inexact results raise.
EXACT = Context(prec=100, traps=[Inexact, InvalidOperation, Overflow])
ZERO = Decimal(0)
ROOT_KEYS: frozenset[str] = frozenset(k for k, attrs in PARTS.items() if len(attrs) == 1)
# Keys in the order leaves are computed: parts before their wholes.
_LEAF_ORDER: tuple[str, ...] = tuple(sorted(USAGE_KEYS, key=lambda k: (-depth(k), k)))
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


@dataclass(frozen=True, slots=True)
class PricingContext:
    """Request facts that select among price rows."""

    service_tier: str = "standard"
    region: str | None = None
    image_size: str | None = None
    image_quality: str | None = None
    video_resolution: str | None = None

    def describe(self) -> str:
        parts = [f"{k}={getattr(self, k)}" for k in self.__slots__ if getattr(self, k)]
        return ", ".join(parts)


DEFAULT_CONTEXT = PricingContext()


@dataclass(frozen=True, slots=True)
class LineItem:
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


@dataclass(frozen=True, slots=True)
class Breakdown:
    provider_id: str
    model_id: str
    at: datetime
    line_items: tuple[LineItem, ...]
    total: Decimal
    currency: str = "USD"
    catalog_version: str = ""
    context: PricingContext = field(default=DEFAULT_CONTEXT)


def price_usage(
    prices: PriceIndex,
    provider_id: str,
    model_id: str,
    usage: Usage,
    at: datetime,
    context: PricingContext = DEFAULT_CONTEXT,
) -> Breakdown:
    """Price one call. Raises UnpricedError, AmbiguousPriceError or UnknownModelError."""
    model = prices.model(provider_id, model_id)
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
    total = sum((item.amount for item in items), ZERO)
    return Breakdown(
        model.provider_id, model.model_id, at, items, total, "USD", catalog_version, context
    )


def as_utc(at: datetime) -> datetime:
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
    time_of_day = at.timetz().replace(tzinfo=None)
    input_tokens = usage.input_tokens
    for key in USAGE_KEYS:
        if not getattr(usage, key):
            continue
        dimension = dimension_for_key.get(key)
        rows = model.rows.get(dimension, ()) if dimension else ()
        chosen[key] = _best_row(model, key, rows, at, time_of_day, input_tokens, context)
    return chosen


def line_items(
    model: ModelPrices, usage: Usage, chosen: dict[str, PriceRow | None]
) -> tuple[LineItem, ...]:
    """Charged quantities (leaf decomposition over the priced keys) times the chosen rates."""
    charged: set[str] = set()
    for key, row in chosen.items():
        if row is not None or key in ROOT_KEYS or key not in PARTS:
            charged.add(key)
        elif key not in FALLS_BACK_TO_WHOLE:
            _unpriced(model, key, "this part has no price of its own (no fallback to its whole)")
    leaves: dict[str, Decimal | int] = {}
    items: list[LineItem] = []
    for key in _LEAF_ORDER:
        if key not in charged:
            continue
        leaf = getattr(usage, key) - sum(leaves.get(p, 0) for p in _PARTS_OF[key] if p in charged)
        leaves[key] = leaf
        row = chosen[key]
        if row is None:
            if key == "requests" or leaf == 0:
                continue  # no per-request fee / nothing left at this rate
            _unpriced(model, key, "no price row applies")
        if leaf == 0:
            continue
        amount = EXACT.multiply(EXACT.multiply(row.amount, leaf), _scale(row.per))
        items.append(
            LineItem(
                dimension=row.dimension,
                usage_key=key,
                price_id=row.price_id,
                unit_price=row.amount,
                per=row.per,
                quantity=leaf,
                amount=amount,
                effective_from=row.effective_from,
                conditions=row.conditions_key,
            )
        )
    items.sort(key=lambda i: USAGE_KEYS.index(i.usage_key))
    return tuple(items)


def _unpriced(model: ModelPrices, key: str, detail: str) -> None:
    raise UnpricedError(model.provider_id, model.model_id, key, detail)


_SCALES: dict[int, Decimal] = {}


def _scale(per: int) -> Decimal:
    scale = _SCALES.get(per)
    if scale is None:
        scale = _SCALES[per] = Decimal(1).scaleb(-(len(str(per)) - 1))
    return scale


def _best_row(
    model: ModelPrices,
    usage_key: str,
    rows: tuple[PriceRow, ...],
    at: datetime,
    time_of_day,
    input_tokens: int,
    context: PricingContext,
) -> PriceRow | None:
    best: PriceRow | None = None
    best_rank: tuple[int, int, int, int, int] | None = None
    tied = False
    for row in rows:
        rank = _rank(row, at, time_of_day, input_tokens, context)
        if rank is None:
            continue
        if best_rank is None or rank > best_rank:
            best, best_rank, tied = row, rank, False
        elif rank == best_rank:
            tied = True
    if tied:
        raise AmbiguousPriceError(model, usage_key, at, context.describe() or "default context")
    return best


def _rank(
    row: PriceRow, at: datetime, time_of_day, input_tokens: int, context: PricingContext
) -> tuple[int, int, int, int, int] | None:
    """How specifically ``row`` matches the call, or None when it does not apply."""
    if row.effective_from > at or (row.effective_to is not None and at >= row.effective_to):
        return None
    tier = row.service_tier == context.service_tier
    if not tier and row.service_tier != "standard":
        return None
    if row.region is not None and row.region != context.region:
        return None
    if row.window_start is not None and not _in_window(row, time_of_day):
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
    if threshold is not None:
        crossed = (
            input_tokens >= threshold if row.long_context_inclusive else input_tokens > threshold
        )
        if not crossed:
            return None
    return (
        int(tier),
        int(row.region is not None),
        int(row.window_start is not None),
        qualifiers,
        -1 if threshold is None else threshold,
    )


def _in_window(row: PriceRow, time_of_day) -> bool:
    start, end = row.window_start, row.window_end
    if start < end:  # type: ignore[operator]
        return start <= time_of_day < end  # type: ignore[operator]
    return time_of_day >= start or time_of_day < end  # type: ignore[operator]
