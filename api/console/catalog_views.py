"""Catalog pages of the console: the model browser, a model's prices with their history charts,
and the capability taxonomy. Read-only views over the catalog snapshot in DuckDB."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import duckdb

from byokvault.engine.catalog.load import Catalog
from byokvault.engine.paths import sql_text

from .charts import Series, step_chart

PAGE_LIMIT = 500


@dataclass(frozen=True)
class ModelFilter:
    provider: str | None = None
    capability: str | None = None
    modality: str | None = None
    max_input_price: Decimal | None = None

    @classmethod
    def from_query(cls, query: dict[str, str]) -> tuple[ModelFilter, list[str]]:
        """Form fields → filter; problems are returned for the page to show, not raised."""
        problems = []
        price: Decimal | None = None
        raw_price = (query.get("max_input_price") or "").strip()
        if raw_price:
            try:
                price = Decimal(raw_price)
                if price < 0 or not price.is_finite():
                    raise InvalidOperation
            except InvalidOperation:
                problems.append(f"max_input_price: {raw_price!r} is not a non-negative number")
                price = None
        return (
            cls(
                provider=query.get("provider") or None,
                capability=query.get("capability") or None,
                modality=query.get("modality") or None,
                max_input_price=price,
            ),
            problems,
        )


class CatalogViews:
    """Queries behind the catalog pages; one DuckDB cursor per thread."""

    def __init__(self, catalog: Catalog, con: duckdb.DuckDBPyConnection) -> None:
        self.catalog = catalog
        self._con = con
        self._local = threading.local()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self._con.cursor()
        return cur

    def _rows(self, sql_file: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        cur = self._cursor().execute(sql_text(sql_file), params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def models(
        self, flt: ModelFilter, at: datetime | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Models matching ``flt`` with their headline prices; ``limit`` None means all."""
        params = {
            "provider": flt.provider,
            "capability": flt.capability,
            "modality": flt.modality,
            "max_input_price": flt.max_input_price,
            "at": at or datetime.now(UTC),
            "limit": limit,
        }
        return self._rows("console/models.sql", params)

    def model_page(self, provider: str, model: str) -> dict[str, Any] | None:
        try:
            prov = self.catalog.provider(provider)
        except KeyError:
            return None
        entry = next((m for m in prov.models if m.id == model), None)
        if entry is None:
            return None
        rows = self._rows("console/model_prices.sql", {"provider": provider, "model": model})
        now = datetime.now(UTC)
        return {
            "provider": prov,
            "model": entry,
            "capabilities": sorted(self.catalog.taxonomy.closure(entry.capabilities)),
            "dimensions": _group_by_dimension(rows, now),
        }

    def taxonomy(self) -> list[dict[str, Any]]:
        tax = self.catalog.taxonomy
        return [
            {
                "id": cap.id,
                "depth": cap.id.count("."),
                "class": tax.classes[cap.id].value,
                "description": cap.description,
                "aliases": cap.aliases,
                "implies": cap.implies,
            }
            for cap in sorted(tax.capabilities.values(), key=lambda c: c.id)
        ]

    def filter_choices(self) -> dict[str, list[str]]:
        return {
            "providers": [p.id for p in self.catalog.providers],
            "capabilities": sorted(self.catalog.taxonomy.capabilities),
            "modalities": ["text", "image", "audio", "video", "pdf", "embedding"],
        }


def conditions_label(row: dict[str, Any]) -> str:
    """A human label for a price row's conditions ('standard' when it has none)."""
    cond = json.loads(row["conditions_key"])
    parts = [cond.pop("service_tier", "standard")]
    lc = cond.pop("long_context", None)
    if lc:
        parts.append(f"input {'≥' if lc['inclusive'] else '>'} {lc['threshold']:,} tokens")
    tw = cond.pop("time_window", None)
    if tw:
        parts.append(f"{tw['start'][:5]}–{tw['end'][:5]} UTC")
    parts += [f"{k.replace('_', ' ')} {v}" for k, v in sorted(cond.items())]
    return ", ".join(parts)


def _group_by_dimension(rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    dims: dict[str, dict[str, Any]] = {}
    for row in rows:
        row["label"] = conditions_label(row)
        row["current"] = row["effective_from"] <= now and (
            row["effective_to"] is None or row["effective_to"] > now
        )
        dim = dims.setdefault(
            row["dimension"],
            {
                "dimension": row["dimension"],
                "per": row["per"],
                "quantity": row["quantity"],
                "rows": [],
                "series": {},
            },
        )
        dim["rows"].append(row)
        dim["series"].setdefault(row["label"], []).append((row["effective_from"], row["amount"]))
    for dim in dims.values():
        series = [Series(label, pts) for label, pts in dim.pop("series").items()]
        unit = f"USD per {dim['per']:,} {dim['quantity']}"
        dim["unit"] = unit
        dim["chart"] = step_chart(f"{dim['dimension']} price history", series, now, unit)
        dim["changes"] = sum(len(s.points) - 1 for s in series)
    return list(dims.values())
