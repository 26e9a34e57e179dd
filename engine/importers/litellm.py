"""Import LiteLLM's model cost map (``model_prices_and_context_window.json``).

Mapping decisions (LiteLLM semantics, from its cost calculator):

- ``*_cost_per_token`` / ``*_token_cost`` are USD per token: × 1,000,000 → our per-1M rows.
  ``input_cost_per_character`` likewise per character → per 1M characters.
- Suffixes: ``_batches`` → service tier batch, ``_flex``/``_priority`` → flex/priority,
  ``_above_<N>k_tokens`` → a long-context cliff at N×1000 input tokens. LiteLLM tests
  ``tokens > threshold`` (``_is_above_200k``), so ``inclusive: false``. ``tiered_pricing`` ranges
  ``[start, end]`` are chosen with ``start < tokens <= end``: also exclusive at ``start``.
- ``cache_creation_input_token_cost_above_1hr`` is the 1-hour cache-write TTL, not a tier.
- Per-second keys map by mode: transcription input seconds, generated video seconds (with
  ``_<res>p`` resolutions), speech output seconds; per image, per page and per query likewise.
- Image entries named ``<quality>/<W>-x-<H>/<model>`` price one model's images by size and
  quality (per image, or per pixel × W × H, exactly).
- Region entries ``bedrock/<region>/<model>``, ``azure/<us|eu|...>/<model>`` are recognised and
  counted, not imported (see ``_import_entry``).
- A ``0.0`` price means "unknown" in LiteLLM (placeholders, free previews, output of embedding
  models) except for local providers: it is never imported as free; each one is counted.
- Every key that maps to nothing is counted and listed in the report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..catalog.model import (
    Conditions,
    LongContextTier,
    Modality,
    Mode,
    PriceRow,
    ProviderKind,
    ServiceTier,
)
from .common import (
    ImportResult,
    ModelDraft,
    decimal_or_none,
    plain,
    rebuilt,
)
from .fetch import source_data
from .infer import baseline_capabilities, default_modalities, mode_from_name
from .sources import SourcesConfig, load_sources

SOURCE = "litellm"
MILLION = Decimal(1_000_000)
THOUSAND = Decimal(1000)
ONE = Decimal(1)

# base price key → (dimension, multiplier to our denomination)
TOKEN_KEYS: dict[str, tuple[str, Decimal]] = {
    "input_cost_per_token": ("input_tokens", MILLION),
    "output_cost_per_token": ("output_tokens", MILLION),
    "cache_read_input_token_cost": ("cache_read_tokens", MILLION),
    "input_cost_per_token_cache_hit": ("cache_read_tokens", MILLION),
    "cache_creation_input_token_cost": ("cache_write_tokens", MILLION),
    "input_cost_per_audio_token": ("input_audio_tokens", MILLION),
    "output_cost_per_audio_token": ("output_audio_tokens", MILLION),
    "cache_read_input_audio_token_cost": ("cache_audio_read_tokens", MILLION),
    "input_cost_per_image_token": ("input_image_tokens", MILLION),
    "output_cost_per_image_token": ("output_image_tokens", MILLION),
    "input_cost_per_video_token": ("input_video_tokens", MILLION),
    "output_cost_per_reasoning_token": ("output_reasoning_tokens", MILLION),
    "input_cost_per_character": ("input_characters", MILLION),
    "input_cost_per_image": ("input_images", ONE),
    "output_cost_per_image": ("output_images", ONE),
    "output_cost_per_video_per_second": ("output_video_seconds", ONE),
    "input_cost_per_audio_per_second": ("input_audio_seconds", ONE),
    "input_cost_per_request": ("requests", THOUSAND),
    "input_cost_per_query": ("requests", THOUSAND),
    "ocr_cost_per_page": ("input_document_pages", THOUSAND),
}
# Per-second keys whose meaning depends on the mode.
SECOND_KEYS: dict[tuple[str, Mode], str] = {
    ("input_cost_per_second", Mode.audio_transcription): "input_audio_seconds",
    ("output_cost_per_second", Mode.video_generation): "output_video_seconds",
    ("output_cost_per_second", Mode.audio_speech): "output_audio_seconds",
}
TIER_SUFFIXES = {
    "_batches": ServiceTier.batch,
    "_flex": ServiceTier.flex,
    "_priority": ServiceTier.priority,
}
_ABOVE = re.compile(r"_above_(\d+)k_tokens$")
_RESOLUTION = re.compile(r"^output_cost_per_second_(\d+p|4k)$")
_RESOLUTIONS = {"4k": "2160p"}

MODES = {m.value: m for m in Mode}
CAPABILITY_FLAGS = {
    "supports_function_calling": "tools.function_calling",
    "supports_parallel_function_calling": "tools.parallel_calls",
    "supports_vision": "vision.single_image",
    "supports_pdf_input": "vision.pdf",
    "supports_audio_input": "audio.input",
    "supports_audio_output": "audio.output",
    "supports_reasoning": "reasoning",
    "supports_adaptive_thinking": "reasoning.adaptive_thinking",
    "supports_response_schema": "structured_output.json_schema",
    "supports_web_search": "search.web",
    "supports_video_input": "video.input",
    "supports_embedding_image_input": "embeddings.image",
}
MODALITY_NAMES = {m.value: m for m in Modality}
INFO_KEYS = {
    "litellm_provider",
    "mode",
    "max_input_tokens",
    "max_output_tokens",
    "max_tokens",
    "output_vector_size",
    "deprecation_date",
    "supported_modalities",
    "supported_output_modalities",
    "tiered_pricing",
    "search_context_cost_per_query",
}
_REGION = re.compile(r"^(?:[a-z]{2}(?:-gov)?-[a-z]+-\d|us|eu|global|global-standard|apac)$")
_QUALITY = re.compile(r"^(low|medium|high|standard|hd|auto|xhigh|max)$")
_SIZE = re.compile(r"^(\d+)-x-(\d+)$")
_COMMITMENT = re.compile(r"(^|/)\d+-month-commitment/")
_STEPS = re.compile(r"(^|/)(\d+|max)-steps/|^(\d+|max)-x-(\d+|max)/")
QUALITIES = {"low", "medium", "high", "standard", "hd", "auto"}


def import_litellm(
    source: str | Path | Mapping[str, Any],
    *,
    config: SourcesConfig | None = None,
    recorded_at: datetime | None = None,
) -> ImportResult:
    config = config or load_sources()
    data, origin = source_data(source, "litellm")
    if not isinstance(data, Mapping):
        raise ValueError(f"{origin}: the LiteLLM cost map must be a JSON object")
    result = ImportResult.begin(SOURCE, origin, config, recorded_at)
    aliases: list[tuple[str, str]] = []
    names: dict[str, tuple[str, str]] = {}
    for key, entry in data.items():
        if key == "sample_spec" or not isinstance(entry, Mapping):
            continue
        result.entries_read += 1
        if "alias_of" in entry:
            aliases.append((key, str(entry["alias_of"])))
            continue
        draft = _import_entry(key, entry, result, config)
        if draft is not None:
            names[key] = draft.key
    for alias, target in aliases:
        key = names.get(target)
        if key is None or key not in result.models:
            result.skipped["alias_of names an entry that was not imported"] += 1
            continue
        result.models[key].source_names.add(alias)
    return result


def _import_entry(
    key: str, entry: Mapping[str, Any], result: ImportResult, config: SourcesConfig
) -> ModelDraft | None:
    litellm_provider = entry.get("litellm_provider")
    if not isinstance(litellm_provider, str) or " " in litellm_provider:
        result.skipped["no litellm_provider"] += 1
        return None
    provider_id = config.provider_id(SOURCE, litellm_provider)
    provider = result.provider(provider_id, litellm_provider)
    local = config.defaults(provider_id).kind == ProviderKind.local
    name, region, quality, size = _split_key(key, litellm_provider)
    if _COMMITMENT.search(name):
        result.skipped["provisioned-throughput commitment entry (not per-call pricing)"] += 1
        return None
    if _STEPS.search(name):
        result.unmapped["image size/steps entry (entry name)"] += 1
        return None
    if region is not None:
        # Regional entries are not always accompanied by the model's global price (a regional
        # row needs a default to fall back on), and LiteLLM's own uplift multipliers disagree
        # with them; they are counted, not imported.
        result.unmapped["regional entry (region in the entry name)"] += 1
        return None
    raw_mode = entry.get("mode")
    if raw_mode is None:
        mode = mode_from_name(name)
    elif raw_mode in MODES:
        mode = MODES[raw_mode]
    else:
        result.skipped[f"mode not in the catalog: {raw_mode}"] += 1
        return None
    model_id = result.catalog_id(name)
    if model_id is None:
        return None
    if quality and quality not in QUALITIES:
        result.unmapped[f"image quality {quality} (entry name)"] += 1
        return None
    base = Conditions(
        region=region,
        image_quality=quality,  # type: ignore[arg-type]
        image_size=size,
    )
    rows = _price_rows(entry, mode, base, size, local, result)
    inputs, outputs = _modalities(entry, mode)
    limits = _limits(entry)
    caps = baseline_capabilities(mode, inputs, outputs, limits.get("context_window"))
    for flag, cap in CAPABILITY_FLAGS.items():
        if entry.get(flag) is True:
            caps.add(cap)
    if any(r.conditions.service_tier == ServiceTier.batch for r in rows):
        caps.add("batch")
    for k in entry:
        if k.startswith("supports_") and k not in CAPABILITY_FLAGS:
            result.unmapped[k] += 1
    if provider.base_url is None and isinstance(entry.get("api_base"), str):
        provider.base_url = entry["api_base"]
    return result.add_model(
        ModelDraft(
            provider=provider_id,
            id=model_id,
            name=name,
            mode=mode,
            source=SOURCE,
            source_names={key, name} - {model_id},
            input_modalities=inputs,
            output_modalities=outputs,
            capabilities=caps,
            limits=limits,
            lifecycle=_lifecycle(entry),
            prices=rows,
        )
    )


def _split_key(key: str, provider: str) -> tuple[str, str | None, str | None, str | None]:
    """``bedrock/us-east-1/x`` → (x, us-east-1, None, None); ``low/1024-x-1024/x`` →
    (x, None, low, 1024x1024); the provider prefix is removed."""
    parts = key.split("/")
    prefixes = {provider, provider.split("-")[0], provider.split("_")[0], "bedrock", "vertex_ai"}
    if len(parts) > 1 and parts[0] in prefixes:
        parts = parts[1:]
    region = quality = size = None
    regional = provider in ("bedrock", "bedrock_converse", "bedrock_mantle", "azure")
    if regional and len(parts) > 1 and _REGION.match(parts[0]):
        region, parts = parts[0], parts[1:]
    if len(parts) > 2 and _QUALITY.match(parts[0]) and _SIZE.match(parts[1]):
        quality = parts[0]
        w, h = _SIZE.match(parts[1]).groups()  # type: ignore[union-attr]
        size, parts = f"{int(w)}x{int(h)}", parts[2:]
    return "/".join(parts), region, quality, size


def _parse_key(key: str) -> tuple[str, ServiceTier, int | None] | None:
    """``input_cost_per_token_above_200k_tokens_batches`` → (base, batch, 200000)."""
    tier = ServiceTier.standard
    threshold = None
    rest = key
    changed = True
    while changed:
        changed = False
        for suffix, value in TIER_SUFFIXES.items():
            if rest.endswith(suffix):
                rest, tier, changed = rest[: -len(suffix)], value, True
        match = _ABOVE.search(rest)
        if match:
            threshold = int(match.group(1)) * 1000
            rest, changed = rest[: match.start()], True
    if rest == "cache_creation_input_token_cost_above_1hr":
        rest = "cache_creation_input_token_cost_1h"
    return rest, tier, threshold


def _dimension(base: str, mode: Mode) -> tuple[str, Decimal] | None:
    if base == "cache_creation_input_token_cost_1h":
        return "cache_write_1h_tokens", MILLION
    if base in TOKEN_KEYS:
        return TOKEN_KEYS[base]
    if (base, mode) in SECOND_KEYS:
        return SECOND_KEYS[(base, mode)], ONE
    return None


def _price_rows(
    entry: Mapping[str, Any],
    mode: Mode,
    base: Conditions,
    size: str | None,
    local: bool,
    result: ImportResult,
) -> list[PriceRow]:
    rows: dict[tuple, PriceRow] = {}

    def add(dimension: str, amount: Decimal, conditions: Conditions, key: str) -> None:
        if amount == 0 and not local:
            result.skipped[f"zero price treated as unknown ({key})"] += 1
            return
        row = result.try_row(dimension, amount, conditions)
        if row is not None:
            rows.setdefault(row.series_key(), row)

    for key, value in entry.items():
        if key in INFO_KEYS or key.startswith("supports_") or "cost" not in key:
            if key not in INFO_KEYS and not key.startswith("supports_"):
                result.unmapped[key] += 1
            continue
        amount = decimal_or_none(value)
        if amount is None:
            result.unmapped[f"{key} (not a number)"] += 1
            continue
        resolution = _RESOLUTION.match(key)
        if resolution and mode == Mode.video_generation:
            res = _RESOLUTIONS.get(resolution.group(1), resolution.group(1))
            add(
                "output_video_seconds",
                amount,
                rebuilt(base, video_resolution=res),
                key,
            )
            continue
        if size and mode in (Mode.image_generation, Mode.image_edit):
            per_image = _per_image(key, amount, size)
            if per_image is not None:
                add("output_images", per_image, base, key)
                continue
        parsed = _parse_key(key)
        mapped = _dimension(parsed[0], mode) if parsed else None
        if parsed is None or mapped is None:
            result.unmapped[key] += 1
            continue
        dimension, multiplier = mapped
        _, tier, threshold = parsed
        conditions = rebuilt(
            base,
            service_tier=tier,
            long_context=LongContextTier(threshold=threshold, inclusive=False)
            if threshold
            else None,
        )
        if dimension in ("output_images",) or conditions.image_size is None:
            add(
                dimension, plain(amount * multiplier), _strip_qualifiers(conditions, dimension), key
            )
        else:
            result.unmapped[f"{key} (with image size)"] += 1
    _tiered(entry, base, rows, local, result)
    _search_context(entry, base, rows, result)
    return list(rows.values())


def _strip_qualifiers(conditions: Conditions, dimension: str) -> Conditions:
    if dimension == "output_images":
        return conditions
    return rebuilt(conditions, image_size=None, image_quality=None)


def _per_image(key: str, amount: Decimal, size: str) -> Decimal | None:
    """A size-named image entry's price per generated image."""
    if key in ("output_cost_per_image", "input_cost_per_image"):
        return amount
    if key in ("input_cost_per_pixel", "output_cost_per_pixel"):
        w, h = (int(x) for x in size.split("x"))
        return plain(amount * w * h)
    return None


