"""The SQL twin and the Python cost function agree on the bundled catalog's real price rows
(every model, contexts drawn from the conditions its rows actually use)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from test_pricing_twin import python_side

from byokvault.engine.catalog.store import open_catalog
from byokvault.engine.paths import BUNDLED_CATALOG
from byokvault.engine.pricing import twin
from byokvault.engine.pricing.index import PriceIndex
from byokvault.engine.pricing.usage import FRACTIONAL_KEYS, USAGE_KEYS, strict_wholes

PER_MODEL = 25


def bundled_rows(index: PriceIndex, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for (provider_id, model_id), model in sorted(index.models.items()):
        all_rows = [r for rs in model.rows.values() for r in rs]
        keys = sorted({r.usage_key for r in all_rows})
        if not keys:
            continue
        choices = {
            name: sorted({getattr(r, name) for r in all_rows} - {None}, key=str)
            for name in (
                "service_tier",
                "region",
                "image_size",
                "image_quality",
                "video_resolution",
            )
        }
        froms = sorted({r.effective_from for r in all_rows})
        for _ in range(PER_MODEL):
            data = dict.fromkeys(USAGE_KEYS, 0)
            data["requests"] = 1
            for key in keys:
                if key in FRACTIONAL_KEYS:
                    data[key] = rng.randrange(1, 10**7) / 10**6 if rng.random() < 0.7 else 0
                elif key != "requests" and rng.random() < 0.6:
                    amount = (
                        rng.choice([1, 999, 1000, 32000, 128000, 200000, 200001])
                        if rng.random() < 0.3
                        else rng.randrange(1, 300_000)
                    )
                    for k in (key, *strict_wholes(key)):
                        data[k] += amount
            at = rng.choice(froms) + timedelta(seconds=rng.choice([-1, 0, 3600, 86400 * 30]))
            at = max(at, datetime(2023, 1, 1, tzinfo=UTC)) + timedelta(hours=rng.randrange(24))
            rows.append(
                {
                    "call_id": len(rows),
                    "provider_id": provider_id,
                    "model_id": model_id,
                    "at": at,
                    **{
                        name: rng.choice([None, *values])
                        if name != "service_tier"
                        else rng.choice(["standard", *values])
                        for name, values in choices.items()
                    },
                    **data,
                }
            )
    return rows


@pytest.mark.slow
def test_twin_equals_python_on_the_bundled_catalog(tmp_path: Path) -> None:
    from decimal import Decimal

    _catalog, con = open_catalog(BUNDLED_CATALOG, tmp_path / "snaps")
    index = PriceIndex.from_connection(con)
    twin.install(con)
    rows = bundled_rows(index)
    for row in rows:
        for key in FRACTIONAL_KEYS:
            row[key] = Decimal(str(row[key]))
    frame = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        [pl.col(k).cast(pl.Decimal(38, 6)) for k in FRACTIONAL_KEYS]
    )
    twin.load_usages(con, frame)
    totals = {
        c: (t, k, d)
        for c, t, k, d in con.execute(
            "SELECT call_id, total, error_kind, error_dimension FROM pricing_totals"
        ).fetchall()
    }
    lines: dict[int, list] = {}
    for call_id, *item in con.execute(
        "SELECT call_id, usage_key, price_id, quantity, amount FROM pricing_line_items "
        "ORDER BY call_id, key_order"
    ).fetchall():
        lines.setdefault(call_id, []).append(tuple(item))
    priced = 0
    for row in rows:
        expected_total, expected_items = python_side(index, row)
        got = totals[row["call_id"]]
        assert got == expected_total, (row, got, expected_total)
        if got[1] is None:
            priced += 1
            assert tuple(lines.get(row["call_id"], ())) == expected_items, row
    assert priced > len(rows) // 3
