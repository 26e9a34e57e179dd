"""Pricing benchmark: our cost function and SQL twin side by side with genai-prices' calc_price,
on the SAME price data (the genai-prices data file imported into a catalog with our importer).

    .venv/bin/python bench/pricing.py           # 1,000,000-row bulk reprice
    .venv/bin/python bench/pricing.py --quick   # 100,000 rows (or BENCH_QUICK=1)

Prints per-call median and p99 in microseconds (ours vs calc_price) and the bulk reprice time
(SQL twin from the usage table to every call's total in a table, keying included, vs calc_price
in a Python loop, extrapolated from a sample), with ratios; CPU counts all of DuckDB's threads.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
GENAI_FILE = "genai-prices-47df840a-data-v2.json"


def genai_data() -> list | None:
    for n in (1, 2):
        path = ROOT.parents[n - 1] / "shared" / "upstream" / GENAI_FILE
        if path.is_file():
            return json.loads(path.read_text(), parse_float=Decimal)
    return None  # fall back to the installed package's bundled data


def setup(work: Path):
    from genai_prices import data_snapshot
    from genai_prices import types as gt

    from byokvault.engine.catalog.store import open_catalog
    from byokvault.engine.importers.genai_prices import import_genai_prices
    from byokvault.engine.importers.run import apply_imports
    from byokvault.engine.importers.sources import load_sources
    from byokvault.engine.pricing import twin, wide
    from byokvault.engine.pricing.index import PriceIndex

    raw = genai_data()
    if raw is None:
        from genai_prices.data import providers as theirs
    else:
        theirs = gt._providers_from_raw(raw)
    apply_imports(work / "catalog", [import_genai_prices(raw if raw is not None else theirs)])
    _catalog, con = open_catalog(work / "catalog", work / "snaps")
    index = PriceIndex.from_connection(con)
    twin.install(con)
    t0 = time.perf_counter()
    scale = wide.install(con)
    print(
        f"rate card: built in {time.perf_counter() - t0:.2f} s (totals need up to {scale} decimals)"
    )
    snapshot = data_snapshot.DataSnapshot(providers=theirs, from_auto_update=False)
    data_snapshot.set_custom_snapshot(snapshot)
    config = load_sources()
    # every token-priced chat model (flat, tiered, dated, windowed): input, output, and the
    # cache reads / writes it prices
    token_keys = {"input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"}
    models = []
    for provider in theirs:
        pid = config.provider_id("genai-prices", provider.id)
        for model in provider.models:
            try:
                mid = index.resolve(pid, model.id)
                found = snapshot.find_provider_model(model.id, None, provider.id, None)[1]
            except LookupError:
                continue
            if found is not model:  # calc_price must find this very model by its id
                continue
            dims = set(index.models[(pid, mid)].rows)
            if {"input_tokens", "output_tokens"} <= dims <= token_keys:
                models.append((provider.id, model.id, pid, mid, tuple(sorted(dims))))
    return index, con, models


def usages(n: int, models: list, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for call_id in range(n):
        gp, gm, pid, mid, dims = rng.choice(models)
        inp = rng.randrange(0, 300_000)
        cached = rng.randrange(0, inp // 4 + 1) if "cache_read_tokens" in dims else 0
        written = rng.randrange(0, inp // 4 + 1) if "cache_write_tokens" in dims else 0
        out.append(
            {
                "call_id": call_id,
                "genai": (gp, gm),
                "provider_id": pid,
                "model_id": mid,
                "at": start + timedelta(seconds=rng.randrange(0, 600 * 86400)),
                "input_tokens": inp,
                "cache_read_tokens": cached,
                "cache_write_tokens": written,
                "output_tokens": rng.randrange(0, 4000),
            }
        )
    return out


KEYS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")


def per_call(index, sample: list[dict]) -> tuple[list[float], list[float]]:
    """Each call timed alone (usage construction + price), in two loops over the same calls:
    ours, then calc_price (each loop in its own steady state, as a caller would run it)."""
    from genai_prices import Usage as GenaiUsage
    from genai_prices import calc_price

    from byokvault.engine.pricing.cost import price_usage
    from byokvault.engine.pricing.usage import Usage

    calls = [({k: row[k] for k in KEYS if row[k]}, row) for row in sample]
    clock = time.perf_counter_ns
    ours, theirs = [], []
    for quantities, row in calls:
        t0 = clock()
        model_id = index.resolve(row["provider_id"], row["model_id"])
        price_usage(index, row["provider_id"], model_id, Usage(**quantities), row["at"])
        ours.append((clock() - t0) / 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for quantities, row in calls:
            t0 = clock()
            calc_price(
                GenaiUsage(**quantities),
                row["genai"][1],
                provider_id=row["genai"][0],
                genai_request_timestamp=row["at"],
            )
            theirs.append((clock() - t0) / 1000)
    return ours, theirs


def calc_price_loop(sample: list[dict]) -> tuple[float, float]:
    """calc_price over the sample in a plain loop: (wall s, CPU s) per call."""
    from genai_prices import Usage as GenaiUsage
    from genai_prices import calc_price

    calls = [({k: row[k] for k in KEYS if row[k]}, row["genai"], row["at"]) for row in sample]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w0, c0 = time.perf_counter(), time.process_time()
        for quantities, (provider, model), at in calls:
            calc_price(
                GenaiUsage(**quantities), model, provider_id=provider, genai_request_timestamp=at
            )
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return wall / len(calls), cpu / len(calls)


def timed(con, sql: str, runs: int = 3) -> tuple[float, float]:
    """Median wall and CPU seconds (CPU: all of DuckDB's threads) of ``sql`` over ``runs``."""
    walls, cpus = [], []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        con.execute(sql)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def load_usage_input(con, rows: list[dict]) -> None:
    from byokvault.engine.pricing import twin

    frame = pl.DataFrame(
        {
            "call_id": [r["call_id"] for r in rows],
            "provider_id": [r["provider_id"] for r in rows],
            "model_id": [r["model_id"] for r in rows],
            "at": [r["at"] for r in rows],
            **{k: [r[k] for r in rows] for k in KEYS},
        }
    )
    twin.load_usages(con, frame)


def bulk_wide(con) -> tuple[tuple[float, float], tuple[float, float]]:
    """The columnar twin over usage_input, each the median of 3 runs (wall, CPU): key_usages
    (which keys the calls use, the views generated for them), then the one pass of keying and
    pricing that writes every call's total into a table."""
    from byokvault.engine.pricing import wide

    walls, cpus = [], []
    for _ in range(3):
        w0, c0 = time.perf_counter(), time.process_time()
        wide.key_usages(con)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    keying = statistics.median(walls), statistics.median(cpus)
    # the hot relation (call_id, total | error_case); pricing_wide_totals adds the words
    pricing = timed(
        con, "CREATE OR REPLACE TEMP TABLE repriced AS SELECT * FROM pricing_wide_priced"
    )
    priced, errors = con.execute("SELECT count(total), count(error_case) FROM repriced").fetchone()
    assert errors == 0 and priced == con.execute("SELECT count(*) FROM usage_input").fetchone()[0]
    return keying, pricing


def bulk_rows(con, n: int) -> float:
    """The row-per-dimension twin (pricing_totals, what routing reads) over usage_input."""
    t0 = time.perf_counter()
    priced, errors = con.execute("SELECT count(total), count(error) FROM pricing_totals").fetchone()
    elapsed = time.perf_counter() - t0
    assert priced == n and errors == 0, (priced, errors)
    return elapsed


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    parser.add_argument(
        "--row-twin", action="store_true", help="also time the row-per-dimension twin"
    )
    args = parser.parse_args()
    n_bulk = 100_000 if args.quick else 1_000_000
    print(f"{load()} (2 shared cores: absolute figures move with it, read the ratios)")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("BYOKVAULT_DATA", tmp)
        t0 = time.perf_counter()
        index, con, models = setup(Path(tmp))
        print(f"setup: {len(models)} token-priced chat models, {time.perf_counter() - t0:.1f} s")
        rows = usages(n_bulk, models)
        sample = rows[:20_000]
        per_call(index, sample)  # warm both caches (our compiled plans: once per model)
        ours, theirs = per_call(index, sample)
        om, tm = statistics.median(ours), statistics.median(theirs)
        print(f"per call, median: ours {om:.1f} us, calc_price {tm:.1f} us -> {tm / om:.1f}x")
        print(
            f"per call, p99:    ours {p99(ours):.1f} us, calc_price {p99(theirs):.1f} us -> "
            f"{p99(theirs) / p99(ours):.1f}x"
        )
        wall_per_call, cpu_per_call = calc_price_loop(sample)
        loop_wall, loop_cpu = wall_per_call * n_bulk, cpu_per_call * n_bulk
        print(
            f"calc_price in a loop over {n_bulk:,} rows: {loop_wall:.1f} s wall, {loop_cpu:.1f} s"
            f" CPU (extrapolated from a {len(sample):,}-call loop)"
        )
        load_usage_input(con, rows)
        if args.row_twin:
            sql = bulk_rows(con, n_bulk)
            print(f"  row twin (pricing_totals): {sql:.2f} s -> {loop_wall / sql:.0f}x")
        (key_wall, key_cpu), (wall, cpu) = bulk_wide(con)
        total_wall, total_cpu = key_wall + wall, key_cpu + cpu
        print(
            f"  columnar twin, usage_input -> totals in a table: {total_wall:.3f} s wall, "
            f"{total_cpu:.3f} s CPU -> {loop_wall / total_wall:.0f}x wall, "
            f"{loop_cpu / total_cpu:.0f}x CPU"
        )
        print(
            f"    (key_usages {key_wall:.3f} s wall / {key_cpu:.3f} s CPU; the one pass of keying"
            f" and pricing {wall:.3f} s / {cpu:.3f} s)"
        )
        python_loop = sum(ours) / len(ours) * n_bulk / 1e6
        print(f"  (our Python cost function in a loop: {python_loop:.1f} s)")
    print(load())
    return 0


if __name__ == "__main__":
    sys.exit(main())