def _tiered(
    entry: Mapping[str, Any],
    base: Conditions,
    rows: dict[tuple, PriceRow],
    local: bool,
    result: ImportResult,
) -> None:
    tiers = entry.get("tiered_pricing")
    if not isinstance(tiers, list):
        return
    for tier in tiers:
        lo = decimal_or_none((tier.get("range") or [None])[0])
        for key in ("input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost"):
            amount = decimal_or_none(tier.get(key))
            if amount is None or lo is None:
                continue
            if amount == 0 and not local:
                result.skipped[f"zero price treated as unknown (tiered {key})"] += 1
                continue
            dimension, multiplier = TOKEN_KEYS[key]
            threshold = int(lo)
            conditions = rebuilt(
                base,
                long_context=LongContextTier(threshold=threshold, inclusive=False)
                if threshold > 0
                else None,
            )
            row = result.try_row(dimension, plain(amount * multiplier), conditions)
            if row is not None:
                rows.setdefault(row.series_key(), row)
        for extra in set(tier) - {
            "range",
            "input_cost_per_token",
            "output_cost_per_token",
            "cache_read_input_token_cost",
        }:
            result.unmapped[f"tiered_pricing.{extra}"] += 1


def _search_context(
    entry: Mapping[str, Any], base: Conditions, rows: dict[tuple, PriceRow], result: ImportResult
) -> None:
    """LiteLLM's default search context size is medium: that is the web-search price; a
    different low/high price is reported (the catalog has no context-size condition)."""
    costs = entry.get("search_context_cost_per_query")
    if not isinstance(costs, Mapping):
        return
    medium = decimal_or_none(costs.get("search_context_size_medium"))
    if medium is None or medium == 0:
        result.skipped["zero price treated as unknown (search_context_cost_per_query)"] += 1
        return
    row = result.try_row("web_searches", plain(medium * THOUSAND), base)
    if row is not None:
        rows.setdefault(row.series_key(), row)
    for size in ("search_context_size_low", "search_context_size_high"):
        other = decimal_or_none(costs.get(size))
        if other is not None and other != medium:
            result.unmapped[f"search_context_cost_per_query.{size} (differs from medium)"] += 1


