"""The columnar SQL twin: a whole usage table priced in one pass, as a sum of products per call.

``install(con)`` builds, once per catalog version, the RATE CARD (``sql/pricing/ratecard.sql``):
the rules of :mod:`.cost` evaluated per cell of (model, context, validity interval, time-of-day
segment, input-token band), each cell holding one coefficient per usage key. ``key_usages(con)``
defines the ``usage_wide`` view (each call of ``usage_input`` with the cell that holds it: for
the common context one hash join on the model names and the cell's ranges) and
``pricing_wide_totals`` over it, for the usage keys the calls use: ``sum(coefficient *
quantity)`` per call, no unpivot, and nothing written before the totals are read::

    wide.install(con)                     # after open_catalog (+ twin.install for usage_input)
    twin.load_usages(con, frame)          # or INSERT INTO usage_input ...
    wide.key_usages(con)
    con.sql("SELECT * FROM pricing_wide_totals")   # call_id, total | error_kind, error
    con.sql("SELECT * FROM pricing_wide_priced")   # call_id, total | error_case (no strings)

A cell's charged quantities (leaves) are linear in the usage once the cell fixes which parts are
priced, so its coefficients are the expansion, done here, of the leaf recursion of
:func:`.cost.line_items` (``leaf(k) = q_k - sum(leaf(p) for each charged strict part p)``).
The error test is linear too (see ratecard.sql). Tests check the totals and errors equal the
Python cost function on 100k random usages.

Exactness: coefficients are built at DECIMAL(38, 24) (any DECIMAL(38, 18) amount divided by a
``per`` up to 10^6), then stored per cell as integers at the cell's own scale (the decimals its
finest coefficient needs: :func:`cell_scale`; :func:`integer_card` refuses any coefficient that
would not be integral). A call's total is an integer sum of products — BIGINT where the cell
proves it cannot overflow, else HUGEINT — turned into money as ``DECIMAL(38, 0) * 10^-scale``;
nothing is rounded, and DuckDB raises on any overflow rather than round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import cache

import duckdb
import polars as pl

from ..paths import sql_text
from .cost import ROOT_KEYS
from .sqlrender import render_sql
from .usage import FALLS_BACK_TO_WHOLE, FRACTIONAL_KEYS, PARTS, USAGE_KEYS, depth, strict_parts

# A polynomial in the "part is priced" flags: {set of part keys: integer coefficient}.
Poly = dict[frozenset[str], int]
MAX_SCALE = 24  # DECIMAL(38, 18) amounts per up to 10^6 units


@cache
def leaf_expansion(key: str) -> dict[str, Poly]:
    """``leaf(key)`` as a linear form in the quantities, with polynomial coefficients in the
    flags f_p ("part p is priced", so charged and taken out of its wholes)."""
    out: dict[str, Poly] = {key: {frozenset(): 1}}
    for part in strict_parts(key):
        for quantity, poly in leaf_expansion(part).items():
            target = out.setdefault(quantity, {})
            for monomial, coef in poly.items():
                term = monomial | {part}  # f_part * monomial (flags are 0/1: f*f = f)
                target[term] = target.get(term, 0) - coef
    return {q: p for q, p in ((q, _clean(p)) for q, p in out.items()) if p}


def _clean(poly: Poly) -> Poly:
    return {m: c for m, c in poly.items() if c}


def _rate_flag(part: str) -> str:
    """f_part on the exact rate card: the part has a price in the cell."""
    return f"(r_{part} IS NOT NULL)::INTEGER"


def poly_sql(poly: Poly, flag: Callable[[str], str] = _rate_flag) -> str:
    terms = []
    for monomial, coef in sorted(poly.items(), key=lambda mc: (len(mc[0]), sorted(mc[0]))):
        factors = [str(coef)] + [flag(p) for p in sorted(monomial)]
        terms.append(" * ".join(factors))
    return "(" + " + ".join(terms) + ")"


def _is_unpriced_part(key: str) -> bool:
    return key in PARTS and key not in ROOT_KEYS and key not in FALLS_BACK_TO_WHOLE


def _charged_without_price_counts(key: str) -> bool:
    """Keys charged whether priced or not (roots, independents): unpriced with a leaf left is an
    error, except ``requests`` (no per-call fee)."""
    return (key in ROOT_KEYS or key not in PARTS) and key != "requests"


def coefficient_sql(quantity: str) -> str:
    """The coefficient of ``quantity`` in a cell's total: sum over priced keys k of
    rate_k * d leaf(k) / d quantity."""
    terms = [
        f"coalesce(r_{k}, 0) * {poly_sql(expansion[quantity])}"
        for k in USAGE_KEYS
        if quantity in (expansion := leaf_expansion(k))
    ]
    return " + ".join(terms) if terms else "0"


def error_weight_sql(quantity: str) -> str:
    """The weight of ``quantity`` in a cell's error test (each term >= 0 for a valid usage)."""
    terms = [f"t_{quantity}::INTEGER"]
    if _is_unpriced_part(quantity):
        terms.append(f"(r_{quantity} IS NULL)::INTEGER")
    for k in USAGE_KEYS:
        if _charged_without_price_counts(k) and quantity in (expansion := leaf_expansion(k)):
            terms.append(f"(r_{k} IS NULL)::INTEGER * {poly_sql(expansion[quantity])}")
    return " + ".join(terms)


