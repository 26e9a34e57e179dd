"""genai-prices importer: every awkward case of its data model, checked against the package."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices.types import Tier, TieredPrices, calc_unit_price
from hypothesis import given, settings
from hypothesis import strategies as st

from byokvault.engine.catalog.model import MatchRule, PriceRow
from byokvault.engine.importers.common import UNDATED, ImportResult
from byokvault.engine.importers.genai_prices import import_genai_prices
from byokvault.engine.importers.sources import load_sources

FIXTURE = Path(__file__).parent / "fixtures" / "import" / "genai_prices_small.json"
AT = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def result() -> ImportResult:
    return import_genai_prices(FIXTURE, recorded_at=AT)


def rows(result: ImportResult, provider: str, model: str, dimension: str) -> list[PriceRow]:
    return [r for r in result.models[(provider, model)].prices if r.dimension == dimension]


def series(found: list[PriceRow], **conditions: object) -> list[tuple[datetime, Decimal]]:
    return [(r.effective_from, r.amount) for r in found if r.conditions.key() == conditions]


def test_tiered_price_becomes_exclusive_long_context_cliff(result: ImportResult) -> None:
    found = rows(result, "anthropic", "claude-tiered", "input_tokens")
    lc = {"long_context": {"threshold": 200000, "inclusive": False}}
    assert series(found) == [(UNDATED, Decimal(3))]
    # the tier exists until 2026-03-13, when the source's flat price ends the cliff
    march = datetime(2026, 3, 13, tzinfo=UTC)
    assert series(found, **lc) == [(UNDATED, Decimal(6)), (march, Decimal(3))]


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(min_value=1, max_value=10**7),
    offset=st.integers(min_value=-3, max_value=3),
)
def test_inclusivity_matches_genai_prices_calc(start: int, offset: int) -> None:
    """Our row says inclusive=False; the package's own arithmetic must agree at the edge."""
    tokens = max(0, start + offset)
    price = TieredPrices(base=Decimal(1), tiers=[Tier(start=start, price=Decimal(2))])
    theirs = calc_unit_price(price, 1_000_000, tokens, 1_000_000)
    data = [
        {
            "id": "p",
            "name": "P",
            "pricing_urls": [],
            "api_pattern": "x",
            "models": [
                {
                    "id": "m",
                    "match": {"equals": "m"},
                    "prices": {"input_mtok": {"base": 1, "tiers": [{"start": start, "price": 2}]}},
                }
            ],
        }
    ]
    imported = import_genai_prices(data, recorded_at=AT).models[("p", "m")].prices
    cliff = next(r for r in imported if r.conditions.long_context is not None)
    tier = cliff.conditions.long_context
    assert tier is not None and tier.threshold == start
    crossed = tokens >= tier.threshold if tier.inclusive else tokens > tier.threshold
    ours = cliff.amount if crossed else next(r.amount for r in imported if r is not cliff)
    assert ours == theirs


def test_dated_prices_keep_history(result: ImportResult) -> None:
    found = rows(result, "anthropic", "claude-dated", "input_tokens")
    june = datetime(2025, 6, 10, tzinfo=UTC)
    assert series(found) == [(UNDATED, Decimal(10)), (june, Decimal(2))]
    # an unchanged price gives no new row
    assert series(rows(result, "anthropic", "claude-dated", "cache_read_tokens")) == [
        (UNDATED, Decimal("0.5"))
    ]


def test_batch_variant_overrides_and_inherits(result: ImportResult) -> None:
    batch = {"service_tier": "batch"}
    inputs = rows(result, "anthropic", "claude-tiered", "input_tokens")
    assert series(inputs, **batch) == [(UNDATED, Decimal("1.5"))]
    # web searches are not overridden by the variant: batch callers pay the standard rate
    searches = rows(result, "anthropic", "claude-tiered", "web_searches")
    assert series(searches, **batch) == [(UNDATED, Decimal(10))]
    assert "batch" in result.models[("anthropic", "claude-tiered")].capabilities


