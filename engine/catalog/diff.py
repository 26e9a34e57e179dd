"""The review diff between two catalogs: price, model and capability changes.

``diff_catalogs(base, head)`` is the one place that computes it; the CLI (``byokvault catalog
diff``) and the importers print its ``to_markdown()`` (for a pull request description) or
``to_json()`` (for machines; amounts as decimal strings, never floats).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from .history import PublishedRow, catalog_rows, compact, iso, money
from .load import Catalog

PriceChangeKind = Literal["added", "rewritten", "removed"]


@dataclass(frozen=True)
class PriceChange:
    """One price row added, rewritten or removed. ``old`` is the amount in force before the row
    (None for a new series); ``new`` is None for a removed row."""

    kind: PriceChangeKind
    provider_id: str
    model_id: str
    dimension: str
    conditions: str
    effective_from: datetime
    old: Decimal | None
    new: Decimal | None

    @property
    def percent(self) -> Decimal | None:
        """Relative change in percent, two places; None when there is no old or new price, or
        the old one is zero."""
        if self.old is None or self.new is None or self.old == 0:
            return None
        return ((self.new - self.old) * 100 / self.old).quantize(Decimal("0.01"))

    def to_dict(self) -> dict[str, object]:
        percent = self.percent
        return {
            "kind": self.kind,
            "provider_id": self.provider_id,
            "model_id": self.model_id,
            "dimension": self.dimension,
            "conditions": json.loads(self.conditions),
            "effective_from": iso(self.effective_from),
            "old": None if self.old is None else money(self.old),
            "new": None if self.new is None else money(self.new),
            "percent": None if percent is None else str(percent),
        }


@dataclass(frozen=True)
class ModelChange:
    kind: Literal["added", "removed"]
    provider_id: str
    model_id: str
    name: str


@dataclass(frozen=True)
class CapabilityChange:
    """Declared capabilities a model gained or lost (the model exists on both sides)."""

    provider_id: str
    model_id: str
    added: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True)
class CatalogDiff:
    base_version: str
    head_version: str
    prices: tuple[PriceChange, ...]
    models: tuple[ModelChange, ...]
    capabilities: tuple[CapabilityChange, ...]
    units: dict[str, tuple[int, str]]  # dimension -> (per, quantity), to label amounts

    def is_empty(self) -> bool:
        return not (self.prices or self.models or self.capabilities)

    def to_dict(self) -> dict[str, object]:
        return {
            "base_version": self.base_version,
            "head_version": self.head_version,
            "prices": [p.to_dict() for p in self.prices],
            "models": [vars(m) for m in self.models],
            "capabilities": [
                {**vars(c), "added": list(c.added), "removed": list(c.removed)}
                for c in self.capabilities
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def to_markdown(self) -> str:
        lines = [f"## Catalog diff `{self.base_version}` → `{self.head_version}`", ""]
        if self.is_empty():
            return "\n".join([*lines, "No price, model or capability changes.", ""])
        added = {(m.provider_id, m.model_id) for m in self.models if m.kind == "added"}
        changed = tuple(c for c in self.prices if (c.provider_id, c.model_id) not in added)
        of_new = tuple(c for c in self.prices if (c.provider_id, c.model_id) in added)
        if changed:
            lines += ["### Prices", "", *_price_table(changed, self.units)]
        if self.models:
            lines += ["### Models", "", "| Change | Provider | Model | Name |", "|---|---|---|---|"]
            lines += [
                f"| {m.kind} | {m.provider_id} | `{m.model_id}` | {_cell(m.name)} |"
                for m in self.models
            ]
            lines.append("")
        if self.capabilities:
            lines += ["### Capabilities", "", "| Provider | Model | Added | Removed |"]
            lines.append("|---|---|---|---|")
            lines += [
                f"| {c.provider_id} | `{c.model_id}` | {_codes(c.added)} | {_codes(c.removed)} |"
                for c in self.capabilities
            ]
            lines.append("")
        if of_new:  # folded: an import can add thousands; the changes above matter most
            summary = f"Prices of added models ({len(of_new)} rows)"
            lines += ["<details>", f"<summary>{summary}</summary>", ""]
            lines += [*_price_table(of_new, self.units), "</details>", ""]
        return "\n".join(lines)


def diff_catalogs(base: Catalog, head: Catalog) -> CatalogDiff:
    """What changed from ``base`` to ``head``, in a stable order (provider, model, ...)."""
    units = {**_unit_labels(base), **_unit_labels(head)}
    return CatalogDiff(
        base_version=base.version,
        head_version=head.version,
        prices=tuple(_price_changes(catalog_rows(base), catalog_rows(head))),
        models=tuple(_model_changes(base, head)),
        capabilities=tuple(_capability_changes(base, head)),
        units=units,
    )


def _unit_labels(catalog: Catalog) -> dict[str, tuple[int, str]]:
    return {u.id: (u.per, u.quantity.value) for u in catalog.units.values()}


def _price_changes(
    base: dict[str, PublishedRow], head: dict[str, PublishedRow]
) -> list[PriceChange]:
    series: dict[tuple[str, str, str, str], list[PublishedRow]] = {}
    for row in head.values():
        series.setdefault(row.series, []).append(row)
    previous: dict[str, Decimal | None] = {}
    for rows in series.values():
        rows.sort(key=lambda r: r.effective_from)
        for before, row in zip([None, *rows], rows, strict=False):
            previous[row.price_id] = before.amount if before else None
    out = []
    for price_id, row in head.items():
        old = base.get(price_id)
        if old is None:
            out.append(_change("added", row, previous[price_id], row.amount))
        elif old.amount != row.amount:
            out.append(_change("rewritten", row, old.amount, row.amount))
    out += [_change("removed", r, r.amount, None) for i, r in base.items() if i not in head]
    return sorted(out, key=_price_order)


def _change(
    kind: PriceChangeKind, row: PublishedRow, old: Decimal | None, new: Decimal | None
) -> PriceChange:
    return PriceChange(
        kind=kind,
        provider_id=row.provider_id,
        model_id=row.model_id,
        dimension=row.dimension,
        conditions=row.conditions_key,
        effective_from=row.effective_from,
        old=old,
        new=new,
    )


def _price_order(c: PriceChange) -> tuple:
    return (c.provider_id, c.model_id, c.dimension, c.conditions, c.effective_from, c.kind)


def _model_changes(base: Catalog, head: Catalog) -> list[ModelChange]:
    before = {(p.id, m.id): m.name for p, m in base.models()}
    after = {(p.id, m.id): m.name for p, m in head.models()}
    out = [ModelChange("added", *key, name) for key, name in after.items() if key not in before]
    out += [ModelChange("removed", *key, name) for key, name in before.items() if key not in after]
    return sorted(out, key=lambda m: (m.provider_id, m.model_id))


def _capability_changes(base: Catalog, head: Catalog) -> list[CapabilityChange]:
    before = {(p.id, m.id): set(m.capabilities) for p, m in base.models()}
    out = []
    for provider, model in head.models():
        old = before.get((provider.id, model.id))
        new = set(model.capabilities)
        if old is not None and old != new:
            added, removed = tuple(sorted(new - old)), tuple(sorted(old - new))
            out.append(CapabilityChange(provider.id, model.id, added, removed))
    return sorted(out, key=lambda c: (c.provider_id, c.model_id))


# --- Markdown ------------------------------------------------------------------------------


def _price_table(changes: tuple[PriceChange, ...], units: dict[str, tuple[int, str]]) -> list:
    lines = [
        "| Provider | Model | Dimension | Conditions | Effective from | Old | New | Change |",
        "|---|---|---|---|---|---:|---:|---:|",
    ]
    for c in changes:
        unit = _unit(units.get(c.dimension))
        conditions = "" if c.conditions == "{}" else f"`{compact(c.conditions)}`"
        lines.append(
            f"| {c.provider_id} | `{c.model_id}` | {c.dimension}{unit} | {conditions} "
            f"| {iso(c.effective_from)} | {_amount(c.old)} | {_amount(c.new)} | {_percent(c)} |"
        )
    lines.append("")
    return lines


def _unit(label: tuple[int, str] | None) -> str:
    if label is None:
        return ""
    per, quantity = label
    per_text = f"{per // 1_000_000}M" if per % 1_000_000 == 0 else f"{per:,}"
    return f" (USD per {per_text} {quantity})" if per != 1 else f" (USD per {quantity[:-1]})"


def _amount(value: Decimal | None) -> str:
    return "—" if value is None else money(value)


def _percent(c: PriceChange) -> str:
    if c.kind == "removed":
        return "removed"
    if c.kind == "added" and c.old is None:
        return "new"
    percent = c.percent
    if percent is None:
        return "from 0"
    marker = " (rewritten)" if c.kind == "rewritten" else ""
    return f"{percent:+}%{marker}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _codes(items: tuple[str, ...]) -> str:
    return ", ".join(f"`{i}`" for i in items) or "—"
