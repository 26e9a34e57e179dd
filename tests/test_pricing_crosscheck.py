"""Cross-check against genai-prices' own calculation on the SAME price data.

The genai-prices data file (v2 JSON, frozen in /work/shared/upstream) is imported into a
catalog with our importer (engine/importers/genai_prices.py); genai-prices prices with its own
pydantic types validating that same JSON (``ModelInfo.calc_price``). For every model, usages are
generated over the keys the model prices, at timestamps before/after each dated price change and
around each daily window, with input tokens just below / at / above each tier threshold; totals
must be identical. The upstream data has no price variants, so service tiers are cross-checked on
a small genai-format file with flex and batch variants, imported the same way.
"""

from __future__ import annotations

import json
import random
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import types as gt
from genai_prices.units import _get_registry

from byokvault.engine.catalog.store import open_catalog
from byokvault.engine.importers.genai_prices import import_genai_prices
from byokvault.engine.importers.run import apply_imports
from byokvault.engine.importers.sources import load_sources
from byokvault.engine.pricing.cost import PricingContext, price_usage
from byokvault.engine.pricing.index import PriceIndex
from byokvault.engine.pricing.usage import USAGE_KEYS, Usage, strict_wholes

GENAI_FILE = "genai-prices-47df840a-data-v2.json"
# The frozen upstream file (/work/shared/upstream, beside the repo or its worktrees); a clone
# without it cross-checks the data bundled in the installed genai-prices package instead.
CANDIDATES = [
    Path(__file__).resolve().parents[n] / "shared" / "upstream" / GENAI_FILE for n in (2, 3)
]
SAMPLES_PER_TIMESTAMP = 6


def import_both(raw: list | None, root: Path) -> tuple[PriceIndex, list]:
    """Our index from the importer, and genai-prices' providers, from the same data (the JSON
    validated by genai-prices' own types, or the package's bundled providers when None)."""
    if raw is None:
        from genai_prices.data import providers

        theirs = providers
    else:
        theirs = gt._providers_from_raw(raw)
    catalog = root / "catalog"
    apply_imports(catalog, [import_genai_prices(raw if raw is not None else theirs)])
    _catalog, con = open_catalog(catalog, root / "snaps")
    return PriceIndex.from_connection(con), theirs


def priced_keys(model: gt.ModelInfo) -> tuple[set[str], set[int]]:
    """Usage keys the model prices anywhere (any date or variant), and its tier starts."""
    registry = _get_registry()
    sets = [model.prices] if isinstance(model.prices, gt.ModelPrice) else [
        c.prices for c in model.prices
    ]  # fmt: skip
    sets += [v.prices for v in model.price_variants or ()]
    keys, starts = set(), set()
    for prices in sets:
        for key, value in prices.__dict__.items():
            if value is None or key.startswith("_"):
                continue
            keys.add(registry.unit_for_price_key(key).usage_key)
            if isinstance(value, gt.TieredPrices):
                starts.update(t.start for t in value.tiers)
    return keys, starts


def timestamps(model: gt.ModelInfo, rng: random.Random) -> list[datetime]:
    out = [datetime(2025, 3, 1, 12, tzinfo=UTC), datetime(2026, 11, 1, 3, tzinfo=UTC)]
    constraints = (
        [] if isinstance(model.prices, gt.ModelPrice) else [c.constraint for c in model.prices]
    )
    constraints += [v.constraint for v in model.price_variants or ()]
    for constraint in constraints:
        if isinstance(constraint, gt.StartDateConstraint):
            start = datetime.combine(constraint.start_date, datetime.min.time(), UTC)
            out += [start - timedelta(seconds=1), start, start + timedelta(days=3)]
        elif isinstance(constraint, gt.TimeOfDateConstraint):
            for hour in range(24):
                out.append(datetime(2025, 3, 1, hour, rng.choice([0, 29, 30, 31]), tzinfo=UTC))
    return out


def random_usage(keys: set[str], starts: set[int], rng: random.Random) -> dict[str, int]:
    """A consistent usage over ``keys``: each part added together with its wholes."""
    data: dict[str, int] = {}
    if "input_tokens" in keys:
        near = [s + o for s in starts for o in (-1, 0, 1)]
        data["input_tokens"] = (
            rng.choice(near) if near and rng.random() < 0.5 else rng.randrange(400_000)
        )
    if "output_tokens" in keys:
        data["output_tokens"] = rng.randrange(20_000)
    parts = sorted(k for k in keys if k not in ("input_tokens", "output_tokens", "requests"))
    if "output_tokens" in keys and "output_reasoning_tokens" not in keys:
        parts.append("output_reasoning_tokens")  # unpriced reasoning is output (both agree)
    for key in parts:
        if rng.random() < 0.5:
            amount = rng.randrange(1, 5000)
            for k in (key, *strict_wholes(key)):
                data[k] = data.get(k, 0) + amount
    if "cache_read_tokens" in data and "input_audio_tokens" in data:
        data.setdefault("cache_audio_read_tokens", 0)  # genai-prices wants the overlap stated
    return data


