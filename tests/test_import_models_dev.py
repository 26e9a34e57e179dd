"""models.dev importer on a fixture of its awkward cases."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from byokvault.engine.importers.common import ImportResult
from byokvault.engine.importers.models_dev import import_models_dev

FIXTURE = Path(__file__).parent / "fixtures" / "import" / "models_dev_small.json"
AT = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def result() -> ImportResult:
    return import_models_dev(FIXTURE, recorded_at=AT)


def amounts(result: ImportResult, provider: str, model: str) -> dict[tuple, Decimal]:
    return {
        (
            r.dimension,
            r.conditions.long_context.threshold if r.conditions.long_context else None,
        ): r.amount
        for r in result.models[(provider, model)].prices
    }


def test_costs_and_context_tier(result: ImportResult) -> None:
    assert amounts(result, "anthropic", "claude-opus-4-7") == {
        ("input_tokens", None): Decimal(5),
        ("output_tokens", None): Decimal(25),
        ("cache_read_tokens", None): Decimal("0.5"),
        ("cache_write_tokens", None): Decimal("6.25"),
        ("input_tokens", 200000): Decimal(10),
        ("output_tokens", 200000): Decimal("37.5"),
    }
    cliff = next(
        r
        for r in result.models[("anthropic", "claude-opus-4-7")].prices
        if r.conditions.long_context
    )
    assert cliff.conditions.long_context.inclusive is False


def test_flags_modalities_limits(result: ImportResult) -> None:
    model = result.models[("anthropic", "claude-opus-4-7")]
    assert {
        "reasoning",
        "tools.function_calling",
        "vision.pdf",
        "structured_output.json_schema",
    } <= model.capabilities
    assert model.limits == {"context_window": 1000000, "max_output_tokens": 128000}
    assert model.lifecycle == {"released": date(2026, 4, 16)}
    assert result.unmapped["model.experimental"] == 1


def test_zero_is_a_price_only_when_marked_free(result: ImportResult) -> None:
    free = amounts(result, "openrouter", "meta-llama/llama-3.3-70b-instruct:free")
    assert free == {("input_tokens", None): Decimal(0), ("output_tokens", None): Decimal(0)}
    assert result.models[("openrouter", "some/placeholder")].prices == []
    assert result.skipped["zero price treated as unknown (cost.input)"] == 1


def test_modes_from_modalities(result: ImportResult) -> None:
    assert result.models[("google", "imagen-4")].mode.value == "image_generation"
    assert result.models[("google", "gemini-embedding-001")].mode.value == "embedding"
    assert amounts(result, "google", "gemini-embedding-001") == {
        ("embedding_tokens", None): Decimal("0.15")
    }
    live = result.models[("google", "gemini-live-2.5-flash")]
    assert live.mode.value == "realtime"
    assert {"audio.input", "audio.output", "video.input"} <= live.capabilities
    assert result.providers["anthropic"].base_url == "https://api.anthropic.com/v1"
