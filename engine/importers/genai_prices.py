"""Import pydantic/genai-prices data (the v2 ``data.json`` or the package's own objects).

Semantics kept exactly as genai-prices computes them (``genai_prices/types.py``):

- ``*_mtok`` prices are per 1,000,000 tokens (our ``per`` for token units), ``*_kcount`` per
  1,000 calls/requests, ``input_mchars`` per 1,000,000 characters.
- Tiered prices ``{base, tiers: [{start, price}]}`` are a cliff on the request's *total input
  tokens*, tested with ``total_input_tokens > tier.start``: a tier starting at 200,000 applies
  from 200,001 tokens, so the rows get ``long_context {threshold: start, inclusive: false}``.
- A list of conditional prices: entries with a ``start_date`` constraint become dated rows
  (``effective_from`` = that date, 00:00 UTC); the first entry applies to any earlier time,
  so it gets ``effective_from`` = :data:`UNDATED`. Entries with ``start_time``/``end_time``
  become ``time_window`` rows (a daily UTC window; genai-prices treats ``end < start`` as
  wrapping past midnight, as our TimeWindow does).
- ``price_variants`` selected by request context map to service tiers: ``processing: batch``
  → batch, ``service_tier: flex|priority`` → flex|priority. A variant overrides only the keys
  it lists; the other keys keep the standard price, so the tier's rows are written for every
  standard key (copied where not overridden), evaluated at every date where anything changes.
- Match rules: ``equals`` names become aliases, ``starts_with``/``contains`` become MatchRules,
  ``or`` is flattened; ``and``, ``regex`` and ``ends_with`` cannot be expressed and are reported
  (with the rule text) rather than dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

from ..catalog.model import (
    Conditions,
    LongContextTier,
    MatchRule,
    Modality,
    PriceRow,
    ServiceTier,
    TimeWindow,
)
from .common import UNDATED, ImportResult, ModelDraft, decimal_or_none
from .fetch import is_url, read_source
from .infer import baseline_capabilities, default_modalities, mode_from_name
from .sources import SourcesConfig, load_sources

SOURCE = "genai-prices"

# genai-prices price key → our dimension (both denominated the same way; see units.yaml).
PRICE_KEYS: dict[str, str] = {
    "input_mtok": "input_tokens",
    "output_mtok": "output_tokens",
    "cache_read_mtok": "cache_read_tokens",
    "cache_write_mtok": "cache_write_tokens",
    "cache_write_5m_mtok": "cache_write_tokens",
    "cache_write_1h_mtok": "cache_write_1h_tokens",
    "input_audio_mtok": "input_audio_tokens",
    "cache_audio_read_mtok": "cache_audio_read_tokens",
    "output_audio_mtok": "output_audio_tokens",
    "input_image_mtok": "input_image_tokens",
    "output_image_mtok": "output_image_tokens",
    "input_video_mtok": "input_video_tokens",
    "output_reasoning_mtok": "output_reasoning_tokens",
    "web_searches_kcount": "web_searches",
    "requests_kcount": "requests",
    "input_mchars": "input_characters",
    "input_document_kpages": "input_document_pages",
}

# Hour-denominated keys → (dimension, divisor): converted only when exact (never rounded).
CONVERTED_KEYS: dict[str, tuple[str, int]] = {
    "audio_hours": ("input_audio_seconds", 3600),
    "input_audio_hours": ("input_audio_seconds", 3600),
}

# Request-context selectors of price variants that are service tiers in our model.
VARIANT_TIERS: dict[tuple[str, str], ServiceTier] = {
    ("processing", "batch"): ServiceTier.batch,
    ("service_tier", "flex"): ServiceTier.flex,
    ("service_tier", "priority"): ServiceTier.priority,
    ("service_tier", "batch"): ServiceTier.batch,
}

MODEL_KEYS_MAPPED = {"id", "name", "match", "context_window", "prices", "price_variants"}
PROVIDER_KEYS_MAPPED = {"id", "name", "pricing_urls", "api_pattern", "models"}

# A resolved price for one key: a flat amount, or (base, ((start, price), ...)).
Price = Decimal | tuple[Decimal, tuple[tuple[int, Decimal], ...]]
SeriesKey = tuple[str, ServiceTier, int | None, tuple[time, time] | None]


def import_genai_prices(
    source: str | Path | Iterable[Any],
    *,
    config: SourcesConfig | None = None,
    recorded_at: datetime | None = None,
) -> ImportResult:
    """Import genai-prices data from a path, an URL, parsed JSON (a list of providers) or the
    ``genai_prices.data.providers`` objects of the installed package."""
    config = config or load_sources()
    if isinstance(source, Path | str):
        data, origin = read_source(source)
    else:
        data, origin = [_raw(p) for p in source], "genai_prices package data"
    if not isinstance(data, list):
        raise ValueError(f"{origin}: genai-prices data must be a list of providers")
    result = ImportResult.begin(SOURCE, origin, config, recorded_at)
    for raw_provider in data:
        _import_provider(_raw(raw_provider), result, config)
    return result


# --- package objects → the JSON shape -------------------------------------------------------


def _raw(obj: Any) -> Any:
    """genai-prices package dataclasses → the same shape as its data.json."""
    if isinstance(obj, Mapping):
        return {str(k): _raw(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_raw(v) for v in obj]
    if isinstance(obj, Decimal | str | int | float | bool | date | time) or obj is None:
        return obj
    name = type(obj).__name__
    if name == "ModelPrice":
        return {k: _raw(v) for k, v in vars(obj).items() if not k.startswith("_") and v is not None}
    if name in ("ClauseOr", "ClauseAnd"):
        key = "or" if name == "ClauseOr" else "and"
        return {key: [_raw(c) for c in getattr(obj, key + "_")]}
    if dataclasses.is_dataclass(obj):
        return {
            f.name: _raw(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not f.name.startswith("_") and getattr(obj, f.name) is not None
        }
    raise TypeError(f"cannot read genai-prices object of type {name}")


# --- providers and models -------------------------------------------------------------------


def _import_provider(raw: dict[str, Any], result: ImportResult, config: SourcesConfig) -> None:
    provider_id = config.provider_id(SOURCE, raw["id"])
    draft = result.provider(provider_id, raw["id"])
    draft.name = draft.name or raw.get("name")
    draft.pricing_urls = list(raw.get("pricing_urls") or [])
    draft.base_url = draft.base_url or _base_url(raw.get("api_pattern"))
    result.count_unmapped(raw, PROVIDER_KEYS_MAPPED, "provider")
    for raw_model in raw.get("models", []):
        result.entries_read += 1
        _import_model(provider_id, raw_model, result)


def _base_url(api_pattern: str | None) -> str | None:
    """``https://api\\.anthropic\\.com`` → ``https://api.anthropic.com`` when it is a plain URL."""
    if not api_pattern:
        return None
    text = api_pattern.replace("\\.", ".").replace("\\/", "/")
    if any(ch in text for ch in "()[]|*+?^$\\"):
        return None
    return text if text.startswith(("http://", "https://")) else None


