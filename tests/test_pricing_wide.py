"""The columnar SQL twin (sql/pricing/ratecard.sql, wide*.sql) agrees exactly with the Python
cost function, and its leaf expansion is the cost function's leaf computation."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal
from itertools import combinations

import duckdb
import polars as pl
import pytest
from test_pricing_support import ACME, HOMELAB, build_index, model, provider, row
from test_pricing_twin import python_side, random_rows

from byokvault.engine.pricing import twin, wide
from byokvault.engine.pricing.cost import price_usage
from byokvault.engine.pricing.usage import PARTS, USAGE_KEYS, Usage, strict_parts

N_USAGES = 100_000

# Rates with 24 decimals per token and a coefficient too large for a BIGINT: the rate card
# stores it as HUGEINT and the hot query takes the HUGEINT branch for these cells.
TINY = provider(
    "tiny",
    [
        model(
            "m",
            row("input_tokens", "0.000000000000000007")
            + row("output_tokens", "123456.789012345678")
            + row("cache_read_tokens", "0.000000000000000001"),
        )
    ],
)


@pytest.fixture(scope="module")
def wide_con(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("wide") / "catalog"
    index, con = build_index(root, {"acme": ACME, "homelab": HOMELAB, "tiny": TINY})
    twin.install(con)
    wide.install(con)
    return index, con


def wide_totals(con, rows: list[dict]) -> dict[int, tuple]:
    usages = pl.DataFrame(rows, infer_schema_length=None)
    if "output_video_seconds" in usages.columns:
        usages = usages.with_columns(pl.col("output_video_seconds").cast(pl.Decimal(38, 6)))
    twin.load_usages(con, usages)
    wide.key_usages(con)
    described = {
        call_id: (total, kind, dim)
        for call_id, total, kind, dim in con.execute(
            "SELECT call_id, total, error_kind, error_dimension FROM pricing_wide_totals"
        ).fetchall()
    }
    assert hot_totals(con) == {
        call_id: (total, kind, None if kind == "unpriced" and "=" in (dim or "") else dim)
        for call_id, (total, kind, dim) in described.items()
    }
    return described


def hot_totals(con) -> dict[int, tuple]:
    """The hot relation (what a bulk reprice writes) with its error cases' words: the service
    tier's dimension is completed with the call's tier only in pricing_wide_totals."""
    return {
        call_id: (total, kind, None if case == wide.TIER_CASE else dim)
        for call_id, total, case, kind, dim in con.execute(
            "SELECT call_id, total, error_case, error_kind, error_dimension "
            "FROM pricing_wide_priced LEFT JOIN pricing_wide_error_cases USING (error_case)"
        ).fetchall()
    }


def test_columnar_twin_equals_python_on_100k_random_usages(wide_con) -> None:
    """Tiers, service tiers, regions, qualifiers, time windows, dated changes (and the instant
    of one), unpriced parts and roots, unknown models: totals and first errors identical."""
    index, con = wide_con
    rows = random_rows(N_USAGES, seed=23)
    got = wide_totals(con, rows)
    assert len(got) == N_USAGES
    mismatches, kinds = [], {}
    for r in rows:
        expected = python_side(index, r)[0]
        kinds[expected[1]] = kinds.get(expected[1], 0) + 1
        if got[r["call_id"]] != expected:
            mismatches.append((r, expected, got[r["call_id"]]))
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[0]}"
    assert kinds[None] > N_USAGES // 3 and {"unpriced", "unknown_model"} <= set(kinds)


def test_huge_coefficients_and_quantities_stay_exact(wide_con) -> None:
    index, con = wide_con
    (kind,) = con.execute(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'pricing_rate_card' AND column_name = 'c_output_tokens'"
    ).fetchone()
    assert kind == "HUGEINT"
    at = datetime(2025, 3, 1, tzinfo=UTC)
    quantities = [(10**12, 10**12, 10**12), (7, 3, 1), (999_999_999_999, 0, 5), (1, 1, 0)]
    rows = [
        {
            "call_id": i,
            "provider_id": "tiny",
            "model_id": "m",
            "at": at,
            "input_tokens": q_in,
            "output_tokens": q_out,
            "cache_read_tokens": q_cached,
        }
        for i, (q_in, q_out, q_cached) in enumerate(quantities)
    ]
    got = wide_totals(con, rows)
    for r in rows:
        usage = Usage(**{k: r[k] for k in ("input_tokens", "output_tokens", "cache_read_tokens")})
        expected = price_usage(index, "tiny", "m", usage, at).total
        assert got[r["call_id"]] == (expected, None, None)


def test_the_twin_covers_the_usage_each_time_it_is_keyed(wide_con) -> None:
    """The hot query is generated for the keys the keyed calls use: re-keying other usage
    (here web searches, an unpriced independent key) prices that usage too."""
    index, con = wide_con
    at = datetime(2025, 3, 1, tzinfo=UTC)
    base = {"provider_id": "acme", "model_id": "chat", "at": at, "input_tokens": 10}
    assert wide_totals(con, [{"call_id": 1, **base}])[1][0] == Decimal("0.00001")
    got = wide_totals(con, [{"call_id": 2, **base, "web_searches": 3}])
    expected = price_usage(index, "acme", "chat", Usage(input_tokens=10, web_searches=3), at)
    assert got[2] == (expected.total, None, None)


def test_unknown_tier_and_model_are_rejected_at_keying(wide_con) -> None:
    _index, con = wide_con
    at = datetime(2025, 3, 1, tzinfo=UTC)
    rows = [
        {"call_id": 1, "provider_id": "acme", "model_id": "chat", "at": at,
         "service_tier": "priority", "input_tokens": 5},
        {"call_id": 2, "provider_id": "acme", "model_id": "nope", "at": at,
         "service_tier": "standard", "input_tokens": 5},
    ]  # fmt: skip
    got = wide_totals(con, rows)
    assert got[1] == (None, "unpriced", "service_tier=priority")
    assert got[2] == (None, "unknown_model", None)
    errors = dict(con.execute("SELECT call_id, error FROM pricing_wide_totals").fetchall())
    assert "acme/chat" in errors[1] and "nope" in errors[2]


def reference_leaves(quantities: dict[str, int], charged: set[str]) -> dict[str, int]:
    """cost.line_items' leaf computation, for every key charged (parts before wholes)."""
    leaves: dict[str, int] = {}
    for key in sorted(PARTS, key=lambda k: -len(PARTS[k])):
        leaf = quantities[key]
        for part in strict_parts(key):
            if part in leaves and part in charged:
                leaf -= leaves[part]
        leaves[key] = leaf
    return leaves