KEY_BIT = {k: 1 << i for i, k in enumerate(USAGE_KEYS)}  # a key's bit in the card's masks


def leaf_sql(key: str, card: str, usage: str) -> str:
    """``leaf(key)`` of a call (quantities from ``usage``) in a hot rate card cell (``card``)."""

    def priced(part: str) -> str:
        return f"(({card}.unpriced_mask & {KEY_BIT[part]}) = 0)::INTEGER"

    return " + ".join(
        f"{poly_sql(poly, priced)} * {usage}.{quantity}"
        for quantity, poly in leaf_expansion(key).items()
    )


def first_error_cases(card: str = "c", usage: str = "u") -> list[tuple[str, str, str | None, str]]:
    """(condition, kind, dimension, message) over a keyed call (``usage``) and its rate card cell
    (``card``, NULL when none holds the call), in the order the Python cost function raises: an
    unknown model, the service tier (its dimension and message are completed with the tier by
    the SQL), a call no cell holds (a negative input_tokens: Usage refuses it), then ambiguity
    and unpriced parts among the used keys in vocabulary order, then unpriced charged keys with
    a leaf left, parts before wholes."""
    cases: list[tuple[str, str, str | None, str]] = [
        # (no cell and no model: an unknown model, unless input_tokens is negative)
        (f"{usage}.model_key IS NULL AND {usage}.input_tokens >= 0", "unknown_model", None, ""),
        (
            f"{usage}.model_key IS NOT NULL AND ({usage}.card_key IS NULL OR {card}.tier_error)",
            "unpriced",
            "service_tier",
            "",
        ),
        (
            f"{card}.cell_key IS NULL",
            "invalid_usage",
            None,
            "no cell of the rate card holds this call (a negative input_tokens?)",
        ),
    ]
    for k in USAGE_KEYS:
        tied = f"({card}.tied_mask & {KEY_BIT[k]}) <> 0"
        cases.append(
            (f"{tied} AND {usage}.{k} <> 0", "ambiguous", k, f"several {k} rows apply equally")
        )
    unpriced = {k: f"({card}.unpriced_mask & {KEY_BIT[k]}) <> 0" for k in USAGE_KEYS}
    for k in USAGE_KEYS:
        if _is_unpriced_part(k):
            cases.append(
                (
                    f"{unpriced[k]} AND {usage}.{k} <> 0",
                    "unpriced",
                    k,
                    f"{k} is unpriced: this part has no price of its own",
                )
            )
    for k in sorted(USAGE_KEYS, key=lambda k: (-depth(k), k)):
        if _charged_without_price_counts(k):
            cases.append(
                (
                    f"{unpriced[k]} AND ({leaf_sql(k, card, usage)}) > 0",
                    "unpriced",
                    k,
                    f"{k} is unpriced: no price row applies",
                )
            )
    return cases


