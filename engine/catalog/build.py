"""Build a validated catalog into a versioned Parquet snapshot.

The snapshot is a directory named by the catalog's content hash holding one Parquet file per
table and a ``manifest.json`` (row counts and file hashes). Building the same YAML twice gives
the same files byte for byte: rows are sorted, nothing time-dependent is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .load import Catalog, gc_paused
from .model import Mode

# The capability class a call falls in when nothing more specific is known about it.
MODE_CLASS: dict[Mode, str] = {
    Mode.chat: "text",
    Mode.completion: "text",
    Mode.responses: "text",
    Mode.embedding: "embedding",
    Mode.image_generation: "image",
    Mode.image_edit: "image",
    Mode.video_generation: "video",
    Mode.audio_transcription: "audio",
    Mode.audio_speech: "audio",
    Mode.realtime: "realtime",
    Mode.rerank: "text",
    Mode.moderation: "text",
    Mode.ocr: "vision",
}

MONEY = pl.Decimal(38, 18)
UTC_TS = pl.Datetime("us", "UTC")
STRS = pl.List(pl.String)

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "providers": {
        "provider_id": pl.String(),
        "name": pl.String(),
        "kind": pl.String(),
        "api_style": pl.String(),
        "base_url": pl.String(),
        "auth_scheme": pl.String(),
        "auth_header": pl.String(),
        "pricing_urls": STRS,
    },
    "models": {
        "provider_id": pl.String(),
        "model_id": pl.String(),
        "name": pl.String(),
        "mode": pl.String(),
        "capability_class": pl.String(),
        "input_modalities": STRS,
        "output_modalities": STRS,
        "context_window": pl.Int64(),
        "max_output_tokens": pl.Int64(),
        "max_images_per_request": pl.Int64(),
        "max_audio_seconds": pl.Int64(),
        "max_video_seconds": pl.Int64(),
        "embedding_dimensions": pl.Int64(),
        "released": pl.Date(),
        "deprecated": pl.Date(),
        "retired": pl.Date(),
    },
    "model_names": {
        "provider_id": pl.String(),
        "model_id": pl.String(),
        "match_kind": pl.String(),
        "name": pl.String(),
    },
    "model_capabilities": {
        "provider_id": pl.String(),
        "model_id": pl.String(),
        "capability": pl.String(),
        "declared": pl.Boolean(),
    },
    "capabilities": {
        "capability_id": pl.String(),
        "parent": pl.String(),
        "capability_class": pl.String(),
        "description": pl.String(),
        "aliases": STRS,
        "implies": STRS,
    },
    "units": {
        "dimension": pl.String(),
        "quantity": pl.String(),
        "per": pl.Int64(),
        "usage_key": pl.String(),
        "qualifiers": STRS,
        "description": pl.String(),
    },
    "prices": {
        "price_id": pl.String(),
        "provider_id": pl.String(),
        "model_id": pl.String(),
        "dimension": pl.String(),
        "amount": MONEY,
        "currency": pl.String(),
        "effective_from": UTC_TS,
        "effective_to": UTC_TS,
        "long_context_threshold": pl.Int64(),
        "long_context_inclusive": pl.Boolean(),
        "service_tier": pl.String(),
        "window_start": pl.Time(),
        "window_end": pl.Time(),
        "region": pl.String(),
        "image_size": pl.String(),
        "image_quality": pl.String(),
        "video_resolution": pl.String(),
        "conditions_key": pl.String(),
        "source": pl.String(),
        "recorded_at": UTC_TS,
    },
}

SORT_KEYS: dict[str, list[str]] = {
    "providers": ["provider_id"],
    "models": ["provider_id", "model_id"],
    "model_names": ["provider_id", "model_id", "match_kind", "name"],
    "model_capabilities": ["provider_id", "model_id", "capability"],
    "capabilities": ["capability_id"],
    "units": ["dimension"],
    "prices": ["provider_id", "model_id", "dimension", "conditions_key", "effective_from"],
}


def catalog_frames(catalog: Catalog) -> dict[str, pl.DataFrame]:
    """Every snapshot table as a DataFrame with a fixed schema and a fixed row order."""
    with gc_paused():
        return _frames(catalog)


def _frames(catalog: Catalog) -> dict[str, pl.DataFrame]:
    rows: dict[str, list[dict[str, object]]] = {name: [] for name in SCHEMAS}
    for provider in catalog.providers:
        rows["providers"].append(
            {
                "provider_id": provider.id,
                "name": provider.name,
                "kind": provider.kind.value,
                "api_style": provider.api_style.value,
                "base_url": provider.base_url,
                "auth_scheme": provider.auth.scheme.value,
                "auth_header": provider.auth.header,
                "pricing_urls": list(provider.pricing_urls),
            }
        )
    for provider, model in catalog.models():
        key = {"provider_id": provider.id, "model_id": model.id}
        rows["models"].append(
            {
                **key,
                "name": model.name,
                "mode": model.mode.value,
                "capability_class": MODE_CLASS[model.mode],
                "input_modalities": [m.value for m in model.modalities.input],
                "output_modalities": [m.value for m in model.modalities.output],
                **model.limits.model_dump(),
                **model.lifecycle.model_dump(),
            }
        )
        rows["model_names"] += _names(key, model.id, model.aliases, model.match)
        declared = set(model.capabilities)
        for cap in sorted(catalog.taxonomy.closure(model.capabilities)):
            rows["model_capabilities"].append(
                {**key, "capability": cap, "declared": cap in declared}
            )
        rows["prices"] += _price_rows(provider.id, model)
    for cap in catalog.taxonomy.capabilities.values():
        rows["capabilities"].append(
            {
                "capability_id": cap.id,
                "parent": cap.id.rpartition(".")[0] or None,
                "capability_class": catalog.taxonomy.classes[cap.id].value,
                "description": cap.description,
                "aliases": list(cap.aliases),
                "implies": list(cap.implies),
            }
        )
    for unit in catalog.units.values():
        rows["units"].append(
            {
                "dimension": unit.id,
                "quantity": unit.quantity.value,
                "per": unit.per,
                "usage_key": unit.usage_key,
                "qualifiers": [q.value for q in unit.qualifiers],
                "description": unit.description,
            }
        )
    return {
        name: pl.DataFrame(rows[name], schema=SCHEMAS[name], orient="row").sort(SORT_KEYS[name])
        for name in SCHEMAS
    }


def _names(key: dict[str, str], model_id: str, aliases: Iterable[str], match: Iterable) -> list:
    out = [{**key, "match_kind": "id", "name": model_id}]
    out += [{**key, "match_kind": "alias", "name": a} for a in aliases]
    for rule in match:
        kind, value = next((k, v) for k, v in rule.model_dump().items() if v is not None)
        out.append({**key, "match_kind": kind, "name": value})
    return out


def _price_rows(provider_id: str, model) -> list[dict[str, object]]:
    """Price rows with ``effective_to`` derived: the next row of the same series supersedes."""
    by_series: dict[tuple[str, str], list] = {}
    for row in model.prices:
        by_series.setdefault(row.series_key(), []).append(row)
    out = []
    for (dimension, conditions_key), series in by_series.items():
        series.sort(key=lambda r: r.effective_from)
        for i, row in enumerate(series):
            cond = row.conditions
            nxt = series[i + 1].effective_from if i + 1 < len(series) else None
            out.append(
                {
                    "price_id": row.row_id(provider_id, model.id),
                    "provider_id": provider_id,
                    "model_id": model.id,
                    "dimension": dimension,
                    "amount": row.amount,
                    "currency": row.currency,
                    "effective_from": row.effective_from,
                    "effective_to": nxt,
                    "long_context_threshold": cond.long_context.threshold
                    if cond.long_context
                    else None,
                    "long_context_inclusive": cond.long_context.inclusive
                    if cond.long_context
                    else None,
                    "service_tier": cond.service_tier.value,
                    "window_start": cond.time_window.start if cond.time_window else None,
                    "window_end": cond.time_window.end if cond.time_window else None,
                    "region": cond.region,
                    "image_size": cond.image_size,
                    "image_quality": cond.image_quality,
                    "video_resolution": cond.video_resolution,
                    "conditions_key": conditions_key,
                    "source": row.provenance.source,
                    "recorded_at": row.provenance.recorded_at,
                }
            )
    return out


@dataclass(frozen=True)
class Snapshot:
    version: str
    path: Path
    manifest: dict[str, object]


def read_snapshot(path: Path) -> Snapshot:
    """A snapshot directory already written (its manifest names its version)."""
    manifest = json.loads((path / "manifest.json").read_text())
    return Snapshot(str(manifest["catalog_version"]), path, manifest)


def write_snapshot(catalog: Catalog, out_dir: Path) -> Snapshot:
    """Write ``out_dir/<version>/``; an existing complete snapshot of that version is reused.

    Files are written in a temporary sibling directory that is renamed into place, so a reader
    never sees a half-built snapshot.
    """
    version = catalog.version
    final = out_dir / version
    if (final / "manifest.json").is_file():
        return read_snapshot(final)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=out_dir))
    try:
        tables = {}
        for name, frame in catalog_frames(catalog).items():
            target = staging / f"{name}.parquet"
            frame.write_parquet(target, compression="zstd", statistics=True)
            digest = hashlib.sha256(target.read_bytes()).hexdigest()
            tables[name] = {"file": target.name, "rows": frame.height, "sha256": digest}
        manifest = {"catalog_version": version, "tables": tables}
        (staging / "manifest.json").write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        )
        for path in staging.iterdir():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
        staging.chmod(0o755)
        try:
            staging.rename(final)
        except OSError:  # another process built the same version first: theirs is identical
            if not (final / "manifest.json").is_file():
                raise
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Snapshot(version, final, manifest)