def test_flex_variant_starts_at_its_date_and_inherits_output(result: ImportResult) -> None:
    june = datetime(2026, 6, 1, tzinfo=UTC)
    flex = {"service_tier": "flex"}
    assert series(rows(result, "anthropic", "claude-tiered", "input_tokens"), **flex) == [
        (june, Decimal("1.2"))
    ]
    assert series(rows(result, "anthropic", "claude-tiered", "output_tokens"), **flex) == [
        (june, Decimal(15))
    ]


def test_unmappable_variants_are_reported_not_dropped(result: ImportResult) -> None:
    assert result.unmapped["price_variants.when.speed=fast"] == 1
    tiers = {r.conditions.service_tier.value for m in result.models.values() for r in m.prices}
    assert tiers == {"standard", "batch", "flex"}  # the empty default variant adds nothing


def test_time_window_rows(result: ImportResult) -> None:
    found = rows(result, "deepseek", "deepseek-chat", "input_tokens")
    window = [r for r in found if r.conditions.time_window is not None]
    assert [
        (r.amount, r.conditions.time_window.start, r.conditions.time_window.end) for r in window
    ] == [(Decimal("0.27"), time(0, 30), time(16, 30))]
    assert series(found) == [(UNDATED, Decimal("0.135"))]


def test_match_rules_aliases_and_reported_rules(result: ImportResult) -> None:
    tiered = result.models[("anthropic", "claude-tiered")]
    assert tiered.match == [MatchRule(starts_with="claude-tiered")]
    assert "claude-tiered-latest" in tiered.source_names
    assert result.unmapped["match.regex"] == 1
    assert result.unmapped["match.and"] == 1
    assert result.unmapped["match.ends_with"] == 1
    assert any("claude-dated" in note and "and" in note for note in result.notes)


def test_provider_alias_and_lower_case_id(result: ImportResult) -> None:
    model = result.models[("xai", "grok-mixed-case")]
    assert "Grok-Mixed-Case" in model.source_names
    assert result.providers["xai"].base_url == "https://api.x.ai"


def test_units_per_thousand_and_unknown_keys(result: ImportResult) -> None:
    assert series(rows(result, "xai", "grok-mixed-case", "requests")) == [(UNDATED, Decimal(5))]
    assert result.unmapped["prices.output_video_mtok"] == 1
    assert result.unmapped["model.description"] == 1
    model = result.models[("xai", "grok-mixed-case")]
    assert "audio" in {m.value for m in model.input_modalities}


def test_hour_prices_convert_only_when_exact(result: ImportResult) -> None:
    found = rows(result, "xai", "voxtral-transcribe", "input_audio_seconds")
    assert series(found) == [(UNDATED, Decimal("0.0001"))]
    assert result.unmapped["prices.input_audio_hours (not exactly convertible)"] == 1


def test_every_row_has_provenance(result: ImportResult) -> None:
    for model in result.models.values():
        for row in model.prices:
            assert row.provenance.source == load_sources().cite("genai-prices")
            assert row.provenance.source.startswith("https://")
            assert row.provenance.recorded_at == AT


def test_package_objects_import_like_json() -> None:
    from genai_prices import data

    imported = import_genai_prices(data.providers, recorded_at=AT)
    assert imported.priced_models > 1000
    batch_models = [
        m
        for m in imported.models.values()
        if any(r.conditions.service_tier.value == "batch" for r in m.prices)
    ]
    assert batch_models


def test_empty_price_set_is_the_zero_genai_prices_computes() -> None:
    data = [
        {
            "id": "openrouter",
            "name": "OpenRouter",
            "pricing_urls": [],
            "api_pattern": "x",
            "models": [{"id": "m:free", "match": {"equals": "m:free"}, "prices": {}}],
        }
    ]
    imported = import_genai_prices(data, recorded_at=AT)
    rows = imported.models[("openrouter", "m:free")].prices
    assert {(r.dimension, r.amount) for r in rows} == {("input_tokens", 0), ("output_tokens", 0)}
    assert sum(imported.skipped.values()) == 1
