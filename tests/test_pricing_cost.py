from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_pricing_support import acme_index, build_index, model, provider, row

from byokvault.engine.pricing.cost import (
    AmbiguousPriceError,
    PricingContext,
    UnpricedError,
    price_usage,
)
from byokvault.engine.pricing.index import PriceIndex, PricingError, UnknownModelError
from byokvault.engine.pricing.usage import PARTS, Usage, UsageError, strict_wholes

__all__ = ["acme_index"]  # the fixture, imported for pytest

JAN = datetime(2025, 1, 1, 12, tzinfo=UTC)
JUL = datetime(2025, 7, 1, 12, tzinfo=UTC)
M = Decimal(1_000_000)


def items(breakdown) -> dict[str, tuple]:
    return {i.usage_key: (i.quantity, i.unit_price, i.amount) for i in breakdown.line_items}


def test_line_items_are_exact_and_add_up(acme_index: PriceIndex) -> None:
    b = price_usage(acme_index, "acme", "chat", Usage(input_tokens=1234, output_tokens=567), JAN)
    got = items(b)
    assert got["input_tokens"][0] == 1234 and got["input_tokens"][2] == Decimal("1234") / M
    assert got["output_tokens"][2] == Decimal(567 * 4) / M
    assert b.total == sum(i.amount for i in b.line_items)
    assert b.currency == "USD" and b.catalog_version == acme_index.catalog_version
    assert all(i.price_id.startswith("pr_") for i in b.line_items)


def test_cache_write_replaces_input_rate_and_reads_are_discounted(acme_index) -> None:
    usage = Usage(
        input_tokens=1000,
        cache_read_tokens=300,
        cache_write_tokens=200,
        cache_write_1h_tokens=50,
        output_tokens=10,
    )
    got = items(price_usage(acme_index, "acme", "chat", usage, JAN))
    assert got["input_tokens"][0] == 500  # 1000 - 300 read - 200 written
    assert got["cache_read_tokens"][0] == 300
    assert got["cache_write_tokens"][0] == 150  # the 1-hour writes leave the 5-minute rate
    assert got["cache_write_1h_tokens"][0] == 50
    assert got["cache_write_1h_tokens"][1] == Decimal(2)  # never at the 5-minute rate


def test_price_change_applies_by_timestamp(acme_index) -> None:
    usage = Usage(input_tokens=100_000)  # below the long-context threshold
    assert price_usage(acme_index, "acme", "chat", usage, JAN).total == Decimal("0.100")
    assert price_usage(acme_index, "acme", "chat", usage, JUL).total == Decimal("0.080")
    boundary = datetime(2025, 6, 1, tzinfo=UTC)
    assert price_usage(acme_index, "acme", "chat", usage, boundary).total == Decimal("0.08")
    before = boundary - timedelta(microseconds=1)
    assert price_usage(acme_index, "acme", "chat", usage, before).total == Decimal("0.1")
    # an offset timestamp is the same instant
    paris = boundary.astimezone(timezone(timedelta(hours=2)))
    assert price_usage(acme_index, "acme", "chat", usage, paris).total == Decimal("0.08")


def test_nothing_in_force_before_the_first_price(acme_index) -> None:
    with pytest.raises(UnpricedError, match="acme/chat: input_tokens is unpriced"):
        price_usage(
            acme_index, "acme", "chat", Usage(input_tokens=1), datetime(2020, 1, 1, tzinfo=UTC)
        )


def test_long_context_cliff_exclusive(acme_index) -> None:
    at_threshold = Usage(input_tokens=200_000, output_tokens=1000)
    above = Usage(input_tokens=200_001, output_tokens=1000)
    below = items(price_usage(acme_index, "acme", "chat", at_threshold, JAN))
    over = items(price_usage(acme_index, "acme", "chat", above, JAN))
    assert below["input_tokens"][1] == Decimal(1) and below["output_tokens"][1] == Decimal(4)
    # a cliff: every token of the call gets the tier rate, output included
    assert over["input_tokens"][1] == Decimal(2) and over["output_tokens"][1] == Decimal(6)


def test_long_context_threshold_counts_cached_tokens(acme_index) -> None:
    usage = Usage(input_tokens=250_000, cache_read_tokens=100_000)
    got = items(price_usage(acme_index, "acme", "chat", usage, JAN))
    assert got["input_tokens"] == (150_000, Decimal(2), Decimal("0.3"))
    assert got["cache_read_tokens"][1] == Decimal("0.2")


def test_long_context_cliff_inclusive(acme_index) -> None:
    def rate(n: int) -> Decimal:
        got = items(price_usage(acme_index, "acme", "inclusive", Usage(input_tokens=n), JAN))
        return got["input_tokens"][1]

    assert (rate(999), rate(1000), rate(1001)) == (Decimal(1), Decimal(3), Decimal(3))


