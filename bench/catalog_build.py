"""Catalog build and load time: the bundled catalog and a synthetic big one.

    .venv/bin/python bench/catalog_build.py            # 10,000 models x 20 price rows
    .venv/bin/python bench/catalog_build.py --quick    # 1,000 models x 20 price rows

Phases timed: load (parse + validate YAML), build (Parquet snapshot), DuckDB load of the
snapshot, and a cached rebuild (unchanged files: the source-hash index skips validation).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

from byokvault.engine.catalog.load import load_catalog
from byokvault.engine.catalog.store import build, load_snapshot
from byokvault.engine.catalog.yamlio import load_plain, parse_yaml, to_plain
from byokvault.engine.paths import BUNDLED_CATALOG

T = TypeVar("T")

# 20 rows per model: 4 dimensions x (standard, batch, flex, priority) + 4 long-context rows,
# the input and output standard rows each with an older row in their history.
DIMENSIONS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
TIERS = ("batch", "flex", "priority")


def synthetic_provider(provider: int, models: int) -> str:
    lines = [
        "# yaml-language-server: $schema=../schema/provider.schema.json",
        f"id: synth-{provider:03d}",
        f"name: Synthetic {provider}",
        "kind: cloud",
        "api_style: openai-compatible",
        f"base_url: https://api.synth-{provider:03d}.test/v1",
        "auth: {scheme: bearer}",
        "pricing_urls: [https://synth.test/pricing]",
        "models:",
    ]
    for m in range(models):
        lines += [
            f"  - id: model-{m:05d}",
            f"    name: Model {m}",
            "    mode: chat",
            f"    aliases: [model-{m:05d}-latest]",
            "    modalities: {input: [text, image], output: [text]}",
            "    capabilities: [text.chat, vision.multi_image, tools.function_calling]",
            "    limits: {context_window: 200000, max_output_tokens: 8192}",
            "    lifecycle: {released: 2025-01-15}",
            "    prices:",
        ]
        lines += _rows(provider * 100_000 + m)
    return "\n".join(lines) + "\n"


def _row(dimension: str, amount: str, when: str, conditions: str = "") -> list[str]:
    out = [f"      - dimension: {dimension}", f"        amount: {amount}"]
    out.append(f"        effective_from: {when}")
    if conditions:
        out.append(f"        conditions: {conditions}")
    out.append(
        "        provenance: {source: https://synth.test/pricing, recorded_at: " + when + "}"
    )
    return out


def _rows(seed: int) -> list[str]:
    base = 0.05 + (seed % 997) / 100
    lines: list[str] = []
    for k, dimension in enumerate(DIMENSIONS):
        rate = base * (1, 4, 0.1, 1.25)[k]
        if k < 2:  # price history: an older, higher row
            lines += _row(dimension, f"{rate * 1.5:.6f}", "2024-06-01T00:00:00Z")
        lines += _row(dimension, f"{rate:.6f}", "2025-01-15T00:00:00Z")
        for tier in TIERS:
            factor = {"batch": 0.5, "flex": 0.5, "priority": 1.75}[tier]
            lines += _row(
                dimension,
                f"{rate * factor:.6f}",
                "2025-01-15T00:00:00Z",
                f"{{service_tier: {tier}}}",
            )
    for dimension in DIMENSIONS[:2]:
        lines += _row(
            dimension,
            f"{base * 2:.6f}",
            "2025-01-15T00:00:00Z",
            "{long_context: {threshold: 200000, inclusive: false}}",
        )
    return lines


def write_synthetic_catalog(root: Path, models: int, per_file: int = 100) -> Path:
    """A valid catalog of ``models`` models (20 price rows each) in files of ``per_file``."""
    shutil.copytree(BUNDLED_CATALOG, root, ignore=shutil.ignore_patterns("providers"))
    (root / "providers").mkdir()
    for provider in range((models + per_file - 1) // per_file):
        count = min(per_file, models - provider * per_file)
        (root / "providers" / f"synth-{provider:03d}.yaml").write_text(
            synthetic_provider(provider, count)
        )
    return root


def timed(label: str, fn: Callable[[], T]) -> tuple[T, float]:
    """Run ``fn``; print wall and CPU seconds (CPU time stays meaningful on a busy machine).
    Returns the CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"  {label:<34} {wall:8.3f} s wall {cpu:8.3f} s cpu")
    return result, cpu


def compare_readers(catalog_dir: Path, sample: int) -> None:
    """The fast reader against the round-trip reader (the only reader before) on the same
    files: parse to plain data, no validation."""
    files = sorted((catalog_dir / "providers").glob("*.yaml"))[:sample]
    texts = [f.read_text() for f in files]
    mb = sum(len(t) for t in texts) / 1e6
    print(f"  readers on {len(files)} provider files ({mb:.1f} MB):")
    _, fast = timed("fast reader (libyaml events)", lambda: [load_plain(t, "x") for t in texts])
    _, slow = timed(
        "round-trip reader (positions)", lambda: [to_plain(parse_yaml(t, "x")) for t in texts]
    )
    print(f"  fast reader speed-up: {slow / fast:6.1f}x ({mb / fast:.1f} vs {mb / slow:.1f} MB/s)")


def measure(name: str, catalog_dir: Path, work: Path) -> dict[str, float]:
    files = sorted(catalog_dir.rglob("*.yaml"))
    size = sum(f.stat().st_size for f in files) / 1e6
    print(f"{name}: {len(files)} YAML files, {size:.1f} MB")
    catalog, t_load = timed("load + validate", lambda: load_catalog(catalog_dir))
    rows = sum(len(m.prices) for _p, m in catalog.models())
    models = sum(1 for _ in catalog.models())
    print(f"  ({models} models, {rows} price rows)")
    out = work / f"snaps-{name}"
    (_, snapshot), t_build = timed("build (load + Parquet, cold)", lambda: build(catalog_dir, out))
    _, t_cached = timed("build again (unchanged files)", lambda: build(catalog_dir, out))
    con = duckdb.connect(":memory:")
    _, t_duck = timed("DuckDB load of the snapshot", lambda: load_snapshot(con, snapshot.path))
    assert con.sql("select count(*) from prices").fetchone() == (rows,)
    print(f"  cold build / cached build: {t_build / t_cached:6.1f}x")
    return {"load": t_load, "build": t_build, "cached": t_cached, "duckdb": t_duck}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 synthetic models")
    parser.add_argument("--models", type=int, default=None)
    args = parser.parse_args()
    models = args.models or (1_000 if args.quick else 10_000)
    with tempfile.TemporaryDirectory(prefix="byokvault-bench-") as tmp:
        work = Path(tmp)
        measure("bundled", BUNDLED_CATALOG, work)
        big = write_synthetic_catalog(work / "synthetic", models)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        measure(f"synthetic-{models}", big, work)
        compare_readers(big, sample=1 if args.quick else 3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
