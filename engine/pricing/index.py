"""The price index: every price row of a catalog version, grouped by model and dimension, built
once from the DuckDB ``prices`` and ``units`` tables so that pricing a call touches no database.

The selection rules live in :mod:`.cost`; this module only holds rows and finds models by name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal

import duckdb

from ..paths import sql_text


class PricingError(ValueError):
    """A call that cannot be priced; the message names what is missing and where."""


class UnknownModelError(PricingError):
    def __init__(self, provider_id: str, model: str) -> None:
        self.provider_id, self.model = provider_id, model
        super().__init__(f"unknown model {model!r} for provider {provider_id!r}")


@dataclass(frozen=True, slots=True)
class PriceRow:
    """One catalog price row, as the cost function needs it."""

    price_id: str
    dimension: str
    usage_key: str
    amount: Decimal
    per: int
    effective_from: datetime
    effective_to: datetime | None
    service_tier: str
    region: str | None
    window_start: time | None
    window_end: time | None
    image_size: str | None
    image_quality: str | None
    video_resolution: str | None
    long_context_threshold: int | None
    long_context_inclusive: bool | None
    conditions_key: str
    scaled_amount: Decimal  # amount / per, exactly (per is a power of ten): amount per unit

    def in_force(self, at: datetime) -> bool:
        return self.effective_from <= at and (self.effective_to is None or at < self.effective_to)


@dataclass(slots=True)
class ModelPrices:
    provider_id: str
    model_id: str
    capability_class: str
    provider_kind: str
    rows: dict[str, tuple[PriceRow, ...]] = field(default_factory=dict)  # by dimension
    # Candidate rows per (dimension, context), built on first use (see cost._candidates).
    plans: dict[object, object] = field(default_factory=dict, repr=False, compare=False)
    # Compiled price plans per PricingContext (see plan.py), built on first use.
    compiled: dict[object, object] = field(default_factory=dict, repr=False, compare=False)
    default_plan: object = field(default=None, repr=False, compare=False)  # compiled[default]

    def offers_tier(self, tier: str, at: datetime) -> bool:
        """A service tier is offered when at least one of its rows is in force at ``at``."""
        spans = self.plans.get(("tier", tier))
        if spans is None:
            spans = self.plans[("tier", tier)] = [
                r for rows in self.rows.values() for r in rows if r.service_tier == tier
            ]
        return any(r.in_force(at) for r in spans)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Unit:
    dimension: str
    usage_key: str
    per: int
    qualifiers: tuple[str, ...]


@dataclass
class PriceIndex:
    """Everything needed to price calls for one catalog version."""

    catalog_version: str
    units: dict[str, Unit]
    models: dict[tuple[str, str], ModelPrices]
    # (provider_id, lower-cased name) -> model_id for ids, aliases and `equals` match rules.
    exact_names: dict[tuple[str, str], str] = field(default_factory=dict)
    # provider_id -> [(kind, lower-cased text, model_id)] for starts_with/contains match rules.
    pattern_names: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    dimension_for_key: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.dimension_for_key = {u.usage_key: u.dimension for u in self.units.values()}

    @classmethod
    def from_connection(cls, con: duckdb.DuckDBPyConnection) -> PriceIndex:
        """Read the catalog tables (as loaded by ``open_catalog``) into an index."""
        cur = con.cursor()
        (version,) = cur.execute("SELECT catalog_version FROM catalog_meta").fetchone()
        units = {
            dim: Unit(dim, key, per, tuple(quals))
            for dim, key, per, quals in cur.execute(
                "SELECT dimension, usage_key, per, qualifiers FROM units"
            ).fetchall()
        }
        for unit in units.values():
            _check_per(unit)
        models = {
            (p, m): ModelPrices(p, m, cls_, kind)
            for p, m, cls_, kind in cur.execute(
                "SELECT m.provider_id, m.model_id, m.capability_class, pr.kind "
                "FROM models m JOIN providers pr USING (provider_id)"
            ).fetchall()
        }
        grouped: dict[tuple[str, str], dict[str, list[PriceRow]]] = {}
        shared: dict[object, object] = {}
        for rec in cur.execute(sql_text("pricing/price_rows.sql")).fetchall():
            provider_id, model_id, *rest = rec
            row = _price_row(*_shared(rest, shared))
            row = dataclasses.replace(row, scaled_amount=_share(row.scaled_amount, shared))
            grouped.setdefault((provider_id, model_id), {}).setdefault(row.dimension, []).append(
                row
            )
        for key, by_dim in grouped.items():
            models[key].rows = {dim: tuple(rows) for dim, rows in by_dim.items()}
        index = cls(version, units, models)
        names = cur.execute(
            "SELECT provider_id, model_id, match_kind, name FROM model_names "
            "ORDER BY provider_id, match_kind, length(name) DESC, name"
        ).fetchall()
        for provider_id, model_id, kind, name in names:
            if kind in ("id", "alias", "equals"):
                index.exact_names.setdefault((provider_id, name.lower()), model_id)
            else:
                index.pattern_names.setdefault(provider_id, []).append(
                    (kind, name.lower(), model_id)
                )
        return index

    def model(self, provider_id: str, model_id: str) -> ModelPrices:
        try:
            return self.models[(provider_id, model_id)]
        except KeyError:
            raise UnknownModelError(provider_id, model_id) from None

    def resolve(self, provider_id: str, name: str) -> str:
        """The canonical model id for ``name``: the id itself, an alias, or a source name
        recorded at import (``equals`` first, then the longest ``starts_with``, then the longest
        ``contains``; names compare case-insensitively)."""
        if (provider_id, name) in self.models:
            return name
        lowered = name.lower()
        found = self.exact_names.get((provider_id, lowered))
        if found is not None:
            return found
        for wanted in ("starts_with", "contains"):
            for kind, text, model_id in self.pattern_names.get(provider_id, ()):
                if kind != wanted:
                    continue
                if lowered.startswith(text) if kind == "starts_with" else text in lowered:
                    return model_id
        raise UnknownModelError(provider_id, name)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _shared(rec: list, shared: dict[object, object]) -> list:
    """Equal values of the row's repeated fields (dimension, usage key, amount, per, validity
    instants, tier, conditions) as one shared object: a priced call then touches fewer distinct
    objects, which keeps the compiled pricing path (plan.py) in the CPU caches across models."""
    rec[5], rec[6] = _utc(rec[5]), _utc(rec[6])  # type: ignore[arg-type]
    for i in (1, 2, 3, 4, 5, 6, 7, 16):
        rec[i] = _share(rec[i], shared)
    return rec


def _share(value: object, shared: dict[object, object]) -> object:
    if value is None:
        return None
    # keyed by type and text: Decimals equal in value but not in exponent stay apart
    return shared.setdefault((type(value), str(value)), value)


def _price_row(*rec: object) -> PriceRow:
    (price_id, dimension, usage_key, amount, per, eff_from, eff_to, tier, region, w_start, w_end,
     size, quality, resolution, lc_threshold, lc_inclusive, conditions_key) = rec  # fmt: skip
    return PriceRow(
        price_id=price_id,  # type: ignore[arg-type]
        dimension=dimension,  # type: ignore[arg-type]
        usage_key=usage_key,  # type: ignore[arg-type]
        amount=amount,  # type: ignore[arg-type]
        per=per,  # type: ignore[arg-type]
        effective_from=eff_from,  # type: ignore[arg-type]
        effective_to=eff_to,  # type: ignore[arg-type]
        service_tier=tier,  # type: ignore[arg-type]
        region=region,  # type: ignore[arg-type]
        window_start=w_start,  # type: ignore[arg-type]
        window_end=w_end,  # type: ignore[arg-type]
        image_size=size,  # type: ignore[arg-type]
        image_quality=quality,  # type: ignore[arg-type]
        video_resolution=resolution,  # type: ignore[arg-type]
        long_context_threshold=lc_threshold,  # type: ignore[arg-type]
        long_context_inclusive=lc_inclusive,  # type: ignore[arg-type]
        conditions_key=conditions_key,  # type: ignore[arg-type]
        scaled_amount=amount * Decimal(1).scaleb(-(len(str(per)) - 1)),  # type: ignore[operator]
    )


def _check_per(unit: Unit) -> None:
    """Amounts are divided by ``per`` exactly, in Python and in SQL, only for powers of ten."""
    per = unit.per
    while per % 10 == 0:
        per //= 10
    if per != 1:
        raise PricingError(
            f"unit {unit.dimension!r} has per={unit.per}: pricing needs a power of ten "
            "so that amount/per is exact"
        )