def ours_usage(index: PriceIndex, key: tuple[str, str], data: dict[str, int]) -> Usage:
    rows = index.models[key].rows
    if "embedding_tokens" in rows and "input_tokens" not in rows:
        # the importer prices embedding models on embedding_tokens (our vocabulary)
        data = {**data, "embedding_tokens": data.get("input_tokens", 0), "input_tokens": 0}
    return Usage(**data)


def not_comparable(index: PriceIndex, key: tuple[str, str], keys: set[str]) -> str | None:
    """Why a model cannot be priced the same way by both, if it cannot."""
    if keys - set(USAGE_KEYS):
        return f"priced on keys our unit registry lacks: {sorted(keys - set(USAGE_KEYS))}"
    rows = index.models[key].rows
    if "embedding_tokens" in rows and keys - {"input_tokens", "output_tokens", "requests"}:
        return "multimodal embedding input (our embedding_tokens has no modality parts)"
    return None


def compare(index: PriceIndex, providers: list, seed: int, contexts: list[dict]) -> dict:
    rng = random.Random(seed)
    config = load_sources()
    report: dict = {"equal": 0, "diff": [], "not_comparable": [], "models": 0}
    for provider in providers:
        provider_id = config.provider_id("genai-prices", provider.id)
        for model in provider.models:
            key = (provider_id, index.resolve(provider_id, model.id))  # by its source name
            keys, starts = priced_keys(model)
            reason = not_comparable(index, key, keys)
            if reason:
                report["not_comparable"].append((provider.id, model.id, reason))
                continue
            report["models"] += 1
            for at in timestamps(model, rng):
                for _ in range(SAMPLES_PER_TIMESTAMP):
                    data = random_usage(keys, starts, rng)
                    price_context = rng.choice(contexts)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        theirs = model.calc_price(
                            gt.Usage(**data),
                            provider,
                            genai_request_timestamp=at,
                            price_context=price_context or None,
                        ).total_price
                    tier = {"batch": "batch"}.get(price_context.get("processing", ""))
                    tier = tier or price_context.get("service_tier", "standard")
                    ours = price_usage(
                        index, *key, ours_usage(index, key, data), at, PricingContext(tier)
                    ).total
                    if ours == theirs:
                        report["equal"] += 1
                    else:
                        report["diff"].append((provider.id, model.id, data, at, ours, theirs))
    return report


@pytest.mark.slow
def test_identical_totals_on_all_genai_prices_models(tmp_path: Path) -> None:
    found = [p for p in CANDIDATES if p.is_file()]
    raw = json.loads(found[0].read_text(), parse_float=Decimal) if found else None
    index, providers = import_both(raw, tmp_path)
    report = compare(index, providers, seed=11, contexts=[{}])
    assert not report["diff"], f"{len(report['diff'])} differ, e.g. {report['diff'][:3]}"
    total_models = sum(len(p.models) for p in providers)
    # every model is compared but the few priced on keys our unit registry does not have
    assert report["models"] + len(report["not_comparable"]) == total_models
    assert len(report["not_comparable"]) <= 0.01 * total_models, report["not_comparable"]
    assert report["equal"] > 10 * report["models"]


VARIANTS = [
    {
        "id": "acme",
        "name": "Acme",
        "api_pattern": "https://api\\.acme\\.example",
        "models": [
            {
                "id": "acme-large",
                "match": {"or": [{"equals": "acme-large"}, {"starts_with": "acme-large-"}]},
                "prices": [
                    {
                        "prices": {
                            "input_mtok": {"base": 2, "tiers": [{"start": 100000, "price": 4}]},
                            "cache_read_mtok": 0.2,
                            "output_mtok": 8,
                        }
                    },
                    {
                        "constraint": {"start_date": "2025-06-01"},
                        "prices": {"input_mtok": 1.5, "cache_read_mtok": 0.15, "output_mtok": 6},
                    },
                ],
                "price_variants": [
                    {
                        "when": {"service_tier": "flex"},
                        "prices": {"input_mtok": 1, "output_mtok": 4},
                    },
                    {
                        "when": {"processing": "batch"},
                        "prices": {"input_mtok": 0.75, "cache_read_mtok": 0.1, "output_mtok": 3},
                    },
                ],
            }
        ],
    }
]


def test_identical_totals_with_service_tier_variants(tmp_path: Path) -> None:
    raw = json.loads(json.dumps(VARIANTS), parse_float=Decimal)
    index, providers = import_both(raw, tmp_path)
    contexts = [{}, {"service_tier": "flex"}, {"processing": "batch"}]
    report = compare(index, providers, seed=5, contexts=contexts)
    assert not report["diff"], report["diff"][:3]
    assert report["equal"] >= 30