def _import_model(provider_id: str, raw: dict[str, Any], result: ImportResult) -> None:
    source_name = str(raw["id"])
    model_id = result.catalog_id(source_name)
    if model_id is None:
        return
    mode = mode_from_name(model_id)
    inputs, outputs = default_modalities(mode)
    aliases, match = _match_rules(raw.get("match"), model_id, result)
    limits = {}
    if isinstance(raw.get("context_window"), int) and raw["context_window"] > 0:
        limits["context_window"] = raw["context_window"]
    result.count_unmapped(raw, MODEL_KEYS_MAPPED, "model")
    rows = _price_rows(raw, result)
    if not rows and not _has_prices(raw):
        # genai-prices prices an empty price set at 0 (its ``:free`` variants, free previews):
        # kept as the explicit zero it computes, not as "unknown".
        dims_free = ["input_tokens", "output_tokens"]
        rows = [result.row(d, Decimal(0)) for d in dims_free]
        result.skipped["empty price set imported as an explicit 0 (as genai-prices computes)"] += 1
    dims = {r.dimension for r in rows}
    if {"input_audio_tokens", "cache_audio_read_tokens"} & dims:
        inputs.add(Modality.audio)
    if "input_image_tokens" in dims:
        inputs.add(Modality.image)
    if "input_video_tokens" in dims:
        inputs.add(Modality.video)
    if "output_audio_tokens" in dims:
        outputs.add(Modality.audio)
    if "output_image_tokens" in dims:
        outputs.add(Modality.image)
    caps = baseline_capabilities(mode, inputs, outputs, limits.get("context_window"))
    if any(r.conditions.service_tier == ServiceTier.batch for r in rows):
        caps.add("batch")
    if "web_searches" in dims:
        caps.add("search.web")
    result.add_model(
        ModelDraft(
            provider=provider_id,
            id=model_id,
            name=str(raw.get("name") or source_name),
            mode=mode,
            source=SOURCE,
            source_names={source_name, *aliases} - {model_id},
            match=match,
            input_modalities=inputs,
            output_modalities=outputs,
            capabilities=caps,
            limits=limits,
            prices=rows,
        )
    )