# The error cases wide_totals.sql words itself (positions in first_error_cases, from 1).
UNKNOWN_CASE, TIER_CASE = 1, 2
# The context most calls have: their model's default card, keyed by the names alone.
QUALIFIERS = ("region", "image_size", "image_quality", "video_resolution")
COMMON_CONTEXT = "u.service_tier = 'standard' AND " + " AND ".join(
    f"u.{kind} IS NULL" for kind in QUALIFIERS
)


def _sql_list(values: Iterable[str | None]) -> str:
    return "[" + ", ".join("NULL" if v is None else f"'{v}'" for v in values) + "]"


def cell_scale(coefficients: dict[str, Decimal | None]) -> int:
    """The decimals one cell's totals need: its finest count-key coefficient, or its finest
    duration coefficient plus 6 (durations are counted in micro-units)."""
    scale = 0
    for key, value in coefficients.items():
        if value:
            exponent = value.normalize().as_tuple().exponent
            needed = max(0, -exponent) + (6 if key in FRACTIONAL_KEYS else 0)  # type: ignore[operator]
            scale = max(scale, needed)
    if scale > MAX_SCALE + 6:
        raise AssertionError(f"a rate needs {scale} decimals (> {MAX_SCALE + 6})")
    return scale


def integer_card(con: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, int]:
    """The exact coefficients as integers: per cell, each coefficient times 10^scale (durations
    10^(scale - 6)), with the cell's scale and unit (10^-scale); and the largest scale."""
    columns = ", ".join(f"c_{k}, e_{k}" for k in USAGE_KEYS)
    cells = con.execute(
        f"SELECT cell_key, {columns} FROM pricing_rate_card_exact ORDER BY cell_key"
    ).fetchall()
    scales, safe_total, safe_error = [], [], []
    ints: dict[str, list[int]] = {k: [] for k in USAGE_KEYS}
    for cell in cells:
        coefficients = dict(zip(USAGE_KEYS, cell[1::2], strict=True))
        scale = cell_scale(coefficients)
        scales.append(scale)
        for key, value in coefficients.items():
            shift = scale - 6 if key in FRACTIONAL_KEYS else scale
            scaled = (value or Decimal(0)).scaleb(shift)
            if scaled != scaled.to_integral_value():
                raise AssertionError(f"cell {cell[0]}: {key} is not exact at scale {scale}")
            ints[key].append(int(scaled))
        # the largest quantity for which every BIGINT sum of this cell provably fits
        safe_total.append(_safe_quantity(abs(ints[k][-1]) for k in USAGE_KEYS))
        safe_error.append(_safe_quantity(abs(e) for e in cell[2::2]))
    top = max(scales, default=0)
    frame = pl.DataFrame(
        {
            "cell_key": pl.Series([c[0] for c in cells], dtype=pl.Int32),
            "scale": pl.Series(scales, dtype=pl.Int32),
            "unit": pl.Series([Decimal(1).scaleb(-s) for s in scales], dtype=pl.Decimal(38, top)),
            "safe_total": pl.Series(safe_total, dtype=pl.Int64),
            "safe_error": pl.Series(safe_error, dtype=pl.Int64),
            **{f"c_{k}": _int_series(v) for k, v in ints.items()},
        }
    )
    return frame, top


def _safe_quantity(weights: Iterable[int]) -> int:
    """sum(w * q) fits a BIGINT when every q <= (2^63 - 1) // sum(|w|)."""
    return (2**63 - 1) // max(1, sum(weights))


def _int_series(values: list[int]) -> pl.Series:
    """int64 when every value fits (the hot query's fast path), else DECIMAL(38, 0)."""
    if all(-(2**63) < v < 2**63 for v in values):
        return pl.Series(values, dtype=pl.Int64)
    return pl.Series([Decimal(v) for v in values], dtype=pl.Decimal(38, 0))


