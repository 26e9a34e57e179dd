from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from byokvault.engine.pricing.usage import (
    FALLS_BACK_TO_WHOLE,
    PARTS,
    USAGE_KEYS,
    Usage,
    UsageError,
    strict_parts,
    strict_wholes,
)


def test_genai_prices_key_names_are_kept() -> None:
    # The genai-prices Usage keys we price carry their names and meaning unchanged.
    from genai_prices.data_units import unit_data

    shared = set(USAGE_KEYS) & set(unit_data)
    assert {"input_tokens", "cache_read_tokens", "cache_write_1h_tokens", "web_searches"} <= shared
    for key in shared & set(PARTS):
        genai_parts = {
            k
            for k, u in unit_data.items()
            if k != key
            and u["dimensions"].items() > unit_data[key]["dimensions"].items()
            and k in PARTS
        }
        assert set(strict_parts(key)) == genai_parts, key


def test_parts_and_wholes() -> None:
    assert set(strict_wholes("cache_audio_read_tokens")) == {
        "cache_read_tokens",
        "input_audio_tokens",
        "input_tokens",
    }
    assert strict_wholes("cache_audio_read_tokens")[-1] == "input_tokens"  # most specific first
    assert "output_reasoning_tokens" in strict_parts("output_tokens")
    assert strict_parts("web_searches") == ()
    assert set(PARTS) >= FALLS_BACK_TO_WHOLE


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"input_tokens": 10, "cache_read_tokens": 11}, "cache_read_tokens (11) exceeds"),
        ({"input_tokens": -1}, "input_tokens is negative"),
        ({"output_tokens": 5, "output_reasoning_tokens": 6}, "output_reasoning_tokens (6)"),
        ({"input_tokens": 10, "cache_read_tokens": 6, "cache_write_tokens": 6}, "add up to"),
        ({"cache_write_tokens": 3, "cache_write_1h_tokens": 4, "input_tokens": 9}, "exceeds"),
        ({"input_tokens": True}, "must be a number"),
        ({"input_tokens": "12"}, "must be a number"),
        ({"input_tokens": Decimal("1.5")}, "whole units"),
        ({"input_tokens": Decimal("NaN")}, "finite"),
        ({"inptu_tokens": 3}, "unknown usage key"),
        ({"input_tokens": 10**13}, "implausibly large"),
        ({"output_video_seconds": Decimal("1.0000001")}, "more than 6 decimals"),
    ],
)
def test_impossible_usages_are_clear_errors(data: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Usage.from_mapping(data)


def test_overlapping_parts_count_once() -> None:
    # Cached audio is both cached and audio: it may count in both without exceeding the whole.
    usage = Usage(
        input_tokens=10, cache_read_tokens=6, input_audio_tokens=6, cache_audio_read_tokens=2
    )
    assert usage.input_tokens == 10
    with pytest.raises(UsageError):
        Usage(input_tokens=10, cache_read_tokens=6, input_audio_tokens=6)


def test_fractional_durations_and_integral_decimals() -> None:
    usage = Usage.from_mapping(
        {"output_video_seconds": Decimal("4.5"), "input_tokens": Decimal("7"), "requests": 1}
    )
    assert usage.output_video_seconds == Decimal("4.5")
    assert usage.input_tokens == 7 and type(usage.input_tokens) is int
    assert Usage.from_mapping({"realtime_minutes": 2.25}).realtime_minutes == Decimal("2.25")


def holds_parts(d: dict[str, int]) -> bool:
    """The containment rules written out by hand (cached audio is in both cache reads and
    audio, so it is added back once)."""
    g = lambda k: d.get(k, 0)  # noqa: E731
    return (
        g("cache_read_tokens") + g("cache_write_tokens") + g("input_audio_tokens")
        + g("input_image_tokens") + g("input_video_tokens") - g("cache_audio_read_tokens")
        <= g("input_tokens")
        and g("cache_write_5m_tokens") + g("cache_write_1h_tokens") <= g("cache_write_tokens")
        and g("cache_audio_read_tokens") <= min(g("cache_read_tokens"), g("input_audio_tokens"))
        and g("output_reasoning_tokens") + g("output_audio_tokens") + g("output_image_tokens")
        <= g("output_tokens")
    )  # fmt: skip


@given(st.dictionaries(st.sampled_from(sorted(PARTS)), st.integers(0, 10**6), max_size=6))
def test_valid_means_every_whole_holds_its_parts(data: dict[str, int]) -> None:
    try:
        Usage(**data)
    except UsageError:
        assert not holds_parts(data)
    else:
        assert holds_parts(data)