def _has_prices(raw: dict[str, Any]) -> bool:
    prices = raw.get("prices")
    entries = prices if isinstance(prices, list) else [{"prices": prices or {}}]
    variants = raw.get("price_variants") or []
    return any(e.get("prices") for e in entries) or any(v.get("prices") for v in variants)


def _match_rules(
    clause: Any, model_id: str, result: ImportResult
) -> tuple[set[str], list[MatchRule]]:
    """Flatten an ``or`` tree into aliases (equals) and MatchRules; report what cannot map."""
    aliases: set[str] = set()
    rules: list[MatchRule] = []
    stack = [clause] if clause else []
    while stack:
        node = stack.pop()
        (kind, value), *_ = node.items()
        if kind == "or":
            stack.extend(reversed(value))
        elif kind == "equals":
            if str(value).lower() != model_id:
                aliases.add(str(value))
        elif kind in ("starts_with", "contains"):
            rule = MatchRule(**{kind: str(value).lower()})
            if rule not in rules:
                rules.append(rule)
        else:  # regex, ends_with, and: no MatchRule can say it
            result.unmapped[f"match.{kind}"] += 1
            result.notes.append(f"{model_id}: match rule not expressible, not imported: {node}")
    return aliases, rules


# --- prices ---------------------------------------------------------------------------------


def _price(value: Any) -> Price | None:
    if isinstance(value, Mapping) and "base" in value:
        base = decimal_or_none(value["base"])
        tiers = tuple(
            sorted((int(t["start"]), decimal_or_none(t["price"])) for t in value.get("tiers", []))
        )
        if base is None or any(p is None for _, p in tiers):
            return None
        return base, tiers  # type: ignore[return-value]
    return decimal_or_none(value)


def _price_set(raw: Mapping[str, Any], result: ImportResult, where: str) -> dict[str, Price]:
    out: dict[str, Price] = {}
    for key, value in raw.items():
        if key in CONVERTED_KEYS:
            converted = _converted(key, value)
            if converted is None:
                result.unmapped[f"{where}.{key} (not exactly convertible)"] += 1
            else:
                out[CONVERTED_KEYS[key][0]] = converted
            continue
        if key not in PRICE_KEYS:
            result.unmapped[f"{where}.{key}"] += 1
            continue
        price = _price(value)
        if price is None:
            result.skipped[f"{where}.{key}: not a number"] += 1
            continue
        out[key] = price
    return out


