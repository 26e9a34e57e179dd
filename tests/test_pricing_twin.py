"""The SQL twin (sql/pricing/twin.sql) agrees exactly with the Python cost function."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from test_pricing_support import ACME, HOMELAB, build_index

from byokvault.engine.paths import sql_text
from byokvault.engine.pricing import twin
from byokvault.engine.pricing.cost import PricingContext, price_usage
from byokvault.engine.pricing.index import PriceIndex, PricingError, UnknownModelError
from byokvault.engine.pricing.usage import USAGE_KEYS, Usage, strict_wholes

N_USAGES = 100_000

# Which keys each test model may see (some deliberately unpriced, to exercise the errors).
MODEL_KEYS = {
    ("acme", "chat"): [
        "cache_read_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
        "cache_write_5m_tokens",
        "output_reasoning_tokens",
        "web_searches",
        "input_audio_tokens",
        "output_audio_tokens",
    ],
    ("acme", "cheap-window"): ["cache_read_tokens", "output_reasoning_tokens"],
    ("acme", "inclusive"): ["output_reasoning_tokens"],
    ("acme", "per-request"): ["cache_read_tokens", "requests"],
    ("acme", "img"): ["output_images", "input_images"],
    ("acme", "video"): ["output_video_seconds"],
    ("homelab", "llama"): ["cache_read_tokens"],
    ("acme", "gone"): [],
}
THRESHOLDS = [0, 999, 1000, 1001, 200_000, 200_001, 50_000]


def random_usage(rng: random.Random, keys: list[str]) -> dict:
    """A valid usage: each part is added together with every whole containing it."""
    base = rng.choice(THRESHOLDS) if rng.random() < 0.3 else rng.randrange(0, 300_000)
    data = dict.fromkeys(USAGE_KEYS, 0)
    data["input_tokens"] = base
    data["output_tokens"] = rng.randrange(0, 5000)
    data["requests"] = 1
    for key in keys:
        if rng.random() < 0.35:
            if key in ("output_video_seconds",):
                data[key] = Decimal(rng.randrange(0, 10_000_000)) / 10**6
            elif key == "requests":
                data[key] = rng.choice([0, 1, 2])
            else:
                amount = rng.randrange(1, 20_000)
                for k in (key, *strict_wholes(key)):
                    data[k] += amount
    return data


def random_rows(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    start = datetime(2023, 12, 1, tzinfo=UTC)
    models = list(MODEL_KEYS)
    rows = []
    for call_id in range(n):
        provider_id, model_id = rng.choice(models)
        at = start + timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))
        if rng.random() < 0.05:  # right at the price change
            at = datetime(2025, 6, 1, tzinfo=UTC) - timedelta(microseconds=rng.choice([0, 1]))
        rows.append(
            {
                "call_id": call_id,
                "provider_id": provider_id,
                "model_id": model_id,
                "at": at,
                "service_tier": rng.choice(["standard"] * 4 + ["flex", "priority"]),
                "region": rng.choice([None, None, "eu-west-1", "us-east-1"]),
                "image_size": rng.choice([None, "1024x1024", "1024x1792"]),
                "image_quality": rng.choice([None, "standard", "hd"]),
                "video_resolution": rng.choice([None, "720p", "1080p"]),
                **random_usage(rng, MODEL_KEYS[(provider_id, model_id)]),
            }
        )
    return rows


def python_side(index: PriceIndex, row: dict) -> tuple:
    context = PricingContext(
        row["service_tier"],
        row["region"],
        row["image_size"],
        row["image_quality"],
        row["video_resolution"],
    )
    usage = Usage(**{k: row[k] for k in USAGE_KEYS})
    try:
        b = price_usage(index, row["provider_id"], row["model_id"], usage, row["at"], context)
    except UnknownModelError:
        return (None, "unknown_model", None), ()
    except PricingError as exc:
        kind = "ambiguous" if type(exc).__name__ == "AmbiguousPriceError" else "unpriced"
        return (None, kind, exc.dimension), ()  # type: ignore[attr-defined]
    items = tuple((i.usage_key, i.price_id, i.quantity, i.amount) for i in b.line_items)
    return (b.total, None, None), items


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.col("output_video_seconds").cast(pl.Decimal(38, 6))
    )


@pytest.fixture(scope="module")
def twin_con(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("twin") / "catalog"
    index, con = build_index(root, {"acme": ACME, "homelab": HOMELAB})
    twin.install(con)
    return index, con


def test_usage_input_columns_follow_the_vocabulary(twin_con) -> None:
    _index, con = twin_con
    cols = [r[0] for r in con.execute("DESCRIBE usage_input").fetchall()]
    assert cols[9:] == list(USAGE_KEYS)
    assert "CREATE TABLE IF NOT EXISTS usage_input" in sql_text("pricing/usage_input.sql")


def test_sql_twin_equals_python_on_100k_random_usages(twin_con) -> None:
    index, con = twin_con
    rows = random_rows(N_USAGES)
    twin.load_usages(con, frame(rows))
    totals = {
        call_id: (total, kind, dim)
        for call_id, total, kind, dim in con.execute(
            "SELECT call_id, total, error_kind, error_dimension FROM pricing_totals"
        ).fetchall()
    }
    lines: dict[int, list] = {}
    for call_id, key, price_id, quantity, amount in con.execute(
        "SELECT call_id, usage_key, price_id, quantity, amount FROM pricing_line_items "
        "ORDER BY call_id, key_order"
    ).fetchall():
        lines.setdefault(call_id, []).append((key, price_id, quantity, amount))
    assert len(totals) == N_USAGES
    mismatches = []
    kinds: dict[object, int] = {}
    for row in rows:
        expected_total, expected_items = python_side(index, row)
        got_total = totals[row["call_id"]]
        got_items = tuple(lines.get(row["call_id"], ())) if got_total[1] is None else ()
        kinds[expected_total[1]] = kinds.get(expected_total[1], 0) + 1
        if got_total != expected_total or got_items != expected_items:
            mismatches.append((row, expected_total, got_total, expected_items, got_items))
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[0]}"
    # the sample exercised prices and every kind of refusal
    assert kinds[None] > N_USAGES // 3 and {"unpriced", "unknown_model"} <= set(kinds)


def test_twin_on_a_usage_table_naming_only_some_columns(twin_con, tmp_path: Path) -> None:
    _index, con = twin_con
    con.execute("DELETE FROM usage_input")
    con.execute(
        "INSERT INTO usage_input BY NAME SELECT 1 AS call_id, 'acme' AS provider_id, "
        "'per-request' AS model_id, TIMESTAMPTZ '2025-01-01 00:00:00+00' AS \"at\", "
        "1000000 AS input_tokens"
    )
    ((total, error),) = con.execute("SELECT total, error FROM pricing_totals").fetchall()
    # 1M input tokens at 0.5 per million, plus the 5-per-1000 request fee (requests defaults to 1)
    assert (total, error) == (Decimal("0.505"), None)


def test_the_selection_rules_are_written_once() -> None:
    """The row twin and the rate card both import the rules from rules.sql; neither spells
    them out itself (a second copy would drift)."""
    for name in ("pricing/twin.sql", "pricing/ratecard.sql"):
        text = sql_text(name)
        assert '{% import "pricing/rules.sql" as rules' in text
        for rule in ("inclusive AND", "window_start <", "image_quality IS NULL OR"):
            assert rule not in text, (name, rule)
    assert "inclusive AND" in sql_text("pricing/rules.sql")
