"""The hand-written starter catalog (catalog/providers/*.yaml), checked through the loaded DuckDB.

These tests query the catalog the way the rest of ByokVault sees it (snapshot → DuckDB), so they
check the data, not the YAML text: every dimension and every condition kind is exercised by a real
price, local endpoints are explicitly free, and spot prices equal what the frozen upstream catalogs
say, converted exactly to each unit's denomination.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, time
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import duckdb
import pytest

from byokvault.engine.catalog.store import open_catalog
from byokvault.engine.paths import BUNDLED_CATALOG

LITELLM_FILE = "litellm-1.110.2-model_prices_and_context_window.json"
GENAI_FILE = "genai-prices-47df840a-data-v2.json"


def _upstream_dir() -> Path:
    """The frozen upstream catalogs: $BYOKVAULT_UPSTREAM, else a `shared/upstream` beside an
    ancestor of this file (the main checkout and every worktree sit under the same root)."""
    if env := os.environ.get("BYOKVAULT_UPSTREAM"):
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "upstream"
        if (candidate / LITELLM_FILE).is_file():
            return candidate
    raise FileNotFoundError(
        f"{LITELLM_FILE} not found in any ancestor's shared/upstream; set BYOKVAULT_UPSTREAM"
    )


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    _, connection = open_catalog(BUNDLED_CATALOG, tmp_path_factory.mktemp("snapshots"))
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def litellm() -> dict[str, Any]:
    text = (_upstream_dir() / LITELLM_FILE).read_text(encoding="utf-8")
    return json.loads(text, parse_float=Decimal)


@pytest.fixture(scope="module")
def genai() -> dict[str, dict[str, Any]]:
    text = (_upstream_dir() / GENAI_FILE).read_text(encoding="utf-8")
    providers = json.loads(text, parse_float=Decimal)
    return {p["id"]: {m["id"]: m for m in p["models"]} for p in providers}


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


# --- coverage of the unit registry and the condition kinds ---------------------------------


def test_every_unit_has_a_price_row(con: duckdb.DuckDBPyConnection) -> None:
    missing = _rows(
        con, "SELECT dimension FROM units EXCEPT SELECT DISTINCT dimension FROM prices ORDER BY 1"
    )
    assert missing == []


def test_every_service_tier_is_priced(con: duckdb.DuckDBPyConnection) -> None:
    tiers = {t for (t,) in _rows(con, "SELECT DISTINCT service_tier FROM prices")}
    assert tiers == {"standard", "batch", "flex", "priority"}


def test_long_context_cliffs_use_both_inclusivities(con: duckdb.DuckDBPyConnection) -> None:
    found = _rows(
        con,
        """SELECT DISTINCT long_context_inclusive FROM prices
           WHERE long_context_threshold IS NOT NULL ORDER BY 1""",
    )
    assert found == [(False,), (True,)]


def test_conditional_rows_have_a_default_to_fall_back_on(con: duckdb.DuckDBPyConnection) -> None:
    """A long-context, time-window or regional row refines a default row of the same dimension
    and tier; without one, a call outside the condition would be unpriced."""
    orphans = _rows(
        con,
        """
        SELECT p.provider_id, p.model_id, p.dimension, p.service_tier
        FROM prices p
        WHERE (p.long_context_threshold IS NOT NULL OR p.window_start IS NOT NULL
               OR p.region IS NOT NULL)
          AND NOT EXISTS (
              SELECT 1 FROM prices b
              WHERE b.provider_id = p.provider_id AND b.model_id = p.model_id
                AND b.dimension = p.dimension AND b.service_tier = p.service_tier
                AND b.long_context_threshold IS NULL AND b.window_start IS NULL
                AND b.region IS NULL)
        """,
    )
    assert orphans == []


# Upstream gives no price for these tier + long-context combinations (LiteLLM has no
# `_above_272k_tokens_priority` keys for gpt-5.4): such a call takes the tier's base rate.
TIER_CLIFF_GAPS = {("openai", "gpt-5.4", "priority")}


def test_tiers_and_regions_keep_the_long_context_cliff(con: duckdb.DuckDBPyConnection) -> None:
    """The pricing engine prefers the call's tier and region over the cliff, so a tier or region
    that prices a dimension with a long-context cliff must state its own cliff rate; otherwise
    a batch (or regional) call over the threshold would be billed at its base rate."""
    missing = _rows(
        con,
        """
        SELECT DISTINCT t.provider_id, t.model_id, t.service_tier, t.dimension
        FROM prices t JOIN prices lc
          ON lc.provider_id = t.provider_id AND lc.model_id = t.model_id
         AND lc.dimension = t.dimension AND lc.service_tier = 'standard'
         AND lc.long_context_threshold IS NOT NULL AND lc.region IS NULL
        WHERE (t.service_tier <> 'standard' OR t.region IS NOT NULL)
          AND t.long_context_threshold IS NULL
          AND NOT EXISTS (
              SELECT 1 FROM prices x
              WHERE x.provider_id = t.provider_id AND x.model_id = t.model_id
                AND x.dimension = t.dimension AND x.service_tier = t.service_tier
                AND x.region IS NOT DISTINCT FROM t.region
                AND x.long_context_threshold = lc.long_context_threshold)
        ORDER BY ALL
        """,
    )
    assert {(p, m, tier) for p, m, tier, _ in missing} <= TIER_CLIFF_GAPS, missing


def test_a_time_window_wraps_past_midnight(con: duckdb.DuckDBPyConnection) -> None:
    """At least one daily window ends before it starts (DeepSeek's 16:30-00:30 UTC off-peak)."""
    windows = _rows(
        con, "SELECT DISTINCT window_start, window_end FROM prices WHERE window_start IS NOT NULL"
    )
    assert windows and any(end < start for start, end in windows)


def test_regional_prices_exist(con: duckdb.DuckDBPyConnection) -> None:
    regions = _rows(con, "SELECT count(DISTINCT region) FROM prices WHERE region IS NOT NULL")
    assert regions[0][0] >= 2


def test_output_images_by_size_and_quality(con: duckdb.DuckDBPyConnection) -> None:
    combos = _rows(
        con,
        """SELECT count(DISTINCT image_size), count(DISTINCT image_quality) FROM prices
           WHERE dimension = 'output_images'""",
    )
    assert combos[0][0] >= 2 and combos[0][1] >= 2


def test_video_seconds_by_resolution(con: duckdb.DuckDBPyConnection) -> None:
    resolutions = _rows(
        con,
        """SELECT count(DISTINCT video_resolution) FROM prices
           WHERE dimension = 'output_video_seconds'""",
    )
    assert resolutions[0][0] >= 2


def test_provenance_names_a_page_or_an_upstream_file(con: duckdb.DuckDBPyConnection) -> None:
    sources = {s for (s,) in _rows(con, "SELECT DISTINCT source FROM prices")}
    upstream = {LITELLM_FILE, GENAI_FILE}
    assert {s for s in sources if not s.startswith("https://")} <= upstream
    assert {s for s in sources if not s.startswith("https://")}, "no row cites an upstream file"


# --- local endpoints ------------------------------------------------------------------------


def test_local_providers_are_explicitly_free(con: duckdb.DuckDBPyConnection) -> None:
    """A local model has price rows, every one an explicit 0: free is a price, unpriced is not."""
    local_models = _rows(
        con,
        """SELECT m.provider_id, m.model_id, count(p.price_id), coalesce(max(p.amount), 0)
           FROM models m JOIN providers pr USING (provider_id)
           LEFT JOIN prices p USING (provider_id, model_id)
           WHERE pr.kind = 'local' GROUP BY ALL""",
    )
    assert local_models, "the starter catalog needs at least one local provider"
    for provider_id, model_id, row_count, max_amount in local_models:
        assert row_count > 0, f"{provider_id}/{model_id} is unpriced, not free"
        assert max_amount == 0, f"{provider_id}/{model_id} charges {max_amount}"


def test_every_model_is_priced(con: duckdb.DuckDBPyConnection) -> None:
    unpriced = _rows(
        con,
        """SELECT provider_id, model_id FROM models
           EXCEPT SELECT provider_id, model_id FROM prices""",
    )
    assert unpriced == []


# --- model metadata consistency --------------------------------------------------------------


def test_long_context_capability_matches_context_window(con: duckdb.DuckDBPyConnection) -> None:
    """`text.long_context` means a window of at least 200,000 tokens; every such model says so."""
    mismatched = _rows(
        con,
        """SELECT m.provider_id, m.model_id, m.context_window, mc.capability IS NOT NULL
           FROM models m LEFT JOIN model_capabilities mc
             ON mc.provider_id = m.provider_id AND mc.model_id = m.model_id
            AND mc.capability = 'text.long_context'
           WHERE (coalesce(m.context_window, 0) >= 200000) <> (mc.capability IS NOT NULL)""",
    )
    assert mismatched == []


def test_price_history_has_changes(con: duckdb.DuckDBPyConnection) -> None:
    """Several models carry a superseded row, so price history has something to show."""
    changed = _rows(
        con,
        """SELECT count(DISTINCT provider_id || '/' || model_id) FROM prices
           WHERE effective_to IS NOT NULL""",
    )
    assert changed[0][0] >= 3


# --- spot prices against the frozen upstream catalogs ---------------------------------------


def _per(con: duckdb.DuckDBPyConnection, dimension: str) -> int:
    return _rows(con, "SELECT per FROM units WHERE dimension = ?", [dimension])[0][0]


def _current_amount(
    con: duckdb.DuckDBPyConnection, provider: str, model: str, dimension: str, **conditions: Any
) -> Decimal:
    """The one current row of a series (conditions not named must be absent / default)."""
    columns: dict[str, Any] = {
        "service_tier": "standard",
        "long_context_threshold": None,
        "region": None,
        "image_size": None,
        "image_quality": None,
        "video_resolution": None,
        "window_start": None,
    }
    columns.update(conditions)
    where = " AND ".join(f"{col} IS NOT DISTINCT FROM ?" for col in columns)
    found = _rows(
        con,
        f"""SELECT amount FROM prices WHERE provider_id = ? AND model_id = ? AND dimension = ?
            AND effective_to IS NULL AND {where}""",
        [provider, model, dimension, *columns.values()],
    )
    assert len(found) == 1, f"{provider}/{model} {dimension} {conditions}: {found}"
    return found[0][0]


class LitellmSpot(NamedTuple):
    """A catalog price and the LiteLLM entry/field holding it as a cost per single unit (token,
    second, character, page, image, call); the catalog amount is per `units.per` of them."""

    provider: str
    model: str
    dimension: str
    entry: str
    field: str  # a dotted path reaches into nested objects
    conditions: Mapping[str, Any] = MappingProxyType({})
    per_source: int = 1  # the LiteLLM figure is for this many units (Lyria: one 30 s clip)


LITELLM_SPOTS = [
    LitellmSpot("openai", "gpt-5", "input_tokens", "gpt-5", "input_cost_per_token"),
    LitellmSpot(
        "openai", "gpt-5", "input_tokens", "gpt-5", "input_cost_per_token_batches",
        {"service_tier": "batch"},
    ),
    LitellmSpot(
        "openai", "gpt-5", "output_tokens", "gpt-5", "output_cost_per_token_flex",
        {"service_tier": "flex"},
    ),
    LitellmSpot(
        "openai", "gpt-5-mini", "cache_read_tokens", "gpt-5-mini",
        "cache_read_input_token_cost_priority", {"service_tier": "priority"},
    ),
    LitellmSpot(
        "openai", "gpt-5.4", "output_tokens", "gpt-5.4", "output_cost_per_token_above_272k_tokens",
        {"long_context_threshold": 272000},
    ),
    LitellmSpot(
        "openai", "gpt-image-1-mini", "output_image_tokens", "gpt-image-1-mini",
        "output_cost_per_image_token",
    ),
    LitellmSpot(
        "openai", "gpt-image-1", "output_images", "high/1024-x-1536/gpt-image-1",
        "input_cost_per_image", {"image_size": "1024x1536", "image_quality": "high"},
    ),
    LitellmSpot(
        "openai", "sora-2-pro", "output_video_seconds", "sora-2-pro-high-res",
        "output_cost_per_video_per_second", {"video_resolution": "1024p"},
    ),
    LitellmSpot("openai", "whisper-1", "input_audio_seconds", "whisper-1", "input_cost_per_second"),
    LitellmSpot("openai", "tts-1-hd", "input_characters", "tts-1-hd", "input_cost_per_character"),
    LitellmSpot(
        "openai", "text-embedding-3-large", "embedding_tokens", "text-embedding-3-large",
        "input_cost_per_token",
    ),
    LitellmSpot(
        "openai", "gpt-4o-mini-tts", "output_audio_tokens", "gpt-4o-mini-tts",
        "output_cost_per_audio_token",
    ),
    LitellmSpot(
        "anthropic", "claude-haiku-4-5", "cache_write_tokens", "claude-haiku-4-5",
        "cache_creation_input_token_cost_batches", {"service_tier": "batch"},
    ),
    LitellmSpot(
        "google", "gemini-2.5-pro", "input_tokens", "gemini/gemini-2.5-pro",
        "input_cost_per_token_above_200k_tokens_priority",
        {"long_context_threshold": 200000, "service_tier": "priority"},
    ),
    LitellmSpot(
        "google", "gemini-2.5-flash", "web_searches", "gemini/gemini-2.5-flash",
        "search_context_cost_per_query.search_context_size_medium",
    ),
    LitellmSpot(
        "google", "gemini-2.5-flash", "tool_calls", "gemini/gemini-2.5-flash",
        "google_maps_grounding_cost_per_query",
    ),
    LitellmSpot(
        "google", "veo-3.1-generate-001", "output_video_seconds", "gemini/veo-3.1-generate-001",
        "output_cost_per_second_4k", {"video_resolution": "2160p"},
    ),
    LitellmSpot(
        "google", "gemini-embedding-2", "input_video_tokens", "gemini/gemini-embedding-2",
        "input_cost_per_video_token",
    ),
    LitellmSpot(
        "google", "gemini-3-pro-image-preview", "input_images",
        "gemini/gemini-3-pro-image-preview", "input_cost_per_image",
    ),
    LitellmSpot(
        "google-vertex", "lyria-002", "output_audio_seconds", "vertex_ai/lyria-002",
        "output_cost_per_image", per_source=30,
    ),
    LitellmSpot(
        "mistral", "mistral-ocr-2512", "input_document_pages", "mistral/mistral-ocr-2512",
        "ocr_cost_per_page_batches", {"service_tier": "batch"},
    ),
    LitellmSpot("cohere", "rerank-v3.5", "requests", "rerank-v3.5", "input_cost_per_query"),
    LitellmSpot(
        "elevenlabs", "scribe_v1", "input_audio_seconds", "elevenlabs/scribe_v1",
        "input_cost_per_second",
    ),
    LitellmSpot(
        "deepseek", "deepseek-chat", "output_tokens", "deepseek/deepseek-chat",
        "output_cost_per_token", {"window_start": time(16, 30)},
    ),
]  # fmt: skip


def _litellm_value(entry: dict[str, Any], path: str) -> Decimal:
    value: Any = entry
    for key in path.split("."):
        value = value[key]
    return Decimal(value)


@pytest.mark.parametrize("spot", LITELLM_SPOTS, ids=lambda s: f"{s.model}-{s.field}")
def test_spot_price_matches_litellm(
    con: duckdb.DuckDBPyConnection, litellm: dict[str, Any], spot: LitellmSpot
) -> None:
    value = _litellm_value(litellm[spot.entry], spot.field)
    expected = value * _per(con, spot.dimension) / spot.per_source
    actual = _current_amount(con, spot.provider, spot.model, spot.dimension, **spot.conditions)
    assert actual == expected


class GenaiSpot(NamedTuple):
    """A catalog price and where genai-prices holds it: per 1M tokens (`_mtok`) or per 1,000
    calls (`_kcount`), in dated price block `block`, at the base rate or the first tier's."""

    provider: str
    model: str
    dimension: str
    gp_provider: str
    gp_model: str
    field: str
    conditions: Mapping[str, Any] = MappingProxyType({})
    block: int = 0
    tier: bool = False


GENAI_SPOTS = [
    GenaiSpot(
        "anthropic", "claude-sonnet-4-5", "input_tokens", "anthropic", "claude-sonnet-4-5",
        "input_mtok", {"long_context_threshold": 200000}, tier=True,
    ),
    GenaiSpot(
        "anthropic", "claude-sonnet-4-5", "cache_write_1h_tokens", "anthropic",
        "claude-sonnet-4-5", "cache_write_1h_mtok",
    ),
    GenaiSpot(
        "anthropic", "claude-opus-4-5", "web_searches", "anthropic", "claude-opus-4-5",
        "web_searches_kcount",
    ),
    GenaiSpot(
        "anthropic", "claude-opus-4-6", "output_tokens", "anthropic", "claude-opus-4-6",
        "output_mtok", {"long_context_threshold": 200000}, block=1,
    ),
    GenaiSpot("openai", "o3", "input_tokens", "openai", "o3", "input_mtok", block=1),
    GenaiSpot(
        "openai", "gpt-realtime", "input_audio_tokens", "openai", "gpt-realtime",
        "input_audio_mtok",
    ),
    GenaiSpot(
        "openai", "gpt-realtime", "cache_audio_read_tokens", "openai", "gpt-realtime",
        "cache_audio_read_mtok",
    ),
    GenaiSpot(
        "google", "gemini-1.5-flash", "output_tokens", "google", "gemini-1.5-flash",
        "output_mtok", {"long_context_threshold": 128000}, tier=True,
    ),
    GenaiSpot(
        "perplexity", "sonar-deep-research", "output_reasoning_tokens", "perplexity",
        "sonar-deep-research", "output_reasoning_mtok",
    ),
    GenaiSpot("perplexity", "sonar", "requests", "perplexity", "sonar", "requests_kcount"),
    GenaiSpot(
        "voyageai", "voyage-3.5", "embedding_tokens", "voyageai", "voyage-3.5", "input_mtok"
    ),
    GenaiSpot("zhipuai", "glm-4.7", "output_tokens", "zhipuai", "GLM-4.7", "output_mtok"),
]  # fmt: skip


def _genai_price(model: dict[str, Any], field: str, block: int, tier: bool) -> Decimal:
    prices = model["prices"]
    if isinstance(prices, list):
        prices = prices[block]["prices"]
    value = prices[field]
    if isinstance(value, dict):
        return Decimal(value["tiers"][0]["price"] if tier else value["base"])
    assert not tier, f"{field} has no tiers"
    return Decimal(value)


@pytest.mark.parametrize("spot", GENAI_SPOTS, ids=lambda s: f"{s.model}-{s.field}-{s.block}")
def test_spot_price_matches_genai_prices(
    con: duckdb.DuckDBPyConnection, genai: dict[str, dict[str, Any]], spot: GenaiSpot
) -> None:
    source_per = 1000 if spot.field.endswith("_kcount") else 1_000_000
    value = _genai_price(genai[spot.gp_provider][spot.gp_model], spot.field, spot.block, spot.tier)
    expected = value * _per(con, spot.dimension) / source_per
    actual = _current_amount(con, spot.provider, spot.model, spot.dimension, **spot.conditions)
    assert actual == expected


def test_dated_price_cut_matches_genai_prices(
    con: duckdb.DuckDBPyConnection, genai: dict[str, dict[str, Any]]
) -> None:
    """o3's 2025-06-10 price cut: the old row ends exactly where genai-prices starts the new one."""
    blocks = genai["openai"]["o3"]["prices"]
    cut = blocks[1]["constraint"]["start_date"]
    history = _rows(
        con,
        """SELECT amount, effective_from::DATE::VARCHAR, effective_to::DATE::VARCHAR FROM prices
           WHERE provider_id = 'openai' AND model_id = 'o3' AND dimension = 'input_tokens'
             AND service_tier = 'standard' ORDER BY effective_from""",
    )
    assert [(amount, end) for amount, _, end in history] == [
        (Decimal(blocks[0]["prices"]["input_mtok"]), cut),
        (Decimal(blocks[1]["prices"]["input_mtok"]), None),
    ]
    assert history[1][1] == cut


def test_deepseek_off_peak_window_matches_genai_prices(
    con: duckdb.DuckDBPyConnection, genai: dict[str, dict[str, Any]]
) -> None:
    """genai-prices makes off-peak the default and constrains standard pricing to 00:30-16:30
    UTC; the catalog states the off-peak window itself, 16:30-00:30 UTC (wrapping midnight)."""
    off_peak, standard = genai["deepseek"]["deepseek-chat"]["prices"]
    constraint = standard["constraint"]
    window = (
        time.fromisoformat(constraint["end_time"]),
        time.fromisoformat(constraint["start_time"]),
    )
    window = tuple(t.replace(tzinfo=None) for t in window)
    rows = _rows(
        con,
        """SELECT dimension, amount FROM prices
           WHERE provider_id = 'deepseek' AND model_id = 'deepseek-chat'
             AND window_start = ? AND window_end = ? AND effective_from = ?""",
        [window[0], window[1], datetime(2025, 2, 26, 16, 30, tzinfo=UTC)],
    )
    fields = {
        "input_tokens": "input_mtok",
        "cache_read_tokens": "cache_read_mtok",
        "output_tokens": "output_mtok",
    }
    assert dict(rows) == {dim: Decimal(off_peak["prices"][f]) for dim, f in fields.items()}


def _uplift(litellm: dict[str, Any], provider: str, model: str, region: str) -> Decimal:
    """The regional multiplier upstream gives: Vertex AI's regional-endpoint uplift, or
    OpenAI's regional-processing (data residency) uplift per region."""
    if provider == "google-vertex":
        return Decimal(litellm[f"vertex_ai/{model}"]["regional_endpoint_uplift_multiplier"])
    return Decimal(litellm[model][f"regional_processing_uplift_multiplier_{region}"])


def test_regional_rows_are_the_upstream_uplift_of_the_global_rows(
    con: duckdb.DuckDBPyConnection, litellm: dict[str, Any]
) -> None:
    pairs = _rows(
        con,
        """SELECT r.provider_id, r.model_id, r.region, r.amount, g.amount
           FROM prices r JOIN prices g
             ON g.provider_id = r.provider_id AND g.model_id = r.model_id
            AND g.dimension = r.dimension AND g.service_tier = r.service_tier
            AND g.effective_from = r.effective_from AND g.region IS NULL
            AND g.long_context_threshold IS NOT DISTINCT FROM r.long_context_threshold
           WHERE r.region IS NOT NULL""",
    )
    regional = _rows(con, "SELECT count(*) FROM prices WHERE region IS NOT NULL")[0][0]
    assert len(pairs) == regional
    for provider, model, region, amount, global_amount in pairs:
        assert amount == global_amount * _uplift(litellm, provider, model, region), (
            provider,
            model,
            region,
        )
