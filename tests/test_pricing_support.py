"""Helpers for the pricing tests: a small catalog written as YAML text into a tmp dir.

The registries (units, capabilities) are the bundled ones; the providers are written here, so
the pricing tests never depend on the starter catalog's contents.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from routing_support import write_catalog  # the bundled registries plus these providers

from byokvault.engine.catalog.store import open_catalog
from byokvault.engine.pricing.index import PriceIndex

PROV = "provenance: {source: test, recorded_at: 2024-01-01T00:00:00Z}"


def row(dimension: str, amount: str, since: str = "2024-01-01T00:00:00Z", **cond: object) -> str:
    conditions = ""
    if cond:
        inner = ", ".join(f"{k}: {v}" for k, v in cond.items())
        conditions = f", conditions: {{{inner}}}"
    return (
        f"      - {{dimension: {dimension}, amount: {amount}, effective_from: {since}"
        f"{conditions}, {PROV}}}\n"
    )


def model(model_id: str, rows: str, mode: str = "chat", extra: str = "") -> str:
    return (
        f"  - id: {model_id}\n"
        f"    name: {model_id}\n"
        f"    mode: {mode}\n"
        f"{extra}"
        "    modalities: {input: [text], output: [text]}\n"
        "    prices:\n"
        f"{rows}"
    )


def provider(provider_id: str, models: list[str], kind: str = "cloud") -> str:
    header = (
        f"id: {provider_id}\nname: {provider_id}\nkind: {kind}\napi_style: openai\n"
        "base_url: https://example.invalid/v1\nauth: {scheme: bearer}\nmodels:\n"
    )
    return header + "".join(sorted(models, key=lambda m: m.split("\n")[0]))


def build_index(root: Path, providers: dict[str, str]) -> tuple[PriceIndex, object]:
    _catalog, con = open_catalog(write_catalog(root, providers), root.parent / "snaps")
    return PriceIndex.from_connection(con), con


# The shared test catalog: every selection rule has a row that exercises it.
CHAT_ROWS = (
    row("input_tokens", "1.00")
    + row("input_tokens", "0.80", "2025-06-01T00:00:00Z")
    + row("output_tokens", "4.00")
    + row("cache_read_tokens", "0.10")
    + row("cache_write_tokens", "1.25")
    + row("cache_write_1h_tokens", "2.00")
    + row("input_audio_tokens", "10")
    + row("web_searches", "10")
    + row("input_tokens", "2.00", long_context="{threshold: 200000, inclusive: false}")
    + row("output_tokens", "6.00", long_context="{threshold: 200000, inclusive: false}")
    + row("cache_read_tokens", "0.20", long_context="{threshold: 200000, inclusive: false}")
    + row("input_tokens", "0.50", service_tier="flex")
    + row("output_tokens", "2.00", service_tier="flex")
    + row("input_tokens", "0.70", region="eu-west-1")
)
WINDOW_ROWS = (
    row("input_tokens", "0.27")
    + row("output_tokens", "1.10")
    + row("input_tokens", "0.135", time_window="{start: '16:30:00', end: '00:30:00'}")
    + row("output_tokens", "0.55", time_window="{start: '16:30:00', end: '00:30:00'}")
)
INCLUSIVE_ROWS = (
    row("input_tokens", "1")
    + row("output_tokens", "2")
    + row("input_tokens", "3", long_context="{threshold: 1000, inclusive: true}")
    + row("output_tokens", "4", long_context="{threshold: 1000, inclusive: true}")
)
IMAGE_ROWS = (
    row("output_images", "0.04")
    + row("output_images", "0.08", image_size="1024x1792")
    + row("output_images", "0.12", image_size="1024x1792", image_quality="hd")
    + row("input_tokens", "5")
)
VIDEO_ROWS = row("output_video_seconds", "0.10", video_resolution="720p") + row(
    "output_video_seconds", "0.30", video_resolution="1080p"
)
REQUEST_ROWS = row("input_tokens", "0.5") + row("output_tokens", "1.5") + row("requests", "5")
LOCAL_ROWS = row("input_tokens", "0") + row("output_tokens", "0")

ACME = provider(
    "acme",
    [
        model("chat", CHAT_ROWS, extra="    aliases: [chat-2024]\n"),
        model("cheap-window", WINDOW_ROWS),
        model("img", IMAGE_ROWS, mode="image_generation"),
        model("inclusive", INCLUSIVE_ROWS),
        model("per-request", REQUEST_ROWS),
        model("video", VIDEO_ROWS, mode="video_generation"),
    ],
)
HOMELAB = provider("homelab", [model("llama", LOCAL_ROWS)], kind="local")


@pytest.fixture(scope="module")
def acme_index(tmp_path_factory: pytest.TempPathFactory) -> PriceIndex:
    root = tmp_path_factory.mktemp("acme") / "catalog"
    index, _con = build_index(root, {"acme": ACME, "homelab": HOMELAB})
    return index