def _converted(key: str, value: Any) -> Decimal | None:
    amount = decimal_or_none(value)
    if amount is None:
        return None
    divisor = CONVERTED_KEYS[key][1]
    with localcontext(prec=60):
        per_unit = amount / divisor
    if per_unit * divisor != amount or -per_unit.as_tuple().exponent > 18:  # type: ignore[operator]
        return None
    return per_unit


def _start(constraint: Mapping[str, Any] | None) -> datetime | None:
    if not constraint or "start_date" not in constraint:
        return None
    value = constraint["start_date"]
    day = value if isinstance(value, date) else date.fromisoformat(str(value))
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _window(constraint: Mapping[str, Any] | None) -> tuple[time, time] | None:
    if not constraint or "start_time" not in constraint:
        return None
    return _utc_time(constraint["start_time"]), _utc_time(constraint["end_time"])


def _utc_time(value: Any) -> time:
    if isinstance(value, time):
        moment = value
    else:
        moment = time.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = datetime.combine(date(2000, 1, 1), moment).astimezone(UTC).time()
    return moment.replace(tzinfo=None)


def _price_rows(raw: dict[str, Any], result: ImportResult) -> list[PriceRow]:
    prices = raw.get("prices")
    entries = prices if isinstance(prices, list) else [{"prices": prices or {}}]
    dated: list[tuple[datetime | None, dict[str, Price]]] = []
    windows: list[tuple[tuple[time, time], dict[str, Price]]] = []
    for entry in entries:
        constraint = entry.get("constraint")
        price_set = _price_set(entry.get("prices") or {}, result, "prices")
        window = _window(constraint)
        if window is not None:
            windows.append((window, price_set))
        else:
            dated.append((_start(constraint), price_set))
    variants = _variants(raw.get("price_variants") or [], result)
    ended: list[str] = []
    series = _evaluate(dated, variants, ended)
    for what in dict.fromkeys(ended):
        result.skipped["price ended at a later date in the source (earlier price kept)"] += 1
        result.notes.append(f"{raw['id']}: {what}; the catalog keeps the earlier price")
    for window, price_set in windows:
        for key, price in price_set.items():
            for (dim, tier, threshold), amount in _expand(key, price, ServiceTier.standard):
                series.setdefault((dim, tier, threshold, window), []).append((UNDATED, amount))
    return [
        result.row(dim, amount, _conditions(tier, threshold, window), effective_from=start)
        for (dim, tier, threshold, window), points in sorted(series.items(), key=_series_order)
        for start, amount in points
    ]


def _series_order(item: tuple[SeriesKey, Any]) -> tuple[str, str, int, str]:
    (dim, tier, threshold, window), _ = item
    return dim, tier.value, threshold or 0, str(window or "")


def _conditions(
    tier: ServiceTier, threshold: int | None, window: tuple[time, time] | None
) -> Conditions:
    return Conditions(
        service_tier=tier,
        long_context=LongContextTier(threshold=threshold, inclusive=False) if threshold else None,
        time_window=TimeWindow(start=window[0], end=window[1]) if window else None,
    )


def _variants(
    raw_variants: list[Any], result: ImportResult
) -> list[tuple[ServiceTier, datetime | None, dict[str, Price]]]:
    out = []
    for variant in raw_variants:
        when = variant.get("when") or {}
        price_set = _price_set(variant.get("prices") or {}, result, "price_variants.prices")
        items = list(when.items())
        tier = VARIANT_TIERS.get(items[0]) if len(items) == 1 else None
        if items == [("service_tier", "default")] and not price_set:
            continue  # the explicit default tier with no overrides: the standard prices
        if tier is None or _window(variant.get("constraint")) is not None:
            label = ",".join(f"{k}={v}" for k, v in items)
            result.unmapped[f"price_variants.when.{label}"] += 1
            continue
        out.append((tier, _start(variant.get("constraint")), price_set))
    return out


