"""Import OpenRouter's model list (``GET https://openrouter.ai/api/v1/models``).

OpenRouter's prices are its own (it resells), so every model lands under the ``openrouter``
provider with OpenRouter's id (``anthropic/claude-sonnet-4``); the upstream provider's own
prices come from the other sources.

- ``pricing`` values are decimal strings in USD per token (per request, per image, per search):
  ``prompt``/``completion`` × 1,000,000 → input/output tokens, ``input_cache_read``/``_write``,
  ``internal_reasoning``, ``audio`` likewise; ``request`` and ``web_search`` × 1,000.
- ``"-1"`` means variable (routers such as ``openrouter/auto``): not a number, never imported.
- ``"0"`` for prompt/completion is an explicit price (OpenRouter's ``:free`` variants); a zero
  for an auxiliary item (request, image, search, reasoning, cache) means "no such charge" and is
  not written as a row.
- ``supported_parameters`` → capabilities (tools, structured outputs, reasoning, web search);
  sampling parameters are counted as unmapped. ``architecture`` modalities → modalities.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..catalog.model import Modality, Mode, PriceRow
from .common import ImportResult, ModelDraft, decimal_or_none, plain
from .fetch import source_data
from .infer import baseline_capabilities, mode_from_name
from .sources import SourcesConfig, load_sources

SOURCE = "openrouter"
PROVIDER = "openrouter"
MILLION = Decimal(1_000_000)
THOUSAND = Decimal(1000)
PRICES: dict[str, tuple[str, Decimal]] = {
    "prompt": ("input_tokens", MILLION),
    "completion": ("output_tokens", MILLION),
    "input_cache_read": ("cache_read_tokens", MILLION),
    "input_cache_write": ("cache_write_tokens", MILLION),
    "internal_reasoning": ("output_reasoning_tokens", MILLION),
    "audio": ("input_audio_tokens", MILLION),
    "image": ("input_images", Decimal(1)),
    "request": ("requests", THOUSAND),
    "web_search": ("web_searches", THOUSAND),
}
EXPLICIT_ZERO = {"prompt", "completion"}
PARAMETERS = {
    "tools": "tools.function_calling",
    "structured_outputs": "structured_output.json_schema",
    "response_format": "structured_output.json_mode",
    "reasoning": "reasoning",
    "include_reasoning": "reasoning",
    "web_search_options": "search.web",
    "parallel_tool_calls": "tools.parallel_calls",
}
SAMPLING = {
    "temperature", "top_p", "top_k", "min_p", "top_a", "frequency_penalty", "presence_penalty",
    "repetition_penalty", "max_tokens", "stop", "seed", "logit_bias", "logprobs", "top_logprobs",
    "tool_choice", "verbosity",
}  # fmt: skip
MODALITIES = {
    "text": Modality.text,
    "image": Modality.image,
    "audio": Modality.audio,
    "video": Modality.video,
    "file": Modality.pdf,
    "embeddings": Modality.embedding,
}
MODEL_KEYS = {
    "id", "canonical_slug", "name", "created", "description", "context_length", "architecture",
    "pricing", "top_provider", "supported_parameters", "hugging_face_id", "per_request_limits",
    "default_parameters",
}  # fmt: skip


def import_openrouter(
    source: str | Path | Mapping[str, Any],
    *,
    config: SourcesConfig | None = None,
    recorded_at: datetime | None = None,
) -> ImportResult:
    config = config or load_sources()
    data, origin = source_data(source, "openrouter")
    models = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(models, list):
        raise ValueError(f"{origin}: expected OpenRouter's {{'data': [models]}} response")
    result = ImportResult.begin(SOURCE, origin, config, recorded_at)
    provider_id = config.provider_id(SOURCE, PROVIDER)
    result.provider(provider_id, PROVIDER).base_url = "https://openrouter.ai/api/v1"
    for raw in models:
        result.entries_read += 1
        if isinstance(raw, Mapping) and isinstance(raw.get("id"), str):
            _import_model(provider_id, raw, result)
        else:
            result.skipped["entry without an id"] += 1
    return result


def _import_model(provider_id: str, raw: Mapping[str, Any], result: ImportResult) -> None:
    source_name = raw["id"]
    model_id = result.catalog_id(source_name)
    if model_id is None:
        return
    result.count_unmapped(raw, MODEL_KEYS, "model")
    arch = raw.get("architecture") or {}
    inputs = {MODALITIES[m] for m in arch.get("input_modalities") or [] if m in MODALITIES}
    outputs = {MODALITIES[m] for m in arch.get("output_modalities") or [] if m in MODALITIES}
    mode = mode_from_name(model_id)
    if mode not in (Mode.embedding, Mode.rerank, Mode.moderation):
        mode = Mode.image_generation if outputs == {Modality.image} else Mode.chat
    inputs = inputs or {Modality.text}
    outputs = {Modality.embedding} if mode == Mode.embedding else (outputs or {Modality.text})
    limits = _limits(raw)
    caps = baseline_capabilities(mode, inputs, outputs, limits.get("context_window"))
    for param in raw.get("supported_parameters") or []:
        if param in PARAMETERS:
            caps.add(PARAMETERS[param])
        elif param not in SAMPLING:
            result.unmapped[f"supported_parameters.{param}"] += 1
    lifecycle = {}
    created = raw.get("created")
    if isinstance(created, int | Decimal) and created > 0:
        lifecycle["released"] = datetime.fromtimestamp(int(created), UTC).date()
    names = {source_name, str(raw.get("canonical_slug") or source_name)} - {model_id}
    result.add_model(
        ModelDraft(
            provider=provider_id,
            id=model_id,
            name=str(raw.get("name") or source_name),
            mode=mode,
            source=SOURCE,
            source_names=names,
            input_modalities=inputs,
            output_modalities=outputs,
            capabilities=caps,
            limits=limits,
            lifecycle=lifecycle,
            prices=_rows(raw.get("pricing") or {}, mode, result),
        )
    )


def _limits(raw: Mapping[str, Any]) -> dict[str, int]:
    out = {}
    top = raw.get("top_provider") or {}
    for value, name in (
        (raw.get("context_length") or top.get("context_length"), "context_window"),
        (top.get("max_completion_tokens"), "max_output_tokens"),
    ):
        if isinstance(value, int | Decimal) and not isinstance(value, bool) and value > 0:
            out[name] = int(value)
    return out


def _rows(pricing: Mapping[str, Any], mode: Mode, result: ImportResult) -> list[PriceRow]:
    explicit = {"prompt"} if mode == Mode.embedding else EXPLICIT_ZERO
    rows = []
    for key, value in pricing.items():
        if key not in PRICES:
            result.unmapped[f"pricing.{key}"] += 1
            continue
        amount = decimal_or_none(value)
        if amount is None or amount < 0:
            result.skipped[f"variable or non-numeric price ({key}={value!r})"] += 1
            continue
        if amount == 0 and key not in explicit:
            result.skipped[f"zero auxiliary price: no such charge ({key})"] += 1
            continue
        dimension, multiplier = PRICES[key]
        row = result.try_row(dimension, plain(amount * multiplier))
        if row is not None:
            rows.append(row)
    return rows
