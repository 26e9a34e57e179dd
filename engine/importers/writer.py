"""Writing provider YAML that reads well as a git diff, and swapping it in atomically.

Format: block style for models and rows, flow style for short lists and for each row's
``conditions`` and ``provenance``; models sorted by id, rows by dimension, conditions and date;
amounts as plain decimals (never floats or exponents); keys in schema order, defaults left out.
Curated models keep their YAML exactly as a person wrote it (their text is spliced back in;
only imported models are regenerated).

The text is emitted directly rather than through ruamel's dumper: the generated catalog is tens
of MB and ruamel emits about 0.25 MB/s; every file written is read back by the ruamel-based
loader before it replaces anything (``write_providers(validate=...)``).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..catalog.load import CAPABILITIES_FILE, PROVIDERS_DIR, UNITS_FILE
from ..catalog.model import Model, PriceRow, Provider
from ..catalog.yamlio import read_yaml
from ..durable import fsync_path
from ..paths import BUNDLED_CATALOG
from .sources import SOURCES_FILE

SCHEMA_COMMENT = "# yaml-language-server: $schema=../schema/provider.schema.json\n"
REGISTRY_FILES = (UNITS_FILE, CAPABILITIES_FILE, SOURCES_FILE)
SCHEMA_DIR = "schema"


# A string is written plain only when YAML cannot read it as anything but that same string;
# everything else is double-quoted (a JSON string literal is a valid YAML double-quoted scalar).
_PLAIN = re.compile(r"^[A-Za-z_/.][A-Za-z0-9 ._/@+()&'#:=?%-]*[A-Za-z0-9._/)+=%-]$|^[A-Za-z]$")
_SPECIAL = re.compile(
    r"^(?:y|n|yes|no|true|false|on|off|null|nan|inf|\.inf|\.nan|~)$", re.IGNORECASE
)


def scalar(value: object) -> str:
    """One YAML scalar: plain where safe, else a double-quoted string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # normalized: no trailing zeros, no exponent
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return f'"{value.isoformat()}"'
    text = str(value)
    if (
        _PLAIN.fullmatch(text)
        and not _SPECIAL.fullmatch(text)
        and ": " not in text
        and " #" not in text
    ):
        # (no ", [ ] { }": plain scalars also sit inside flow collections)
        return text
    return _NON_PRINTABLE.sub(_escape, json.dumps(text, ensure_ascii=False))


# Characters YAML does not allow raw, or reads as line breaks (json.dumps escapes C0 controls).
_NON_PRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _flow_seq(items: Iterable[object]) -> str:
    return "[" + ", ".join(scalar(i) for i in items) + "]"


def _flow_map(pairs: dict[str, object]) -> str:
    parts = []
    for key, value in pairs.items():
        text = _flow_map(value) if isinstance(value, dict) else scalar(value)
        parts.append(f"{key}: {text}")
    return "{" + ", ".join(parts) + "}"


def _row_lines(row: PriceRow) -> list[str]:
    lines = [
        f"      - dimension: {row.dimension}",
        f"        amount: {scalar(row.amount)}",
    ]
    if row.currency != "USD":
        lines.append(f"        currency: {row.currency}")
    lines.append(f"        effective_from: {scalar(row.effective_from)}")
    conditions = row.conditions.model_dump(exclude_defaults=True)
    if conditions:
        lines.append(f"        conditions: {_flow_map(conditions)}")
    provenance = {"source": row.provenance.source, "recorded_at": row.provenance.recorded_at}
    lines.append(f"        provenance: {_flow_map(provenance)}")
    return lines


def model_text(model: Model) -> str:
    """One model entry of a provider file's ``models:`` list (schema key order)."""
    lines = [f"  - id: {scalar(model.id)}", f"    name: {scalar(model.name)}"]
    lines.append(f"    mode: {model.mode.value}")
    if model.aliases:
        lines.append(f"    aliases: {_flow_seq(model.aliases)}")
    if model.match:
        lines.append("    match:")
        lines += [f"      - {_flow_map(r.model_dump(exclude_none=True))}" for r in model.match]
    lines.append("    modalities:")
    lines.append(f"      input: {_flow_seq(m.value for m in model.modalities.input)}")
    lines.append(f"      output: {_flow_seq(m.value for m in model.modalities.output)}")
    if model.capabilities:
        lines.append(f"    capabilities: {_flow_seq(model.capabilities)}")
    for name, part in (("limits", model.limits), ("lifecycle", model.lifecycle)):
        values = part.model_dump(exclude_none=True)
        if values:
            lines.append(f"    {name}:")
            lines += [f"      {k}: {scalar(v)}" for k, v in values.items()]
    if model.prices:
        lines.append("    prices:")
        for row in model.prices:
            lines += _row_lines(row)
    return "\n".join(lines) + "\n"