def install(con: duckdb.DuckDBPyConnection) -> int:
    """Build the rate card for the catalog on ``con`` and the wide twin's tables; returns the
    largest number of decimals a cell's totals need (the scale of ``total``)."""
    coefficient = {k: coefficient_sql(k) for k in USAGE_KEYS}
    error_weight = {k: error_weight_sql(k) for k in USAGE_KEYS}
    con.execute(sql_text("pricing/ranked_prices.sql"))  # the rows the rules compare
    con.execute(
        render_sql("pricing/ratecard.sql", coefficient=coefficient, error_weight=error_weight)
    )
    frame, top = integer_card(con)
    con.register("_rate_card_ints", frame)
    try:
        wide_keys = {k for k in USAGE_KEYS if frame[f"c_{k}"].dtype != pl.Int64}
        cases = first_error_cases()
        con.execute(
            render_sql(
                "pricing/wide.sql",
                bit=KEY_BIT,
                wide_keys=wide_keys,
                kinds=_sql_list(case[1] for case in cases),
                dimensions=_sql_list(case[2] for case in cases),
                messages=_sql_list(case[3] for case in cases),
            )
        )
    finally:
        con.unregister("_rate_card_ints")
    return top


def key_usages(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)define the ``usage_wide`` view (the keying of ``usage_input``) and the
    ``pricing_wide_totals`` view over the quantities its calls use (a key no call uses is not
    read). Nothing is written: keying and pricing run in one pass when the totals are read.
    Reading the totals after ``usage_input`` starts using another key raises (call this again)."""
    # one EXISTS per key: zone maps skip an all-zero column, the first non-zero row ends a scan
    flags = con.execute(
        "SELECT "
        + ", ".join(f"EXISTS (SELECT 1 FROM usage_input WHERE {k} <> 0)" for k in USAGE_KEYS)
    ).fetchone()
    assert flags is not None
    used = [k for k, flag in zip(USAGE_KEYS, flags, strict=True) if flag]
    con.execute(
        render_sql(
            "pricing/wide_key.sql", common_context=COMMON_CONTEXT, qualifiers=QUALIFIERS, used=used
        )
    )
    card = con.execute(
        "SELECT "
        + ", ".join(f"bool_or(c_{k} <> 0), bool_or(e_{k} <> 0)" for k in USAGE_KEYS)
        + " FROM pricing_rate_card"
    ).fetchone()
    assert card is not None
    wide_keys = {
        name[2:]
        for name, kind in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'pricing_rate_card' AND column_name LIKE 'c_%'"
        ).fetchall()
        if kind == "HUGEINT"
    }
    priced = [k for i, k in enumerate(USAGE_KEYS) if k in used and card[2 * i]]
    watched = [k for i, k in enumerate(USAGE_KEYS) if k in used and card[2 * i + 1]]
    cases = first_error_cases(card="x", usage="x")
    con.execute(
        render_sql(
            "pricing/wide_totals.sql",
            largest=_largest([f"x.{k}" for k in priced]),
            largest_watched=_largest(
                [f"x.{k}" for k in watched if k not in FRACTIONAL_KEYS] or ["0"]
            ),
            # (a HUGEINT column's values fit a BIGINT wherever the cell passes the guard)
            total_sum=_sum(
                [f"x.c_{k}{'::BIGINT' if k in wide_keys else ''} * x.{k}" for k in priced]
            ),
            total_sum_wide=_sum([f"x.c_{k}::HUGEINT * x.{k}" for k in priced]),
            # a duration has no parts: its sign is enough, and keeps the sum small
            error_sum=_sum(
                [
                    f"x.e_{k} * sign(x.{k})" if k in FRACTIONAL_KEYS else f"x.e_{k} * x.{k}"
                    for k in watched
                ]
            ),
            error_sum_wide=_sum([f"x.e_{k}::HUGEINT * x.{k}" for k in watched]),
            conditions=[case[0] for case in cases],
            unknown_case=UNKNOWN_CASE,
            tier_case=TIER_CASE,
            kinds=_sql_list(case[1] for case in cases),
            dimensions=_sql_list(case[2] for case in cases),
            messages=_sql_list(case[3] for case in cases),
            unused=[k for k in USAGE_KEYS if k not in used],
        )
    )


def _largest(terms: list[str]) -> str:
    return f"greatest({', '.join(terms)})" if len(terms) > 1 else (terms or ["0"])[0]


def _sum(terms: list[str]) -> str:
    return "\n               + ".join(terms) or "0"
