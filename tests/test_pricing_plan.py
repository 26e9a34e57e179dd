"""The compiled price plans (engine/pricing/plan.py) give exactly the reference path's results,
and the fast usage validation accepts and refuses exactly what the full one does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
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
    PARTS,
    USAGE_KEYS,
    Usage,
    UsageError,
    _plainly_valid,
    _validate,
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
# Anything a caller might pass as a quantity: plain ints around every bound, and the types the
# full validation refuses or handles key by key (bools, floats, Decimals, None, text).
ANY_QUANTITY = st.one_of(
    st.integers(0, 60),
    st.integers(-3, 3),
    st.integers(10**12 - 3, 10**12 + 3),
    st.integers(2**63, 2**70) | st.integers(-(2**70), -(2**63)),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=0, max_value=99),
    st.none(),
    st.text(max_size=2),
)


def full_validation(values: dict[str, object]) -> bool:
    """Whether the full (key by key) validation accepts these quantities."""
    usage = SimpleNamespace(**{k: values.get(k, 1 if k == "requests" else 0) for k in USAGE_KEYS})
    try:
        _validate(usage, tuple(getattr(usage, k) for k in USAGE_KEYS))  # type: ignore[arg-type]
    except UsageError:
        return False
    return True


def fast_validation(values: dict[str, object]) -> bool:
    return _plainly_valid(tuple(values.get(k, 1 if k == "requests" else 0) for k in USAGE_KEYS))


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(st.sampled_from(USAGE_KEYS), ANY_QUANTITY, max_size=8))
def test_fast_validation_never_accepts_what_the_full_one_refuses(values: dict) -> None:
    if fast_validation(values):
        assert full_validation(values)


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(st.sampled_from(TOKEN_KEYS), st.integers(0, 50), max_size=6))
def test_fast_validation_decides_every_plain_usage_as_the_full_one(values: dict) -> None:
    """Any pattern of small token quantities, possible or not (a part larger than its whole):
    the fast path alone gives the full validation's answer, and Usage agrees."""
    expected = full_validation(values)
    assert fast_validation(values) is expected
    try:
        Usage(**values)
        accepted = True
    except UsageError:
        accepted = False
    assert accepted is expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_tokens": 0.0}, "is a float"),
        ({"output_tokens": 1.5}, "is a float"),
        ({"input_tokens": True}, "must be a number"),
        ({"input_tokens": False}, "must be a number"),
        ({"cache_write_tokens": 5, "cache_write_1h_tokens": 6}, "exceeds cache_write_tokens"),
        ({"output_tokens": 2, "output_reasoning_tokens": 2, "output_audio_tokens": 1}, "add up"),
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


def test_totals_are_exact_beyond_the_default_decimal_precision(tmp_path: Path) -> None:
    """Two line items of 36 significant digits each: the default decimal context (28 digits)
    would round their sum; both paths give the exact sum, digits and exponent."""
    rows = row("input_tokens", "123456.123456789012345678") + row(
        "output_tokens", "987654.987654321098765432"
    )
    index = build_index(tmp_path / "catalog", {"big": provider("big", [model("m", rows)])})[0]
    usage = Usage(input_tokens=999_999_999_999, output_tokens=999_999_999_989)
    planned, reference = both(
        index, "big", "m", usage, datetime(2025, 1, 1, tzinfo=UTC), PricingContext()
    )
    assert planned == reference
    with localcontext(prec=200):
        exact = sum((item.amount for item in planned.line_items), Decimal(0))  # type: ignore[union-attr]
    assert len(exact.as_tuple().digits) > 28
    for breakdown in (planned, reference):
        assert str(breakdown.total) == str(exact)  # type: ignore[union-attr]