def header_text(provider: Provider) -> str:
    lines = [
        SCHEMA_COMMENT.rstrip("\n"),
        f"id: {scalar(provider.id)}",
        f"name: {scalar(provider.name)}",
        f"kind: {provider.kind.value}",
        f"api_style: {provider.api_style.value}",
        f"base_url: {scalar(provider.base_url)}",
        "auth:",
        f"  scheme: {provider.auth.scheme.value}",
    ]
    if provider.auth.header:
        lines.append(f"  header: {scalar(provider.auth.header)}")
    if provider.pricing_urls:
        lines.append("pricing_urls:")
        lines += [f"  - {scalar(u)}" for u in provider.pricing_urls]
    lines.append("models:" if provider.models else "models: []")
    return "\n".join(lines) + "\n"


def render_provider(
    provider: Provider,
    curated_ids: set[str] | frozenset[str] = frozenset(),
    existing: Path | None = None,
) -> str:
    """The YAML text of ``provider``. When ``existing`` holds curated models, their entries and
    the file's header are kept exactly as written (text spliced, comments and all); only the
    imported models are (re)generated."""
    kept: dict[str, str] = {}
    header = header_text(provider)
    if curated_ids and existing is not None and existing.is_file():
        header, entries = _split_models(existing)
        kept = {mid: text for mid, text in entries.items() if mid in curated_ids}
        if not provider.models:
            return header
    body = "".join(kept.get(m.id) or model_text(m) for m in provider.models)
    return header + body


def _split_models(path: Path) -> tuple[str, dict[str, str]]:
    """A provider file → (text up to and including ``models:``, model id → its entry's text).

    Positions come from the round-trip parse; ``models`` must be the file's last key (as in
    every file this writer produces and the curated files)."""
    text = path.read_text(encoding="utf-8")
    doc = read_yaml(path)
    lines = text.splitlines(keepends=True)
    keys = list(doc)
    if "models" not in doc or keys[-1] != "models":
        raise ValueError(f"{path}: 'models' must be the last key to merge imported models")
    models_line = doc.lc.key("models")[0]
    seq = doc["models"] or []
    starts = [seq.lc.item(i)[0] for i in range(len(seq))]
    if starts:
        starts[0] = models_line + 1  # comments above the first entry travel with it
    header = "".join(lines[: models_line + 1])
    if not seq:
        header = "".join(lines[:models_line]) + "models:\n"
    entries = {}
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(lines)
        entry = "".join(lines[start:end])
        entries[str(seq[i]["id"])] = entry if entry.endswith("\n") else entry + "\n"
    return header, entries


# --- catalog directories --------------------------------------------------------------------


def copy_registries(dest: Path, source: Path = BUNDLED_CATALOG) -> None:
    """Give ``dest`` the registries a catalog needs to load (units, capabilities, sources and
    the JSON Schema), unless it already has its own."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in REGISTRY_FILES:
        if not (dest / name).exists() and (source / name).is_file():
            shutil.copy2(source / name, dest / name)
    if not (dest / SCHEMA_DIR).exists() and (source / SCHEMA_DIR).is_dir():
        shutil.copytree(source / SCHEMA_DIR, dest / SCHEMA_DIR)


def write_providers(
    catalog_dir: Path,
    providers: dict[str, Provider],
    changed: set[str],
    curated: dict[str, set[str]],
    validate: Any = None,
) -> list[Path]:
    """Write the changed provider files into ``catalog_dir/providers`` all at once.

    A complete new ``providers/`` is built beside the old one (unchanged files copied), checked
    with ``validate(tmp_catalog_dir)`` when given, and only then swapped in by renames; any
    failure before the swap leaves the catalog exactly as it was."""
    copy_registries(catalog_dir)
    live = catalog_dir / PROVIDERS_DIR
    live.mkdir(exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".import-", dir=catalog_dir))
    try:
        staged = stage / PROVIDERS_DIR
        shutil.copytree(live, staged)
        written = []
        for pid in sorted(changed):
            path = staged / f"{pid}.yaml"
            text = render_provider(providers[pid], curated.get(pid, set()), live / f"{pid}.yaml")
            path.write_text(text, encoding="utf-8")
            written.append(catalog_dir / PROVIDERS_DIR / f"{pid}.yaml")
        if validate is not None:
            for name in (*REGISTRY_FILES, SCHEMA_DIR):
                if (catalog_dir / name).exists():
                    (stage / name).symlink_to((catalog_dir / name).resolve())
            validate(stage)
        _swap(live, staged, stage)
        return written
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _swap(live: Path, staged: Path, stage: Path) -> None:
    old = stage / "old-providers"
    live.replace(old)
    try:
        staged.replace(live)
    except OSError:
        old.replace(live)  # put the old one back: nothing changed
        raise
    fsync_path(live.parent)
