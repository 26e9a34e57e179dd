"""The compiled price plans (engine/pricing/plan.py) give exactly the reference path's results,
and the fast usage validation accepts and refuses exactly what the full one does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_pricing_support import ACME, HOMELAB, build_index, model, provider, row
from test_pricing_twin import random_rows

from byokvault.engine.pricing import plan
from byokvault.engine.pricing.cost import PricingContext, price_model, price_usage
from byokvault.engine.pricing.index import PriceIndex, PricingError
from byokvault.engine.pricing.usage import (
    _PART_KEYS,
    PARTS,
    USAGE_KEYS,
    Usage,
    UsageError,
    _check_parts,
    _parts_fit,
)


def outcome(fn, *args) -> object:
    try:
        return fn(*args)
    except PricingError as exc:
        return (type(exc).__name__, str(exc))


def both(index: PriceIndex, provider_id: str, model_id: str, usage, at, context) -> tuple:
    planned = outcome(price_usage, index, provider_id, model_id, usage, at, context)
    m = index.model(provider_id, model_id)
    reference = outcome(
        price_model, m, index.dimension_for_key, index.catalog_version, usage, at, context
    )
    return planned, reference


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> PriceIndex:
    root = tmp_path_factory.mktemp("plan") / "catalog"
    return build_index(root, {"acme": ACME, "homelab": HOMELAB})[0]


def test_compiled_plan_equals_reference_on_random_calls(index: PriceIndex) -> None:
    rows = [r for r in random_rows(30_000, seed=11) if r["model_id"] != "gone"]
    kinds: dict[str, int] = {}
    for r in rows:
        context = PricingContext(
            r["service_tier"], r["region"], r["image_size"], r["image_quality"],
            r["video_resolution"],
        )  # fmt: skip
        usage = Usage(**{k: r[k] for k in USAGE_KEYS})
        planned, reference = both(index, r["provider_id"], r["model_id"], usage, r["at"], context)
        assert planned == reference, r
        kind = reference[0] if isinstance(reference, tuple) else "priced"
        kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds["priced"] > len(rows) // 3 and kinds["UnpricedError"] > 100


@pytest.mark.parametrize(
    ("at", "tokens"),
    [
        # every cell edge of the test catalog: price change, windows, thresholds (both sides)
        (datetime(2025, 6, 1, tzinfo=UTC) - timedelta(microseconds=d), n)
        for d in (0, 1)
        for n in (0, 999, 1000, 1001, 200_000, 200_001)
    ]
    + [(datetime(2025, 1, 1, h, m, s, tzinfo=UTC), 10) for h, m, s in
       [(0, 0, 0), (0, 29, 59), (0, 30, 0), (16, 29, 59), (16, 30, 0), (23, 59, 59)]],
)  # fmt: skip
def test_compiled_plan_equals_reference_at_every_edge(index: PriceIndex, at, tokens) -> None:
    for provider_id, model_id in index.models:
        for tier in ("standard", "flex", "priority"):
            usage = Usage(input_tokens=tokens, cache_read_tokens=min(tokens, 7), output_tokens=3)
            planned, reference = both(index, provider_id, model_id, usage, at, PricingContext(tier))
            assert planned == reference, (provider_id, model_id, tier)


def test_a_plan_is_compiled_once_per_context(index: PriceIndex) -> None:
    m = index.model("acme", "chat")
    first = plan.plan_for(m, index.dimension_for_key, PricingContext())
    assert plan.plan_for(m, index.dimension_for_key, PricingContext()) is first
    assert plan.plan_for(m, index.dimension_for_key, PricingContext("flex")) is not first


def test_ambiguity_is_raised_through_the_plan(tmp_path: Path) -> None:
    rows = (
        row("input_tokens", "1")
        + row("output_images", "1", image_size="1024x1024")
        + row("output_images", "2", "2025-01-01T00:00:00Z", image_quality="hd")
    )
    index = build_index(tmp_path / "catalog", {"amb": provider("amb", [model("m", rows)])})[0]
    eu = PricingContext(image_size="1024x1024", image_quality="hd")
    for at in (datetime(2024, 6, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)):
        for usage in (Usage(input_tokens=5), Usage(output_images=5)):
            planned, reference = both(index, "amb", "m", usage, at, eu)
            assert planned == reference
    planned, _ = both(
        index, "amb", "m", Usage(output_images=1), datetime(2025, 6, 1, tzinfo=UTC), eu
    )
    assert planned[0] == "AmbiguousPriceError"  # type: ignore[index]


TOKEN_KEYS = sorted(PARTS)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(TOKEN_KEYS), st.integers(0, 50), max_size=6))
def test_fast_part_check_agrees_with_the_full_one(values: dict[str, int]) -> None:
    """Any pattern of token quantities, possible or not: both checks agree."""
    # a stand-in with the same attributes, built without Usage's own validation
    usage = SimpleNamespace(**{k: values.get(k, 0) for k in USAGE_KEYS})
    try:
        _check_parts(usage)
        full = True
    except UsageError:
        full = False
    part_values = tuple(getattr(usage, k) for k in _PART_KEYS)
    assert (not any(part_values) or _parts_fit(usage, part_values)) is full


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_tokens": 0.0}, "is a float"),
        ({"output_tokens": 1.5}, "is a float"),
        ({"input_tokens": True}, "must be a number"),
        ({"input_tokens": "12"}, "must be a number"),
        ({"input_tokens": None}, "must be a number"),
        ({"input_tokens": -1}, "negative"),
        ({"input_tokens": 10**12 + 1}, "implausibly large"),
        ({"input_tokens": Decimal("1.5")}, "whole units"),
        ({"input_tokens": 5, "cache_read_tokens": 6}, "exceeds input_tokens"),
    ],
)
def test_fast_validation_still_refuses(kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Usage(**kwargs)


def test_fast_validation_accepts_decimal_durations_and_integral_decimals() -> None:
    assert Usage(output_video_seconds=Decimal("1.25")).output_video_seconds == Decimal("1.25")
    assert Usage(input_tokens=Decimal(3)).input_tokens == 3
