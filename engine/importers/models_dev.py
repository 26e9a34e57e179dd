"""Import models.dev's API data (``https://models.dev/api.json``).

- ``cost`` values are USD per 1,000,000 tokens (our denomination): ``input``, ``output``,
  ``cache_read``, ``cache_write``, ``input_audio``, ``output_audio``, ``reasoning``.
- ``cost.tiers[{tier: {type: context, size}}]`` are long-context cliffs above ``size`` input
  tokens ("context_over_200k" is the same fact for 200k): ``inclusive: false``.
- A ``0`` cost is a price only for local providers or models marked free (``:free``); any other
  zero is treated as unknown (models.dev uses 0 for "not published") and counted.
- modalities, limits (``context``, ``output``; 0 = unknown), ``reasoning``, ``tool_call``,
  ``attachment``, ``structured_output`` → modalities, limits and capabilities; the mode is
  inferred from the output modalities and the name (models.dev has no mode).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..catalog.model import Conditions, LongContextTier, Modality, Mode, PriceRow, ProviderKind
from .common import ImportResult, ModelDraft, decimal_or_none
from .fetch import source_data
from .infer import baseline_capabilities, mode_from_name
from .sources import SourcesConfig, load_sources

SOURCE = "models-dev"
COSTS = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cache_read": "cache_read_tokens",
    "cache_write": "cache_write_tokens",
    "input_audio": "input_audio_tokens",
    "output_audio": "output_audio_tokens",
    "reasoning": "output_reasoning_tokens",
}
MODALITIES = {m.value: m for m in Modality}
NPM_STYLES = {
    "@ai-sdk/anthropic": "anthropic",
    "@ai-sdk/openai": "openai",
    "@ai-sdk/google": "google",
    "@ai-sdk/google-vertex": "google",
    "@ai-sdk/amazon-bedrock": "bedrock",
    "@ai-sdk/azure": "azure",
    "@ai-sdk/cohere": "cohere",
}
MODEL_KEYS = {
    "id", "name", "attachment", "reasoning", "tool_call", "cost", "limit", "modalities",
    "release_date", "structured_output", "family", "last_updated", "open_weights", "temperature",
    "knowledge",
}  # fmt: skip
_FREE = re.compile(r"(:|-|\b)free\b")


def import_models_dev(
    source: str | Path | Mapping[str, Any],
    *,
    config: SourcesConfig | None = None,
    recorded_at: datetime | None = None,
) -> ImportResult:
    config = config or load_sources()
    data, origin = source_data(source, "models.dev")
    if not isinstance(data, Mapping):
        raise ValueError(f"{origin}: models.dev data must be a JSON object of providers")
    result = ImportResult.begin(SOURCE, origin, config, recorded_at)
    for name, raw in data.items():
        if not isinstance(raw, Mapping):
            result.skipped["provider entry is not an object"] += 1
            continue
        provider_id = config.provider_id(SOURCE, str(raw.get("id") or name))
        provider = result.provider(provider_id, str(name))
        provider.name = provider.name or raw.get("name")
        api = raw.get("api")
        if isinstance(api, str) and api.startswith("http") and "$" not in api:
            provider.base_url = provider.base_url or api
        provider.api_style = provider.api_style or NPM_STYLES.get(str(raw.get("npm")))
        local = config.defaults(provider_id).kind == ProviderKind.local
        for model_name, model in (raw.get("models") or {}).items():
            result.entries_read += 1
            _import_model(provider_id, str(model_name), model, local, result)
    return result


def _import_model(
    provider_id: str, source_name: str, raw: Mapping[str, Any], local: bool, result: ImportResult
) -> None:
    model_id = result.catalog_id(source_name)
    if model_id is None:
        return
    result.count_unmapped(raw, MODEL_KEYS, "model")
    modalities = raw.get("modalities") or {}
    inputs = {MODALITIES[m] for m in modalities.get("input", []) if m in MODALITIES}
    outputs = {MODALITIES[m] for m in modalities.get("output", []) if m in MODALITIES}
    mode = _mode(model_id, inputs, outputs)
    inputs = inputs or {Modality.text}
    outputs = outputs or {Modality.text}
    if mode == Mode.embedding:
        outputs = {Modality.embedding}
    limits = _limits(raw.get("limit") or {})
    caps = baseline_capabilities(mode, inputs, outputs, limits.get("context_window"))
    if raw.get("reasoning") is True:
        caps.add("reasoning")
    if raw.get("tool_call") is True:
        caps.add("tools.function_calling")
    if raw.get("structured_output") is True:
        caps.add("structured_output.json_schema")
    free = bool(_FREE.search(model_id)) or local
    rows = _rows(raw.get("cost"), free, result)
    lifecycle = {}
    released = _date(raw.get("release_date"))
    if released:
        lifecycle["released"] = released
    result.add_model(
        ModelDraft(
            provider=provider_id,
            id=model_id,
            name=str(raw.get("name") or source_name),
            mode=mode,
            source=SOURCE,
            source_names={source_name} - {model_id},
            input_modalities=inputs,
            output_modalities=outputs,
            capabilities=caps,
            limits=limits,
            lifecycle=lifecycle,
            prices=rows,
        )
    )


def _mode(model_id: str, inputs: set[Modality], outputs: set[Modality]) -> Mode:
    named = mode_from_name(model_id)
    if named in (Mode.embedding, Mode.rerank, Mode.moderation):
        return named
    if outputs == {Modality.image}:
        return Mode.image_generation
    if outputs == {Modality.video}:
        return Mode.video_generation
    if outputs == {Modality.audio} and Modality.audio not in inputs:
        return Mode.audio_speech
    if inputs == {Modality.audio} and outputs <= {Modality.text}:
        return Mode.audio_transcription
    return Mode.realtime if named == Mode.realtime else Mode.chat


def _limits(raw: Mapping[str, Any]) -> dict[str, int]:
    out = {}
    for key, name in (("context", "context_window"), ("output", "max_output_tokens")):
        value = raw.get(key)
        if isinstance(value, int | Decimal) and not isinstance(value, bool) and value > 0:
            out[name] = int(value)
    return out


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _rows(cost: Any, free: bool, result: ImportResult) -> list[PriceRow]:
    if not isinstance(cost, Mapping):
        return []
    rows: list[PriceRow] = []
    conditions = Conditions()

    def add(key: str, value: Any, conditions: Conditions, where: str) -> None:
        amount = decimal_or_none(value)
        if key not in COSTS or amount is None:
            result.unmapped[f"{where}.{key}"] += 1
            return
        if amount == 0 and not free:
            result.skipped[f"zero price treated as unknown ({where}.{key})"] += 1
            return
        row = result.try_row(COSTS[key], amount, conditions)
        if row is not None:
            rows.append(row)

    tiers = cost.get("tiers")
    for key, value in cost.items():
        if key == "tiers" or (key == "context_over_200k" and tiers):
            continue
        if key == "context_over_200k" and isinstance(value, Mapping):
            cliff = Conditions(long_context=LongContextTier(threshold=200_000, inclusive=False))
            for sub, amount in value.items():
                add(sub, amount, cliff, "cost.context_over_200k")
            continue
        add(key, value, conditions, "cost")
    for tier in tiers or []:
        info = tier.get("tier") or {}
        size = info.get("size")
        if info.get("type") != "context" or not isinstance(size, int) or size <= 0:
            result.unmapped["cost.tiers (not a context tier)"] += 1
            continue
        cliff = Conditions(long_context=LongContextTier(threshold=size, inclusive=False))
        for key, value in tier.items():
            if key != "tier":
                add(key, value, cliff, "cost.tiers")
    return rows