def _standard_at(dated: list[tuple[datetime | None, dict[str, Price]]], at: datetime) -> dict:
    """genai-prices ``get_prices``: the last entry whose constraint is active, else the first."""
    for start, price_set in reversed(dated):
        if start is None or start <= at:
            return price_set
    return dated[0][1] if dated else {}


def _evaluate(
    dated: list[tuple[datetime | None, dict[str, Price]]],
    variants: list[tuple[ServiceTier, datetime | None, dict[str, Price]]],
    ended: list[str],
) -> dict[SeriesKey, list[tuple[datetime, Decimal]]]:
    """Resolve the price of every (dimension, tier, long-context threshold) at every date where
    anything changes, and keep the points where a series' amount changes."""
    starts = {s for s, _ in dated if s} | {s for _, s, _ in variants if s}
    tiers = [ServiceTier.standard, *dict.fromkeys(t for t, _, _ in variants)]
    series: dict[SeriesKey, list[tuple[datetime, Decimal]]] = {}
    for at in [UNDATED, *sorted(starts)]:
        standard = _standard_at(dated, at)
        for tier in tiers:
            resolved = dict(standard)
            if tier != ServiceTier.standard:
                overrides: dict[str, Price] = {}
                for v_tier, v_start, price_set in variants:
                    if v_tier == tier and (v_start is None or v_start <= at):
                        for key, price in price_set.items():
                            overrides.setdefault(key, price)
                if not overrides:
                    continue  # the tier does not exist yet at this date
                resolved.update(overrides)
                _flat_over_cliffs(resolved, standard)
            _record(series, at, tier, resolved, ended)
    return series


def _flat_over_cliffs(resolved: dict[str, Price], standard: dict[str, Price]) -> None:
    """A variant's flat price replaces a tiered standard price at every context length; the
    catalog prefers a tier's rows over the standard cliff, so the flat price is also stated at
    each standard threshold (a cliff to the same price)."""
    for key, price in list(resolved.items()):
        std = standard.get(key)
        if isinstance(price, Decimal) and isinstance(std, tuple):
            resolved[key] = (price, tuple((start, price) for start, _ in std[1]))


def _expand(key: str, price: Price, tier: ServiceTier) -> list[tuple[tuple, Decimal]]:
    dim = PRICE_KEYS.get(key, key)  # converted keys are stored under their dimension
    if isinstance(price, Decimal):
        return [((dim, tier, None), price)]
    base, tiers = price
    return [((dim, tier, None), base), *(((dim, tier, start), amt) for start, amt in tiers)]


def _record(
    series: dict[SeriesKey, list[tuple[datetime, Decimal]]],
    at: datetime,
    tier: ServiceTier,
    resolved: dict[str, Price],
    ended: list[str],
) -> None:
    now: dict[tuple, Decimal] = {}
    for key, price in resolved.items():
        for skey, amount in _expand(key, price, tier):
            now[skey] = amount
    # A long-context series that no longer exists at this date ends: the cliff rate becomes
    # the plain rate (a cliff to the same price is no cliff).
    for dim, s_tier, threshold, window in series:
        if s_tier == tier and threshold and window is None and (dim, tier, threshold) not in now:
            base = now.get((dim, tier, None))
            if base is not None:
                now[(dim, tier, threshold)] = base
    for dim, s_tier, threshold, window in series:
        if s_tier == tier and window is None and (dim, tier, threshold) not in now:
            # The source stops pricing this series here; a catalog series cannot end, so the
            # earlier price stays (reported, never silent).
            ended.append(f"{dim} ({tier.value}) unpriced from {at.date()}")
    for (dim, s_tier, threshold), amount in now.items():
        points = series.setdefault((dim, s_tier, threshold, None), [])
        if not points or points[-1][1] != amount:
            points.append((at, amount))


def default_location() -> str:
    return "https://raw.githubusercontent.com/pydantic/genai-prices/main/prices/data.json"


__all__ = ["PRICE_KEYS", "SOURCE", "default_location", "import_genai_prices", "is_url"]