def _modalities(entry: Mapping[str, Any], mode: Mode) -> tuple[set[Modality], set[Modality]]:
    inputs, outputs = default_modalities(mode)
    for name in entry.get("supported_modalities") or []:
        if name in MODALITY_NAMES:
            inputs.add(MODALITY_NAMES[name])
    listed_out = [
        MODALITY_NAMES[n]
        for n in entry.get("supported_output_modalities") or []
        if n in MODALITY_NAMES
    ]
    if listed_out:
        outputs = set(listed_out)
    chatty = mode in (Mode.chat, Mode.responses, Mode.completion, Mode.realtime)
    if chatty and entry.get("supports_vision") is True:
        inputs.add(Modality.image)
    if chatty and entry.get("supports_pdf_input") is True:
        inputs.add(Modality.pdf)
    if chatty and entry.get("supports_audio_input") is True:
        inputs.add(Modality.audio)
    if chatty and entry.get("supports_video_input") is True:
        inputs.add(Modality.video)
    if chatty and entry.get("supports_audio_output") is True:
        outputs.add(Modality.audio)
    if mode == Mode.embedding and entry.get("supports_embedding_image_input") is True:
        inputs.add(Modality.image)
    return inputs, outputs


def _limits(entry: Mapping[str, Any]) -> dict[str, int]:
    limits = {}
    for key, name in (
        ("max_input_tokens", "context_window"),
        ("max_output_tokens", "max_output_tokens"),
        ("output_vector_size", "embedding_dimensions"),
    ):
        value = entry.get(key)
        if isinstance(value, int | Decimal) and not isinstance(value, bool) and value > 0:
            limits[name] = int(value)
    return limits


def _lifecycle(entry: Mapping[str, Any]) -> dict[str, date]:
    value = entry.get("deprecation_date")
    try:
        return {"deprecated": date.fromisoformat(str(value))} if value else {}
    except ValueError:
        return {}
