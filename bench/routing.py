"""Route decision latency: the SQL definition beside the fast path, on the committed catalog and
on a synthetic 100k-model catalog, in the same run.

    .venv/bin/python bench/routing.py [--quick]

Figures (median / p99, microseconds):
  sql              one Router.route_sql call (one DuckDB query) per decision
  repeated shape   FastRouter.route for a request shape seen before (memoized decision)
  new tokens top1  a new token count on a known capability set: the best candidate (what the
                   gateway routes to), vectorized selection + exact confirmation
  new tokens full  the same, every candidate and exclusion (what /v1/route lists)
  new caps top1    the first request of a new capability set (plan built in memory; the
                   usage keys' rate card already built)
  new caps full    the same, full decision
  rate card        once per (usage keys, price context, time interval): one twin query
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import astuple
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from byokvault.engine.catalog.build import SCHEMAS, catalog_frames
from byokvault.engine.catalog.load import load_catalog
from byokvault.engine.paths import BUNDLED_CATALOG, sql_text
from byokvault.engine.routing.decision import FundSources, RouteDecision
from byokvault.engine.routing.fast import FastRouter
from byokvault.engine.routing.policy import Policies, TenantPolicy
from byokvault.engine.routing.requirements import Requirements
from byokvault.engine.routing.route import Router

AT = datetime(2026, 6, 1, 12, tzinfo=UTC)
COMMON_CAPS = [
    "text.chat",
    "vision.single_image",
    "vision.multi_image",
    "tools.function_calling",
    "tools.parallel_calls",
    "structured_output.json_schema",
    "reasoning.adaptive_thinking",
    "reasoning.extended_thinking",
    "audio.input",
]
POLICIES = Policies(TenantPolicy(), {}, "pol_bench")


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t) / 1000)
    return out


def shapes(rng: random.Random, n: int) -> list[Requirements]:
    out = []
    for _ in range(n):
        caps = frozenset({"text.chat", *rng.sample(COMMON_CAPS, rng.randint(0, 2))})
        tin, tout = rng.randint(50, 150_000), rng.choice([None, 256, 1024, 4096])
        usage = (("input_tokens", tin), ("output_tokens", tout or 1024))
        out.append(Requirements(caps, tin, tout, rng.randint(0, 2), usage))
    return out


def with_tokens(req: Requirements, tin: int) -> Requirements:
    usage = tuple((k, tin if k == "input_tokens" else q) for k, q in req.usage)
    return Requirements(req.capabilities, tin, req.output_tokens, req.images, usage, req.context)


def synthetic_catalog(n_models: int, n_providers: int, seed: int = 7) -> duckdb.DuckDBPyConnection:
    """An in-memory catalog with the real units and taxonomy and ``n_models`` random models."""
    catalog = load_catalog(BUNDLED_CATALOG)
    frames = catalog_frames(catalog)
    rng = random.Random(seed)
    caps_pool = sorted(catalog.taxonomy.capabilities)
    models, model_caps, prices, providers = [], [], [], []
    for p in range(n_providers):
        kind = "local" if p % 40 == 0 else "cloud"
        providers.append(
            {
                "provider_id": f"p{p:03d}",
                "name": f"P{p}",
                "kind": kind,
                "api_style": "openai",
                "base_url": "http://127.0.0.1",
                "auth_scheme": "bearer",
                "auth_header": None,
                "pricing_urls": [],
            }
        )
    ts = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(n_models):
        pid, mid = f"p{i % n_providers:03d}", f"m{i:06d}"
        declared = {"text.chat", *rng.sample(COMMON_CAPS, rng.randint(0, 4))}
        if rng.random() < 0.05:
            declared.add(rng.choice(caps_pool))
        models.append(
            {
                "provider_id": pid,
                "model_id": mid,
                "name": mid,
                "mode": "chat",
                "capability_class": "text",
                "input_modalities": ["text"],
                "output_modalities": ["text"],
                "context_window": rng.choice([8_192, 32_768, 128_000, 200_000, 1_000_000, None]),
                "max_output_tokens": rng.choice([4_096, 8_192, 32_768, None]),
                "max_images_per_request": None,
                "max_audio_seconds": None,
                "max_video_seconds": None,
                "embedding_dimensions": None,
                "released": None,
                "deprecated": datetime(2025, 1, 1).date() if rng.random() < 0.05 else None,
                "retired": None,
            }
        )
        for cap in sorted(catalog.taxonomy.closure(sorted(declared))):
            model_caps.append(
                {
                    "provider_id": pid,
                    "model_id": mid,
                    "capability": cap,
                    "declared": cap in declared,
                }
            )
        if rng.random() < 0.02:
            continue  # unpriced
        amounts = {
            "input_tokens": rng.randint(1, 5000) / 1000,
            "output_tokens": rng.randint(1, 20000) / 1000,
        }
        for dim, amount in amounts.items():
            prices.append(_price(pid, mid, dim, amount, ts, None))
        if rng.random() < 0.1:
            prices.append(
                _price(pid, mid, "input_tokens", amounts["input_tokens"] * 2, ts, 200_000)
            )
    frames.update(
        providers=pl.DataFrame(providers, schema=SCHEMAS["providers"], orient="row"),
        models=pl.DataFrame(models, schema=SCHEMAS["models"], orient="row"),
        model_capabilities=pl.DataFrame(
            model_caps, schema=SCHEMAS["model_capabilities"], orient="row"
        ),
        prices=pl.DataFrame(prices, schema=SCHEMAS["prices"], orient="row"),
    )
    con = duckdb.connect(":memory:")
    con.execute(sql_text("catalog/schema.sql"))
    for name, frame in frames.items():
        con.register("frame", frame)
        con.execute(f"INSERT INTO {name} SELECT * FROM frame")
        con.unregister("frame")
    con.execute("INSERT INTO catalog_meta VALUES ('cat_synthetic')")
    return con


def _price(
    pid: str, mid: str, dim: str, amount: float, ts: datetime, threshold: int | None
) -> dict:
    from decimal import Decimal

    return {
        "price_id": f"pr_{pid}_{mid}_{dim}_{threshold}",
        "provider_id": pid,
        "model_id": mid,
        "dimension": dim,
        "amount": Decimal(str(amount)),
        "currency": "USD",
        "effective_from": ts,
        "effective_to": None,
        "long_context_threshold": threshold,
        "long_context_inclusive": False if threshold else None,
        "service_tier": "standard",
        "window_start": None,
        "window_end": None,
        "region": None,
        "image_size": None,
        "image_quality": None,
        "video_resolution": None,
        "conditions_key": "{}",
        "source": "bench",
        "recorded_at": ts,
    }


def novel_caps(rng: random.Random, seen: set[frozenset[str]]) -> frozenset[str]:
    while True:
        caps = frozenset({"text.chat", *rng.sample(COMMON_CAPS, rng.randint(1, 4))})
        if caps not in seen:
            seen.add(caps)
            return caps


def bench(
    label: str,
    router: Router,
    funds: FundSources,
    n_sql: int,
    n_tokens: int,
    n_caps: int,
    n_full: int,
    n_repeat: int,
) -> None:
    rng = random.Random(1)
    models = router.con.execute("SELECT count(*) FROM models").fetchone()[0]
    print(f"\n{label}: {models:,} models   (load average {os.getloadavg()[0]:.2f})")
    fast = FastRouter(router)
    t = time.perf_counter()
    fast.warm(at=AT)
    card = time.perf_counter() - t
    known: list[Requirements] = []
    while len(known) < 6:  # known capability sets that some model can serve
        (req,) = shapes(rng, 1)
        if fast.route(req, funds=funds, at=AT, top=1).candidates:
            known.append(req)
            fast.route(req, funds=funds, at=AT)
    seen = {r.capabilities for r in known}

    sql_i = iter(known * (n_sql // len(known) + 1))
    sql = timed(lambda: router.route_sql(next(sql_i), funds=funds, at=AT), n_sql)

    def fresh_tokens() -> Requirements:
        return with_tokens(rng.choice(known), rng.randint(50, 150_000))

    def fresh_caps() -> Requirements:
        return Requirements(novel_caps(rng, seen), *astuple(rng.choice(known))[1:])

    def top1(r: Requirements) -> RouteDecision:
        return fast.route(r, funds=funds, at=AT, top=1)

    def full(r: Requirements) -> RouteDecision:
        return fast.route(r, funds=funds, at=AT)

    rows = [
        ("new tokens top1", timed_each(fresh_tokens, top1, n_tokens)),
        ("new tokens full", timed_each(fresh_tokens, full, n_full)),
        ("new caps top1", timed_each(fresh_caps, top1, n_caps)),
        ("new caps full", timed_each(fresh_caps, full, max(3, n_caps // 10))),
    ]
    rep_i = iter(known * (n_repeat // len(known) + 1))
    repeat = percentiles(
        timed(lambda: fast.route(next(rep_i), funds=funds, at=AT, top=1), n_repeat)
    )

    for req in known[:2]:  # the figures are of answers equal to the SQL's
        expected = router.route_sql(req, funds=funds, at=AT)
        assert full(req) == expected
        assert top1(req).candidates == expected.candidates[:1]

    print(f"  {'path':<26} {'n':>6} {'median µs':>12} {'p99 µs':>12} {'sql/median':>11}")
    line(f"sql ({len(sql)} decisions)", sql, sql)
    line("repeated shape", [repeat], sql)
    for name, (routable, unroutable) in rows:
        line(name, routable, sql)
        if unroutable:
            line("  no candidate: exclusions", unroutable, sql)
    print(f"  {'rate card (once per keys)':<26} {1:>6} {card * 1e6:>12,.1f}")
    if router.catalog is not None:
        body = {
            "messages": [{"role": "user", "content": "Summarise this, please. " * 40}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            "max_tokens": 512,
        }
        fast.route(body, funds=funds, at=AT, top=1)
        warm = timed(lambda: fast.route(body, funds=funds, at=AT, top=1), n_repeat)
        line("chat body, repeated", warm, sql)


def line(name: str, samples: list, sql: list[float]) -> None:
    """One figure row; ``samples`` are µs, or one precomputed (median, p99) pair."""
    if not samples:
        print(f"  {name:<26} {0:>6}")
        return
    if samples and isinstance(samples[0], tuple):
        (med, p99), n = samples[0], "-"
    else:
        med, p99 = percentiles(samples)
        n = str(len(samples))
    ratio = statistics.median(sql) / med
    print(f"  {name:<26} {n:>6} {med:>12,.1f} {p99:>12,.1f} {ratio:>10,.0f}×")


def timed_each(
    make: Callable[[], Requirements], fn: Callable[[Requirements], RouteDecision], n: int
) -> tuple[list[float], list[float]]:
    """µs of ``fn`` on ``n`` fresh inputs (made outside the timing), split by whether the
    decision has a candidate (a decision without one lists every exclusion)."""
    routable, unroutable = [], []
    for _ in range(n):
        req = make()
        t = time.perf_counter_ns()
        decision = fn(req)
        elapsed = (time.perf_counter_ns() - t) / 1000
        (routable if decision.candidates else unroutable).append(elapsed)
    return routable, unroutable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (CI smoke)")
    args = parser.parse_args()
    n_synth = 10_000 if args.quick else 100_000

    with tempfile.TemporaryDirectory() as tmp:
        router = Router.open(BUNDLED_CATALOG, Path(tmp), policies=POLICIES)
        kinds = router.con.execute("SELECT provider_id, kind FROM providers").fetchall()
        funds = FundSources(
            platform=frozenset(p for p, k in kinds if k == "cloud"),
            local=frozenset(p for p, k in kinds if k == "local"),
        )
        bench(
            "committed catalog",
            router,
            funds,
            n_sql=10 if args.quick else 40,
            n_tokens=500 if args.quick else 5_000,
            n_caps=30 if args.quick else 100,
            n_full=10 if args.quick else 40,
            n_repeat=2_000 if args.quick else 20_000,
        )

    t = time.perf_counter()
    con = synthetic_catalog(n_synth, 130)
    router = Router(None, con, POLICIES)
    print(f"\n(synthetic catalog generated and loaded in {time.perf_counter() - t:.1f} s)")
    funds = FundSources(
        byok=frozenset(f"p{p:03d}" for p in range(0, 130, 3)),
        platform=frozenset(f"p{p:03d}" for p in range(130) if p % 40),
        local=frozenset({"p000", "p040"}),
    )
    bench(
        f"synthetic {n_synth:,}-model catalog",
        router,
        funds,
        n_sql=3,
        n_tokens=300 if args.quick else 2_000,
        n_caps=10 if args.quick else 30,
        n_full=3,
        n_repeat=2_000 if args.quick else 20_000,
    )


if __name__ == "__main__":
    main()