def test_service_tier_overrides_listed_dimensions_only(acme_index) -> None:
    usage = Usage(input_tokens=1000, cache_read_tokens=100, output_tokens=100)
    got = items(
        price_usage(acme_index, "acme", "chat", usage, JAN, PricingContext(service_tier="flex"))
    )
    assert got["input_tokens"][1] == Decimal("0.5") and got["output_tokens"][1] == Decimal(2)
    assert got["cache_read_tokens"][1] == Decimal("0.1")  # no flex row: the standard rate


def test_a_tier_the_model_does_not_offer_is_unpriced(acme_index) -> None:
    with pytest.raises(UnpricedError, match="service_tier=priority"):
        price_usage(
            acme_index, "acme", "chat", Usage(input_tokens=1), JAN, PricingContext("priority")
        )


def test_region_row_wins_in_its_region_only(acme_index) -> None:
    usage = Usage(input_tokens=100_000, output_tokens=100_000)
    eu = price_usage(acme_index, "acme", "chat", usage, JAN, PricingContext(region="eu-west-1"))
    us = price_usage(acme_index, "acme", "chat", usage, JAN, PricingContext(region="us-east-1"))
    assert items(eu)["input_tokens"][1] == Decimal("0.7")
    assert items(eu)["output_tokens"][1] == Decimal(4)  # default row: no regional output price
    assert items(us)["input_tokens"][1] == Decimal(1)


@pytest.mark.parametrize(
    ("hour", "minute", "rate"),
    [(16, 29, "0.27"), (16, 30, "0.135"), (23, 59, "0.135"), (0, 29, "0.135"), (0, 30, "0.27")],
)
def test_time_window_wraps_past_midnight(acme_index, hour: int, minute: int, rate: str) -> None:
    at = datetime(2025, 3, 3, hour, minute, tzinfo=UTC)
    got = items(price_usage(acme_index, "acme", "cheap-window", Usage(input_tokens=10), at))
    assert got["input_tokens"][1] == Decimal(rate)


def test_time_window_is_utc(acme_index) -> None:
    tokyo = datetime(2025, 3, 4, 2, 0, tzinfo=timezone(timedelta(hours=9)))  # 17:00 UTC
    got = items(price_usage(acme_index, "acme", "cheap-window", Usage(input_tokens=10), tokyo))
    assert got["input_tokens"][1] == Decimal("0.135")


@pytest.mark.parametrize(
    ("size", "quality", "price"),
    [
        (None, None, "0.04"),
        ("1024x1024", "standard", "0.04"),
        ("1024x1792", None, "0.08"),
        ("1024x1792", "standard", "0.08"),
        ("1024x1792", "hd", "0.12"),
    ],
)
def test_image_qualifiers_pick_the_most_specific_row(acme_index, size, quality, price) -> None:
    ctx = PricingContext(image_size=size, image_quality=quality)
    b = price_usage(acme_index, "acme", "img", Usage(output_images=3), JAN, ctx)
    assert b.total == 3 * Decimal(price)


def test_video_needs_its_resolution(acme_index) -> None:
    ctx = PricingContext(video_resolution="1080p")
    usage = Usage(output_video_seconds=Decimal("2.5"))
    assert price_usage(acme_index, "acme", "video", usage, JAN, ctx).total == Decimal("0.75")
    with pytest.raises(UnpricedError, match="output_video_seconds"):
        price_usage(acme_index, "acme", "video", usage, JAN)


def test_unpriced_dimension_fails_closed(acme_index) -> None:
    with pytest.raises(UnpricedError) as err:
        price_usage(acme_index, "acme", "chat", Usage(output_images=1), JAN)
    assert (err.value.provider_id, err.value.model_id, err.value.dimension) == (
        "acme",
        "chat",
        "output_images",
    )
    # a part that costs more than its whole never silently falls back to the whole's rate
    with pytest.raises(UnpricedError, match="output_audio_tokens"):
        price_usage(acme_index, "acme", "chat", Usage(output_tokens=10, output_audio_tokens=5), JAN)
    with pytest.raises(UnpricedError, match="embedding_tokens"):
        price_usage(acme_index, "acme", "chat", Usage(embedding_tokens=5), JAN)


def test_cheap_parts_fall_back_to_their_whole(acme_index) -> None:
    # reasoning tokens are output tokens; the model has no reasoning price
    usage = Usage(input_tokens=10, output_tokens=100, output_reasoning_tokens=60)
    got = items(price_usage(acme_index, "acme", "chat", usage, JAN))
    assert got == {
        "input_tokens": (10, Decimal(1), Decimal(10) / M),
        "output_tokens": (100, Decimal(4), Decimal(400) / M),
    }
    # a cached read on a model without a cache price is an ordinary input token
    got = items(
        price_usage(
            acme_index, "acme", "per-request", Usage(input_tokens=10, cache_read_tokens=4), JAN
        )
    )
    assert got["input_tokens"][0] == 10