def evaluate(expansion: dict, quantities: dict[str, int], charged: set[str]) -> int:
    total = 0
    for quantity, poly in expansion.items():
        for monomial, coef in poly.items():
            if monomial <= charged:
                total += coef * quantities[quantity]
    return total


def test_leaf_expansion_is_the_leaf_computation_for_every_priced_set() -> None:
    rng = random.Random(5)
    token_keys = sorted(PARTS)
    parts = [k for k in token_keys if len(PARTS[k]) > 1]
    charged_sets = [set(c) for n in range(len(parts) + 1) for c in combinations(parts, n)]
    for charged in [*rng.sample(charged_sets, 600), set(), set(parts)]:
        quantities = {k: rng.randrange(0, 1000) for k in token_keys}
        expected = reference_leaves(quantities, charged | {"input_tokens", "output_tokens"})
        for key in token_keys:
            assert evaluate(wide.leaf_expansion(key), quantities, charged) == expected[key]
    for key in USAGE_KEYS:
        if key not in PARTS:
            assert wide.leaf_expansion(key) == {key: {frozenset(): 1}}


def test_cell_scale_is_the_finest_coefficient() -> None:
    assert wide.cell_scale({"input_tokens": Decimal("0.0000025"), "output_tokens": None}) == 7
    assert wide.cell_scale({"output_video_seconds": Decimal("0.1")}) == 7  # micro-units
    assert wide.cell_scale({"input_tokens": Decimal("3E+2")}) == 0


def test_rate_card_has_one_cell_per_piece(wide_con) -> None:
    _index, con = wide_con
    # acme/chat: a price change on 2025-06-01 and a long-context cliff, no windows
    cells = con.execute(
        "SELECT CASE WHEN isfinite(c.valid_from) THEN c.valid_from END, c.lc_from "
        "FROM pricing_cells c "
        "JOIN pricing_card_models m USING (model_key) "
        "WHERE m.model_id = 'chat' AND c.service_tier = 'standard' AND c.region IS NULL "
        "ORDER BY 1, 2"
    ).fetchall()
    instants = {v for v, _ in cells}
    assert None in instants  # before the first price: nothing in force
    assert datetime(2025, 6, 1, tzinfo=UTC) in instants and len(instants) == 3
    assert sorted({b for _, b in cells}) == [0, 200_001]


def test_a_key_used_after_keying_fails_loudly_not_silently(wide_con) -> None:
    """The views read only the keys the calls used when they were generated: a call using
    another key later makes reading the totals raise (never a total without that key)."""
    _index, con = wide_con
    at = datetime(2025, 3, 1, tzinfo=UTC)
    base = {"provider_id": "acme", "model_id": "chat", "at": at, "input_tokens": 10}
    assert wide_totals(con, [{"call_id": 1, **base}])[1][0] == Decimal("0.00001")
    con.execute("INSERT INTO usage_input BY NAME SELECT 2 AS call_id, 'acme' AS provider_id, "
                "'chat' AS model_id, TIMESTAMPTZ '2025-03-01 00:00:00+00' AS \"at\", "
                "10 AS input_tokens, 3 AS web_searches")  # fmt: skip
    for view in ("pricing_wide_totals", "pricing_wide_priced"):
        with pytest.raises(duckdb.Error, match=r"web_searches.*key_usages"):
            con.execute(f"SELECT * FROM {view}").fetchall()
    wide.key_usages(con)  # keyed again: both calls priced
    assert len(con.execute("SELECT * FROM pricing_wide_totals").fetchall()) == 2


def test_a_call_no_cell_holds_is_an_error_row(wide_con) -> None:
    """A negative input_tokens (which Usage refuses) falls in no cell: an error, not a lost row."""
    _index, con = wide_con
    at = datetime(2025, 3, 1, tzinfo=UTC)
    rows = [
        {"call_id": 1, "provider_id": "acme", "model_id": "chat", "at": at,
         "service_tier": "standard", "input_tokens": -5},
        {"call_id": 2, "provider_id": "acme", "model_id": "chat", "at": at,
         "service_tier": "flex", "input_tokens": -5},
    ]  # fmt: skip
    got = wide_totals(con, rows)
    assert got[1] == (None, "invalid_usage", None)
    assert got[2] == (None, "invalid_usage", None)
