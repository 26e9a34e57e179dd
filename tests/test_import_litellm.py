"""LiteLLM importer on a fixture of its awkward cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from byokvault.engine.importers.common import ImportResult
from byokvault.engine.importers.litellm import import_litellm

FIXTURE = Path(__file__).parent / "fixtures" / "import" / "litellm_small.json"
AT = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def result() -> ImportResult:
    return import_litellm(FIXTURE, recorded_at=AT)


def prices(result: ImportResult, provider: str, model: str) -> dict[tuple[str, str], Decimal]:
    return {
        (r.dimension, json.dumps(r.conditions.key(), sort_keys=True)): r.amount
        for r in result.models[(provider, model)].prices
    }


def test_per_token_becomes_per_million_and_tiers(result: ImportResult) -> None:
    p = prices(result, "openai", "gpt-4o")
    assert p[("input_tokens", "{}")] == Decimal("2.5")
    assert p[("input_tokens", '{"service_tier": "batch"}')] == Decimal("1.25")
    assert p[("output_tokens", '{"service_tier": "priority"}')] == Decimal(17)
    assert p[("cache_read_tokens", '{"service_tier": "priority"}')] == Decimal("2.125")


def test_above_k_tokens_is_an_exclusive_cliff_combined_with_batch(result: ImportResult) -> None:
    p = prices(result, "google", "gemini-2.5-pro")
    lc = '"long_context": {"inclusive": false, "threshold": 200000}'
    assert p[("input_tokens", "{" + lc + "}")] == Decimal("2.5")
    assert p[("input_tokens", "{" + lc + ', "service_tier": "batch"}')] == Decimal("1.25")
    assert p[("output_tokens", '{"service_tier": "flex"}')] == Decimal(5)


def test_one_hour_cache_write_is_its_own_dimension(result: ImportResult) -> None:
    p = prices(result, "google", "gemini-2.5-pro")
    assert p[("cache_write_tokens", "{}")] == Decimal("3.75")
    assert p[("cache_write_1h_tokens", "{}")] == Decimal(6)
    assert p[("input_audio_tokens", "{}")] == Decimal(1)


def test_tiered_pricing_ranges(result: ImportResult) -> None:
    p = prices(result, "alibaba", "qwen-flash")
    lc = '{"long_context": {"inclusive": false, "threshold": 256000}}'
    assert p[("input_tokens", "{}")] == Decimal("0.05")
    assert p[("input_tokens", lc)] == Decimal("0.25")
    assert p[("output_tokens", lc)] == Decimal(2)


def test_silent_zero_is_unknown_not_free(result: ImportResult) -> None:
    free_preview = result.models[("google", "gemini-free-preview")]
    assert free_preview.prices == []  # unpriced: fails closed, never $0
    assert result.skipped["zero price treated as unknown (input_cost_per_token)"] >= 1
    embedding = prices(result, "openai", "text-embedding-3-small")
    assert embedding == {("embedding_tokens", "{}"): Decimal("0.02")}


def test_local_provider_zero_is_a_price(result: ImportResult) -> None:
    assert prices(result, "ollama", "llama3") == {
        ("input_tokens", "{}"): Decimal(0),
        ("output_tokens", "{}"): Decimal(0),
    }


def test_regional_entries_are_counted_not_imported(result: ImportResult) -> None:
    p = prices(result, "amazon-bedrock", "anthropic.claude-instant-v1")
    assert p == {("input_tokens", "{}"): Decimal("0.8"), ("output_tokens", "{}"): Decimal("2.4")}
    assert result.unmapped["regional entry (region in the entry name)"] == 2


def test_image_size_and_quality_entries(result: ImportResult) -> None:
    assert prices(result, "openai", "gpt-image-1") == {
        ("output_images", '{"image_quality": "low", "image_size": "1024x1024"}'): Decimal("0.011")
    }
    # per pixel × 1024 × 1792, exactly
    dalle = prices(result, "openai", "dall-e-3")
    assert dalle == {
        ("output_images", '{"image_quality": "hd", "image_size": "1024x1792"}'): Decimal("6.53e-08")
        * 1024
        * 1792
    }
    assert result.unmapped["image quality xhigh (entry name)"] == 1


def test_video_audio_and_speech_units(result: ImportResult) -> None:
    veo = prices(result, "google-vertex", "veo-3.1-generate-001")
    assert veo[("output_video_seconds", "{}")] == Decimal("0.4")
    assert veo[("output_video_seconds", '{"video_resolution": "2160p"}')] == Decimal("0.6")
    assert veo[("output_video_seconds", '{"video_resolution": "720p"}')] == Decimal("0.3")
    assert prices(result, "openai", "whisper-1") == {
        ("input_audio_seconds", "{}"): Decimal("0.0001")
    }
    assert prices(result, "openai", "tts-1") == {("input_characters", "{}"): Decimal(15)}
    assert prices(result, "openai", "sora-2") == {("output_video_seconds", "{}"): Decimal("0.1")}


def test_search_context_medium_is_the_web_search_price(result: ImportResult) -> None:
    assert prices(result, "openai", "gpt-4o")[("web_searches", "{}")] == Decimal(35)
    key = "search_context_cost_per_query.search_context_size_high (differs from medium)"
    assert result.unmapped[key] == 1


def test_unknown_keys_are_counted(result: ImportResult) -> None:
    for key in ("brand_new_cost_key_per_token", "some_future_flag", "fedramp_uplift_multiplier"):
        assert result.unmapped[key] == 1
    assert result.unmapped["supports_prompt_caching"] == 1
    assert result.skipped["mode not in the catalog: search"] == 1


def test_capabilities_modes_and_aliases(result: ImportResult) -> None:
    gpt = result.models[("openai", "gpt-4o")]
    assert {"tools.parallel_calls", "vision.single_image", "batch"} <= gpt.capabilities
    assert "openai/gpt-4o-alias" in gpt.source_names
    realtime = result.models[("openai", "gpt-realtime")]
    assert realtime.mode.value == "realtime"
    assert {"audio.input", "audio.output", "realtime.voice"} <= realtime.capabilities
    assert all(m.capabilities for m in result.models.values())


def test_float_noise_beyond_18_places_is_not_stored(result: ImportResult) -> None:
    p = prices(result, "noisy", "float-artefact")
    assert ("input_tokens", "{}") not in p
    assert result.skipped["amount with more than 18 decimal places (input_tokens)"] == 1


@settings(max_examples=100, deadline=None)
@given(
    amount=st.decimals(min_value=Decimal("1e-9"), max_value=Decimal("0.01"), places=9),
    threshold_k=st.integers(min_value=1, max_value=2000),
)
def test_any_tier_key_maps_exactly(amount: Decimal, threshold_k: int) -> None:
    key = f"input_cost_per_token_above_{threshold_k}k_tokens_batches"
    data = {
        "m": {
            "litellm_provider": "p",
            "mode": "chat",
            "input_cost_per_token": "0.000001",
            key: str(amount),
        }
    }
    (row,) = [
        r
        for r in import_litellm(data, recorded_at=AT).models[("p", "m")].prices
        if r.conditions.long_context
    ]
    assert row.amount == amount * 1_000_000
    assert row.conditions.long_context.threshold == threshold_k * 1000
    assert row.conditions.long_context.inclusive is False
    assert row.conditions.service_tier.value == "batch"
