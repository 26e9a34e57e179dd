"""Append-only prices: compare the working catalog with what was published at a reference.

A published price row is never edited or deleted; a price change is a new row with a later
``effective_from``. Against an earlier catalog (git ref, directory or snapshot) this refuses:

- a rewritten row: same id (provider, model, dimension, conditions, effective_from), but another
  amount, currency or provenance;
- a removed row;
- a back-dated row: a new row of an existing series whose ``effective_from`` is not after the
  latest one that series had, i.e. a row slipped into already published history.

New series and new later rows pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl

from .load import PROVIDERS_DIR, Catalog, display_path, load_catalog
from .refs import Source, resolve_ref
from .yamlio import InputError, Problem, problem_at, read_yaml

# Fields of a row that its id does not cover: changing one of them rewrites history.
MUTABLE_FIELDS = ("amount", "currency", "source", "recorded_at")
FIELD_LOC = {
    "amount": ["amount"],
    "currency": ["currency"],
    "source": ["provenance", "source"],
    "recorded_at": ["provenance", "recorded_at"],
}


@dataclass(frozen=True)
class PublishedRow:
    """A price row reduced to what the append-only rule compares."""

    price_id: str
    provider_id: str
    model_id: str
    dimension: str
    conditions_key: str
    effective_from: datetime
    amount: Decimal
    currency: str
    source: str
    recorded_at: datetime

    @property
    def series(self) -> tuple[str, str, str, str]:
        return self.provider_id, self.model_id, self.dimension, self.conditions_key

    def describe(self) -> str:
        conditions = "" if self.conditions_key == "{}" else f" {compact(self.conditions_key)}"
        return (
            f"{self.provider_id}/{self.model_id} {self.dimension}{conditions} "
            f"effective_from {iso(self.effective_from)}"
        )


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def compact(conditions_key: str) -> str:
    return json.dumps(json.loads(conditions_key), separators=(",", ":"), sort_keys=True)


def money(amount: Decimal) -> str:
    """A decimal without exponent or trailing zeros (snapshots pad to 18 places)."""
    return f"{amount.normalize():f}"


def catalog_rows(catalog: Catalog) -> dict[str, PublishedRow]:
    out = {}
    for provider, model in catalog.models():
        for row in model.prices:
            dimension, conditions_key = row.series_key()
            price_id = row.row_id(provider.id, model.id)
            out[price_id] = PublishedRow(
                price_id=price_id,
                provider_id=provider.id,
                model_id=model.id,
                dimension=dimension,
                conditions_key=conditions_key,
                effective_from=row.effective_from,
                amount=row.amount,
                currency=row.currency,
                source=row.provenance.source,
                recorded_at=row.provenance.recorded_at,
            )
    return out


def snapshot_rows(snapshot_dir: Path) -> dict[str, PublishedRow]:
    columns = list(PublishedRow.__dataclass_fields__)
    frame = pl.read_parquet(snapshot_dir / "prices.parquet", columns=columns)
    return {r["price_id"]: PublishedRow(**r) for r in frame.iter_rows(named=True)}


def published_rows(source: Source) -> dict[str, PublishedRow]:
    """The price rows of an earlier catalog or snapshot, by id."""
    if source.kind == "snapshot":
        return snapshot_rows(source.path)
    return catalog_rows(load_source_catalog(source))


def load_source_catalog(source: Source) -> Catalog:
    """Load an earlier catalog; its problems are named ``REF:file:line:column`` so they are not
    mistaken for problems of the working catalog."""
    try:
        return load_catalog(source.path)
    except InputError as exc:
        raise InputError(
            [
                Problem(f"{source.label}:{p.file}", p.line, p.column, p.field, p.message)
                for p in exc.problems
            ]
        ) from exc


def check_append_only(base: dict[str, PublishedRow], head: Catalog, label: str) -> list[Problem]:
    """Every way ``head`` breaks the published history ``base`` (empty: it only appends)."""
    head_rows = catalog_rows(head)
    where = _Locator(head)
    problems = []
    for price_id, old in base.items():
        new = head_rows.get(price_id)
        if new is None:
            problems.append(where.removed(old, label))
            continue
        changed = [f for f in MUTABLE_FIELDS if getattr(old, f) != getattr(new, f)]
        if changed:
            problems.append(where.rewritten(old, new, changed, label))
    latest: dict[tuple[str, str, str, str], datetime] = {}
    for row in base.values():
        latest[row.series] = max(row.effective_from, latest.get(row.series, row.effective_from))
    for price_id, new in head_rows.items():
        last = latest.get(new.series)
        if price_id not in base and last is not None and new.effective_from <= last:
            problems.append(where.backdated(new, last, label))
    return problems


class _Locator:
    """Finds a row, a model or a provider file of the head catalog, reading files lazily."""

    def __init__(self, head: Catalog) -> None:
        self.root = head.root
        self.rows: dict[str, tuple[str, int, int]] = {}
        self.model_index: dict[tuple[str, str], int] = {}
        for provider in head.providers:
            for i, model in enumerate(provider.models):
                self.model_index[provider.id, model.id] = i
                for k, row in enumerate(model.prices):
                    self.rows[row.row_id(provider.id, model.id)] = (provider.id, i, k)
        self.docs: dict[str, object] = {}

    def _file(self, provider_id: str) -> tuple[str, object | None]:
        path = self.root / PROVIDERS_DIR / f"{provider_id}.yaml"
        name = display_path(path, self.root)
        if provider_id not in self.docs:
            self.docs[provider_id] = read_yaml(path, name) if path.is_file() else None
        return name, self.docs[provider_id]

    def _at(self, provider_id: str, loc: list[str | int], message: str) -> Problem:
        name, doc = self._file(provider_id)
        if doc is None:
            return Problem(name, 1, 1, "", message + " (the provider file is gone)")
        return problem_at(doc, loc, name, message)

    def removed(self, old: PublishedRow, label: str) -> Problem:
        i = self.model_index.get((old.provider_id, old.model_id))
        loc: list[str | int] = ["models", i, "prices"] if i is not None else ["models"]
        message = (
            f"published price row removed: {old.describe()} "
            f"(amount {money(old.amount)} {old.currency} at {label}). Prices are append-only: "
            "restore the row; to change or end the price add a row with a later effective_from"
        )
        return self._at(old.provider_id, loc, message)

    def rewritten(
        self, old: PublishedRow, new: PublishedRow, changed: Iterable[str], label: str
    ) -> Problem:
        provider_id, i, k = self.rows[new.price_id]
        changes = "; ".join(
            f"{f} {_show(getattr(old, f))} at {label}, now {_show(getattr(new, f))}"
            for f in changed
        )
        message = (
            f"published price row rewritten: {old.describe()}: {changes}. Prices are "
            "append-only: restore the row and add a new one with a later effective_from"
        )
        first = next(iter(changed))
        return self._at(provider_id, ["models", i, "prices", k, *FIELD_LOC[first]], message)

    def backdated(self, new: PublishedRow, last: datetime, label: str) -> Problem:
        provider_id, i, k = self.rows[new.price_id]
        message = (
            f"back-dated price row: {new.describe()} is not after {iso(last)}, the latest "
            f"effective_from of this price series at {label}; a new price must take effect "
            "after every published one"
        )
        return self._at(provider_id, ["models", i, "prices", k, "effective_from"], message)


def _show(value: object) -> str:
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, datetime):
        return iso(value)
    return repr(value) if isinstance(value, str) else str(value)


def validate_against(catalog: Catalog, ref: str) -> tuple[int, list[Problem]]:
    """Check ``catalog`` against the history published at ``ref`` (git ref, catalog directory
    or snapshot directory): the number of published rows and every problem found."""
    with resolve_ref(ref, catalog.root) as source:
        base = published_rows(source)
    return len(base), check_append_only(base, catalog, ref)
