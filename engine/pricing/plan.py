"""Compiled price plans: the hot path of :func:`.cost.price_usage`.

The selection rules of :mod:`.cost` depend on a call's facts in a piecewise-constant way: which
rows are in force changes only at the model's ``effective_from`` / ``effective_to`` instants,
which time window applies only at the windows' edges, which long-context tier only at the
thresholds. So for one model and one context the rules are evaluated ONCE per piece (a "cell":
a validity interval x a time-of-day segment x an input-token band), by the very functions
:func:`.cost.price_model` uses, and a call only finds its cell (two or three bisects) and
multiplies its leaves by the cell's pre-divided rates.

Everything unusual is left to the reference path (:func:`.cost.price_model`), which raises the
exact error: a cell whose service tier is not offered, and any call that uses a key the cell
cannot price (ambiguous, an unpriced part, an unpriced root or independent key). The reference
path is also what quotes use; tests check both give identical results.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from operator import itemgetter

from . import cost
from .index import ModelPrices, PriceRow
from .usage import FALLS_BACK_TO_WHOLE, PARTS, USAGE_KEYS, strict_parts

_INDEX = {k: i for i, k in enumerate(USAGE_KEYS)}
_MULTIPLY = cost.EXACT.multiply
_MIDNIGHT = time(0)
_ONE_MICROSECOND = timedelta(microseconds=1)
_BEFORE_EVERYTHING = datetime(1, 1, 2, tzinfo=UTC)


class Cell:
    """The rates of one piece. ``take``: the charged keys' quantities (positions in the
    vocabulary); ``subtract``: for the charged keys with charged parts, in leaf order (parts
    before wholes), the positions of those parts, whose leaves are taken out of the whole;
    ``emit``: per charged key in vocabulary order, its position and the line item's constant
    fields; ``watch``: the keys whose use sends the call to the reference path."""

    __slots__ = ("emit", "subtract", "take", "watch")

    def __init__(
        self,
        take: Callable[[tuple], tuple],
        subtract: tuple[tuple[int, tuple[int, ...]], ...],
        emit: tuple[tuple, ...],
        watch: Callable[[tuple], tuple] | None,
    ) -> None:
        self.take, self.subtract, self.emit, self.watch = take, subtract, emit, watch

    def price(self, values: tuple) -> tuple[tuple[cost.LineItem, ...], Decimal] | None:
        """Line items and total for the quantities ``values`` (vocabulary order), or None when
        the call needs the reference path."""
        watch = self.watch
        if watch is not None and any(watch(values)):
            return None
        leaves = self.take(values)
        if self.subtract:
            leaves = list(leaves)
            for position, parts in self.subtract:
                leaf = leaves[position]
                for part in parts:
                    leaf -= leaves[part]
                leaves[position] = leaf
        items = []
        total = cost.ZERO
        line_item = cost.LineItem
        for position, scaled, dimension, key, price_id, amount, per, since, conditions in self.emit:
            leaf = leaves[position]
            if leaf:
                charge = _MULTIPLY(scaled, leaf)
                items.append(
                    line_item(
                        dimension, key, price_id, amount, per, leaf, charge, since, conditions
                    )
                )
                total += charge
        return tuple(items), total


class ContextPlan:
    """One model under one context: cells by validity interval, time-of-day segment and
    input-token band. A cell of None means "the reference path" (e.g. a tier not offered)."""

    __slots__ = ("breaks", "cells", "lc_breaks", "simple", "tod_breaks")

    def __init__(
        self,
        breaks: tuple[datetime, ...],
        tod_breaks: tuple[time, ...],
        lc_breaks: tuple[int, ...],
        cells: tuple[Cell | None, ...],
    ) -> None:
        self.breaks, self.tod_breaks, self.lc_breaks, self.cells = (
            breaks,
            tod_breaks,
            lc_breaks,
            cells,
        )
        self.simple = not tod_breaks and not lc_breaks  # cut by validity instants only

    def cell(self, at: datetime, input_tokens: int) -> Cell | None:
        index = bisect_right(self.breaks, at)
        if self.tod_breaks:
            index = index * (len(self.tod_breaks) + 1) + bisect_right(self.tod_breaks, at.time())
        if self.lc_breaks:
            index = index * (len(self.lc_breaks) + 1) + bisect_right(self.lc_breaks, input_tokens)
        return self.cells[index]


def compile_plan(
    model: ModelPrices, dimension_for_key: dict[str, str], context: cost.PricingContext
) -> ContextPlan:
    """Evaluate the selection rules once per piece of (time, time of day, input tokens)."""
    rows = [row for dim_rows in model.rows.values() for row in dim_rows]
    instants = {r.effective_from for r in rows} | {r.effective_to for r in rows if r.effective_to}
    breaks = tuple(sorted(instants))
    tod = {t for r in rows for t in (r.window_start, r.window_end) if t is not None}
    tod_breaks = tuple(sorted(tod - {_MIDNIGHT}))
    bands = {
        r.long_context_threshold + (0 if r.long_context_inclusive else 1)
        for r in rows
        if r.long_context_threshold is not None
    }
    lc_breaks = tuple(sorted(b for b in bands if b > 0))
    candidates = {
        key: cost._candidates(model, dimension_for_key.get(key), context) for key in USAGE_KEYS
    }
    cells: list[Cell | None] = []
    for at in _starts(breaks, _BEFORE_EVERYTHING):
        offered = context.service_tier == "standard" or model.offers_tier(context.service_tier, at)
        for time_of_day in _starts(tod_breaks, _MIDNIGHT):
            for input_tokens in _starts(lc_breaks, 0):
                cells.append(
                    _cell(model, candidates, at, time_of_day, input_tokens, context)
                    if offered
                    else None
                )
    return ContextPlan(breaks, tod_breaks, lc_breaks, tuple(cells))


def _starts(breaks: Sequence, first: object) -> list:
    """A representative of each piece cut by ``breaks``: the piece's first value (before the
    first break: ``first``, or for instants the last microsecond before it)."""
    if not breaks:
        return [first]
    if isinstance(breaks[0], datetime):
        return [breaks[0] - _ONE_MICROSECOND, *breaks]
    return [first, *breaks]


def _cell(
    model: ModelPrices,
    candidates: dict[str, cost.Candidates],
    at: datetime,
    time_of_day: time,
    input_tokens: int,
    context: cost.PricingContext,
) -> Cell:
    chosen: dict[str, PriceRow] = {}
    watched: list[int] = []
    for key in USAGE_KEYS:
        try:
            row = cost._best_row(
                model, key, candidates[key], at, time_of_day, input_tokens, context
            )
        except cost.AmbiguousPriceError:
            watched.append(_INDEX[key])  # used: the reference path raises the ambiguity
            continue
        if row is not None:
            chosen[key] = row
        elif key in PARTS and key not in cost.ROOT_KEYS:
            if key not in FALLS_BACK_TO_WHOLE:
                watched.append(_INDEX[key])  # an unpriced part: an error when used
        elif key != "requests":
            watched.append(_INDEX[key])  # an unpriced root or independent key: maybe an error
    order = sorted(chosen, key=cost._LEAF_RANK.__getitem__)  # parts before wholes
    position = {key: i for i, key in enumerate(order)}
    subtract = tuple(
        (position[key], parts)
        for key in order
        if (parts := tuple(position[p] for p in strict_parts(key) if p in position))
    )
    emit = tuple(
        (
            position[key],
            row.scaled_amount,
            row.dimension,
            key,
            row.price_id,
            row.amount,
            row.per,
            row.effective_from,
            row.conditions_key,
        )
        for key in USAGE_KEYS
        if (row := chosen.get(key)) is not None
    )
    take = _getter([_INDEX[key] for key in order]) or (lambda values: ())
    return Cell(take, subtract, emit, _getter(watched))


def _getter(indexes: list[int]) -> Callable[[tuple], tuple] | None:
    """``itemgetter`` that always returns a tuple (None for no indexes)."""
    if not indexes:
        return None
    if len(indexes) == 1:
        (only,) = indexes
        return lambda values: (values[only],)
    return itemgetter(*indexes)


def plan_for(
    model: ModelPrices, dimension_for_key: dict[str, str], context: cost.PricingContext
) -> ContextPlan:
    """The model's compiled plan for ``context``, compiled on first use and kept on the model
    (a ``PriceIndex`` is one catalog version, so the plan lives exactly as long as it is true)."""
    plan = model.compiled.get(context)
    if plan is None:
        plan = model.compiled[context] = compile_plan(model, dimension_for_key, context)
    return plan