def test_explicit_zero_is_a_price(acme_index) -> None:
    b = price_usage(acme_index, "homelab", "llama", Usage(input_tokens=10**6, output_tokens=5), JAN)
    assert b.total == 0 and {i.usage_key for i in b.line_items} == {"input_tokens", "output_tokens"}


def test_per_request_fee_only_when_priced(acme_index) -> None:
    got = items(price_usage(acme_index, "acme", "per-request", Usage(input_tokens=1), JAN))
    assert got["requests"] == (1, Decimal(5), Decimal("0.005"))
    assert "requests" not in items(
        price_usage(acme_index, "acme", "chat", Usage(input_tokens=1), JAN)
    )


def test_unknown_model_and_naive_time(acme_index) -> None:
    with pytest.raises(UnknownModelError, match="'nope'"):
        price_usage(acme_index, "acme", "nope", Usage(), JAN)
    with pytest.raises(PricingError, match="no timezone"):
        price_usage(acme_index, "acme", "chat", Usage(), datetime(2025, 1, 1))


def test_resolve_by_alias_and_match_rules(tmp_path: Path) -> None:
    extra = (
        "    aliases: [Vendor-Model-V1]\n"
        "    match: [{starts_with: vendor-model-2025}, {contains: '@v1'}, {equals: legacy-name}]\n"
    )
    text = provider("v", [model("m1", row("input_tokens", "1"), extra=extra)])
    index, _ = build_index(tmp_path / "catalog", {"v": text})
    for name in ("m1", "vendor-model-v1", "vendor-model-2025-01-01", "x@v1", "LEGACY-NAME"):
        assert index.resolve("v", name) == "m1"
    with pytest.raises(UnknownModelError):
        index.resolve("v", "other")


def test_equally_specific_rows_are_an_error(tmp_path: Path) -> None:
    rows = row("output_images", "1", image_size="1024x1024") + row(
        "output_images", "2", image_quality="hd"
    )
    index, _ = build_index(tmp_path / "catalog", {"v": provider("v", [model("m", rows)])})
    ctx = PricingContext(image_size="1024x1024", image_quality="hd")
    with pytest.raises(AmbiguousPriceError, match="several output_images rows"):
        price_usage(index, "v", "m", Usage(output_images=1), JAN, ctx)


# --- properties ---------------------------------------------------------------------------

TOKEN_KEYS = sorted(PARTS)
CHAT_KEYS = [
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "output_reasoning_tokens",
    "web_searches",
]


def add(usage: Usage, key: str, amount: int) -> Usage:
    """``amount`` more of ``key``: the key and every whole that contains it grow together."""
    data = usage.as_dict()
    for k in (key, *strict_wholes(key)):
        data[k] += amount
    return Usage(**data)


@st.composite
def chat_usages(draw) -> Usage:
    usage = Usage(input_tokens=draw(st.integers(0, 400_000)))
    for key in CHAT_KEYS:
        usage = add(usage, key, draw(st.integers(0, 50_000)))
    return usage


CONTEXTS = st.builds(
    PricingContext,
    service_tier=st.sampled_from(["standard", "flex"]),
    region=st.sampled_from([None, "eu-west-1"]),
)
WHEN = st.datetimes(
    min_value=datetime(2024, 6, 1), max_value=datetime(2026, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chat_usages(), st.sampled_from(CHAT_KEYS), st.integers(1, 300_000), WHEN, CONTEXTS)
def test_cost_never_decreases_when_usage_grows(acme_index, usage, key, more, at, ctx) -> None:
    before = price_usage(acme_index, "acme", "chat", usage, at, ctx).total
    after = price_usage(acme_index, "acme", "chat", add(usage, key, more), at, ctx).total
    assert after >= before


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chat_usages(), WHEN, CONTEXTS)
def test_every_token_is_charged_exactly_once(acme_index, usage, at, ctx) -> None:
    b = price_usage(acme_index, "acme", "chat", usage, at, ctx)
    charged: dict[str, int] = {"input": 0, "output": 0}
    for item in b.line_items:
        if item.usage_key in PARTS:
            direction = "input" if "input" in PARTS[item.usage_key] else "output"
            charged[direction] += item.quantity
        assert item.amount == item.quantity * item.unit_price / item.per
    assert charged == {"input": usage.input_tokens, "output": usage.output_tokens}


def test_impossible_usage_never_reaches_pricing() -> None:
    with pytest.raises(UsageError):
        Usage(input_tokens=5, cache_read_tokens=4, cache_write_tokens=2)
