"""Running imports: a source name and a location → ImportResult; results → a catalog dir."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from ..catalog.load import (
    CAPABILITIES_FILE,
    PROVIDERS_DIR,
    UNITS_FILE,
    Catalog,
    lazy_catalog,
    load_catalog,
)
from ..catalog.model import CapabilityTaxonomy, Provider, UnitRegistry
from ..catalog.yamlio import read_yaml, to_plain
from .common import ImportResult, now_utc
from .reconcile import MergeOutcome, merge
from .sources import SourcesConfig, load_sources
from .writer import copy_registries, write_providers

Importer = Callable[..., ImportResult]


def importers() -> dict[str, Importer]:
    """Source name → importer function (imported lazily: each pulls its own helpers)."""
    from .genai_prices import import_genai_prices

    table: dict[str, Importer] = {"genai-prices": import_genai_prices}
    try:
        from .litellm import import_litellm
        from .models_dev import import_models_dev

        table["litellm"] = import_litellm
        table["models-dev"] = import_models_dev
    except ImportError:  # pragma: no cover - during bring-up only
        pass
    try:
        from .local import import_ollama, import_openai_compatible
        from .openrouter import import_openrouter

        table["openrouter"] = import_openrouter
        table["ollama"] = import_ollama
        table["openai-compatible"] = import_openai_compatible
    except ImportError:  # pragma: no cover
        pass
    return table


def import_source(
    source: str,
    location: Any,
    *,
    config: SourcesConfig | None = None,
    recorded_at: datetime | None = None,
) -> ImportResult:
    table = importers()
    if source not in table:
        raise ValueError(f"unknown source {source!r}; one of {', '.join(sorted(table))}")
    return table[source](location, config=config or load_sources(), recorded_at=recorded_at)


def existing_providers(catalog_dir: Path) -> dict[str, Provider]:
    """The providers already in ``catalog_dir`` (validated), or none for a new directory."""
    if not any((catalog_dir / PROVIDERS_DIR).glob("*.yaml")):
        return {}
    return {p.id: p for p in load_catalog(catalog_dir).providers}


def catalog_with(catalog_dir: Path, providers: Iterable[Provider]) -> Catalog:
    """``catalog_dir``'s registries with ``providers`` (already validated, e.g. a merge's
    result), as a Catalog: what ``diff_catalogs`` compares. Providers in file order (by id),
    as ``load_catalog`` reads them, so the version is the one the written files will have."""
    shell = lazy_catalog(catalog_dir, version="")  # registries only; providers given here
    ordered = tuple(sorted(providers, key=lambda p: p.id))
    return dataclasses.replace(shell, _providers=ordered, _known_version=None)


def registry_names(catalog_dir: Path) -> tuple[set[str], set[str]]:
    """The capability ids and dimension ids ``catalog_dir`` knows."""
    units = UnitRegistry.model_validate(to_plain(read_yaml(catalog_dir / UNITS_FILE)))
    caps = CapabilityTaxonomy.model_validate(to_plain(read_yaml(catalog_dir / CAPABILITIES_FILE)))
    return {c.id for c in caps.capabilities}, {u.id for u in units.units}


def apply_imports(
    catalog_dir: Path,
    results: list[ImportResult],
    *,
    config: SourcesConfig | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> MergeOutcome:
    """Reconcile ``results`` with ``catalog_dir`` (created complete if missing or empty) and
    write the changed provider files atomically; the written catalog is validated first."""
    catalog_dir = catalog_dir.resolve()
    copy_registries(catalog_dir)
    config = config or load_sources(catalog_dir)
    capabilities, dimensions = registry_names(catalog_dir)
    existing = existing_providers(catalog_dir)
    outcome = merge(existing, results, config, now or now_utc(), capabilities, dimensions)
    if not dry_run and outcome.changed:
        write_providers(
            catalog_dir, outcome.providers, outcome.changed, outcome.curated, validate=load_catalog
        )
    return outcome
