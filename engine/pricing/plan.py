"""Compiled price plans: the hot path of :func:`.cost.price_usage`.

The selection rules of :mod:`.cost` depend on a call's facts in a piecewise-constant way: which
rows are in force changes only at the model's ``effective_from`` / ``effective_to`` instants,
which time window applies only at the windows' edges, which long-context tier only at the
thresholds. So for one model and one context the rules are evaluated ONCE per piece (a "cell":
a validity interval x a time-of-day segment x an input-token band), by the very functions
:func:`.cost.price_model` uses, and a call only finds its cell (two or three bisects) and
runs the cell's PRICER: straight-line Python generated once per shape of cell (which keys are
charged, which parts come out of which wholes), integer leaves and one exact ``Decimal``
multiply per line item.

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

from . import cost
from .index import ModelPrices, PriceRow
from .usage import FALLS_BACK_TO_WHOLE, FRACTIONAL_KEYS, PARTS, USAGE_KEYS, strict_parts

_INDEX = {k: i for i, k in enumerate(USAGE_KEYS)}
_MULTIPLY = cost.EXACT.multiply
_ADD = cost.EXACT.add
_MIDNIGHT = time(0)
_ONE_MICROSECOND = timedelta(microseconds=1)
_BEFORE_EVERYTHING = datetime(1, 1, 2, tzinfo=UTC)


# A cell: its shape's pricing function and the cell's constants. The function takes
# (constants, quantities in vocabulary order, provider_id, model_id, at, catalog version,
# context) and returns the Breakdown, or None when the call needs the reference path. One
# function per shape (not a closure per cell) keeps a call's memory to a few cache lines.
Cell = tuple[Callable[..., "cost.Breakdown | None"], tuple]


def _pricer_source(
    watched: tuple[int, ...],
    take: tuple[int, ...],
    subtract: tuple[tuple[int, tuple[int, ...]], ...],
    emit: tuple[int, ...],
    integer_total: bool,
) -> str:
    """Straight-line Python for one SHAPE of cell, the same for every cell of that shape (the
    rates and line-item fields are the cell's ``constants``). ``watched``: vocabulary
    positions whose use sends the call to the reference path; ``take``: the position of each
    charged key, parts before wholes (its leaf is ``l<i>``); ``subtract``: leaf i minus the
    leaves of its charged parts; ``emit``: the leaves charged, in vocabulary order (the line
    items' order). The arithmetic of :func:`.cost.line_items`, in the same order: each line's
    amount is one exact multiply. The total is the exact sum of the amounts: with
    ``integer_total`` (every rate of the cell at one exponent e <= 0 and every charged quantity
    an int), the integer sum of (rate as an integer count of 10^e) x leaf, made a Decimal of
    exponent e by one multiply by UNIT (10^e): the very Decimal (digits and exponent) adding
    the amounts gives."""
    lines = ["def price(constants, v, provider_id, model_id, at, version, context):"]
    if watched:
        lines += [f"    if {' or '.join(f'v[{w}]' for w in watched)}:", "        return None"]
    # per line item: its rate (Decimal, and as an integer), the fields around leaf and amount
    names = [f"r{n}, m{n}, d{n}, k{n}, i{n}, a{n}, p{n}, s{n}, c{n}" for n in range(len(emit))]
    lines.append(f"    UNIT, {''.join(name + ', ' for name in names)}= constants")
    parts_of = dict(subtract)
    for i, position in enumerate(take):
        minus = "".join(f" - l{part}" for part in parts_of.get(i, ()))
        lines.append(f"    l{i} = v[{position}]{minus}")
    item = {
        leaf: f"LineItem(d{n}, k{n}, i{n}, a{n}, p{n}, l{leaf}, MUL(r{n}, l{leaf}), s{n}, c{n})"
        for n, leaf in enumerate(emit)
    }
    done = "Breakdown(provider_id, model_id, at, {}, {}, 'USD', version, context)"
    if integer_total and emit:
        total = f"MUL(UNIT, {' + '.join(f'm{n} * l{leaf}' for n, leaf in enumerate(emit))})"
        if len(emit) > 1:  # the common case, every line charged: the items in one tuple
            every = "(" + ", ".join(item.values()) + ")"
            lines += [
                f"    if {' and '.join(f'l{leaf}' for leaf in emit)}:",
                f"        return {done.format(every, total)}",
            ]
    lines += ["    items = []"]
    for leaf, text in item.items():
        lines += [f"    if l{leaf}:", f"        items.append({text})"]
    if integer_total and emit:
        lines.append(f"    total = {total} if items else ZERO")
    else:
        lines += [
            "    total = ZERO",
            "    for item in items:",
            "        total = ADD(total, item.amount)",
        ]
    lines.append(f"    return {done.format('tuple(items)', 'total')}")
    return "\n".join(lines)


_SHAPES: dict[tuple, Callable[..., cost.Breakdown | None]] = {}


def _shape_function(shape: tuple) -> Callable[..., cost.Breakdown | None]:
    """The pricing function of a shape, compiled on first use."""
    function = _SHAPES.get(shape)
    if function is None:
        namespace: dict[str, object] = {
            "MUL": _MULTIPLY,
            "ADD": _ADD,
            "ZERO": cost.ZERO,
            "LineItem": cost.LineItem,
            "Breakdown": cost.Breakdown,
        }
        exec(_pricer_source(*shape), namespace)  # text generated above
        function = _SHAPES[shape] = namespace["price"]  # type: ignore[assignment]
    return function


def _pricer(
    watched: tuple[int, ...],
    take: tuple[int, ...],
    subtract: tuple[tuple[int, tuple[int, ...]], ...],
    emit: tuple[tuple[int, str, Decimal, tuple], ...],
) -> Cell:
    """One cell: its shape's function and its constants. ``emit``: per charged key in
    vocabulary order, its leaf, key, rate and line-item fields."""
    exponents = {rate.as_tuple().exponent for _leaf, _key, rate, _fields in emit}
    integer_total = (
        len(exponents) == 1
        and all(isinstance(e, int) and e <= 0 for e in exponents)
        and not any(key in FRACTIONAL_KEYS for _leaf, key, _rate, _fields in emit)
    )
    (exponent,) = exponents if integer_total else (0,)
    shape = (watched, take, subtract, tuple(e[0] for e in emit), integer_total)
    constants = [_shared(Decimal(1).scaleb(exponent))]  # UNIT
    for _leaf, _key, rate, fields in emit:
        count = _shared(int(rate.scaleb(-exponent))) if integer_total else None
        constants += [rate, count, *fields]
    return _shape_function(shape), tuple(constants)


_SHARED: dict[tuple[type, str], object] = {}


def _shared(value: object) -> object:
    """One object per value (and, for Decimals, exponent) across all cells: calls spread over
    many models then touch fewer distinct objects."""
    return _SHARED.setdefault((type(value), str(value)), value)


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
            key,
            row.scaled_amount,
            # the line item's fields but its leaf and amount
            (
                row.dimension,
                key,
                row.price_id,
                row.amount,
                row.per,
                row.effective_from,
                row.conditions_key,
            ),
        )
        for key in USAGE_KEYS
        if (row := chosen.get(key)) is not None
    )
    return _pricer(tuple(watched), tuple(_INDEX[key] for key in order), subtract, emit)


def plan_for(
    model: ModelPrices, dimension_for_key: dict[str, str], context: cost.PricingContext
) -> ContextPlan:
    """The model's compiled plan for ``context``, compiled on first use and kept on the model
    (a ``PriceIndex`` is one catalog version, so the plan lives exactly as long as it is true)."""
    plan = model.compiled.get(context)
    if plan is None:
        plan = model.compiled[context] = compile_plan(model, dimension_for_key, context)
    if context == cost.DEFAULT_CONTEXT:
        model.default_plan = plan
    return plan
