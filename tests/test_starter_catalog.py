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


def test_every_service_tier_is_priced(con: duckdb.DuckDBPyConnection) -> None:
    tiers = {t for (t,) in _rows(con, "SELECT DISTINCT service_tier FROM prices")}
    assert tiers == {"standard", "batch", "flex", "priority"}


def test_long_context_cliffs_are_explicit(con: duckdb.DuckDBPyConnection) -> None:
    """Every long-context row states its inclusivity, and each one has a base row of the same
    dimension and tier below the cliff to fall back on."""
    orphans = _rows(
        con,
        """
        SELECT p.provider_id, p.model_id, p.dimension, p.service_tier
        FROM prices p
        WHERE p.long_context_threshold IS NOT NULL
          AND (p.long_context_inclusive IS NULL OR NOT EXISTS (
              SELECT 1 FROM prices b
              WHERE b.provider_id = p.provider_id AND b.model_id = p.model_id
                AND b.dimension = p.dimension AND b.service_tier = p.service_tier
                AND b.long_context_threshold IS NULL
                AND b.region IS NOT DISTINCT FROM p.region))
        """,
    )
    assert orphans == []
    assert _rows(con, "SELECT count(*) FROM prices WHERE NOT long_context_inclusive")[0][0] > 0


def test_regional_prices_exist(con: duckdb.DuckDBPyConnection) -> None:
    assert _rows(con, "SELECT count(*) FROM prices WHERE region IS NOT NULL")[0][0] > 0


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
    field: str
    conditions: Mapping[str, Any] = MappingProxyType({})


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
]  # fmt: skip


@pytest.mark.parametrize("spot", LITELLM_SPOTS, ids=lambda s: f"{s.model}-{s.field}")
def test_spot_price_matches_litellm(
    con: duckdb.DuckDBPyConnection, litellm: dict[str, Any], spot: LitellmSpot
) -> None:
    expected = Decimal(litellm[spot.entry][spot.field]) * _per(con, spot.dimension)
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
