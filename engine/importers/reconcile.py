"""Reconciliation: many sources' drafts + the catalog already on disk → the next catalog.

Rules (the issue's, made precise):

- One canonical (provider, model) id per model. Names are matched within a provider against
  the catalog's ids and aliases first (curated ids are canonical), then against the drafts in
  source-priority order; every source name becomes an alias.
- Curated models (any price row whose provenance is not an importer) are never changed; their
  prices are still compared with the sources and differences reported.
- For each price series (dimension + conditions) the highest-priority source that prices it
  wins; every other source's current value for the same series is compared and a difference
  is reported as a conflict (sources, values, % difference).
- Price rows are only ever appended. Dated rows from the source are added when they are later
  than the catalog's last row of the series; a source that now gives a different current price
  than the catalog's current row gets a new row effective at the import time. A source changing
  or inserting history is refused and reported. Rows and models missing from a source stay.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ..catalog.model import (
    Auth,
    Lifecycle,
    Limits,
    MatchRule,
    Modalities,
    Model,
    PriceRow,
    Provider,
)
from .common import UNDATED, ImportResult, ModelDraft, rebuilt
from .infer import LONG_CONTEXT_TOKENS
from .sources import CURATED, IMPORTERS, SourcesConfig

SeriesId = tuple[str, str]  # PriceRow.series_key()


@dataclass(frozen=True)
class Conflict:
    provider: str
    model: str
    dimension: str
    conditions: str
    winner: str
    winner_amount: Decimal
    other: str
    other_amount: Decimal

    @property
    def pct(self) -> Decimal | None:
        """How far the other source is from the winner, in % of the winner's amount."""
        if self.winner_amount == 0:
            return None
        return ((self.other_amount - self.winner_amount) / self.winner_amount * 100).quantize(
            Decimal("0.1")
        )


@dataclass
class MergeStats:
    models_new: int = 0
    models_updated: int = 0
    models_unchanged: int = 0
    models_curated_kept: int = 0
    rows_added: int = 0
    rows_appended_current: int = 0
    history_refused: int = 0
    aliases_dropped: int = 0
    models_unpriced_skipped: int = 0
    orphan_rows_dropped: int = 0
    merged_models: int = 0  # canonical models described by two or more sources
    sources_per_model: Counter[int] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


@dataclass
class MergeOutcome:
    providers: dict[str, Provider]
    # provider id → ids of its curated models (a writer keeps their YAML text as written)
    curated: dict[str, set[str]]
    changed: set[str]  # provider ids whose content changed
    conflicts: list[Conflict]
    stats: MergeStats
    results: list[ImportResult]
    imported: frozenset[str] = frozenset(IMPORTERS)


def is_curated(model: Model, imported: frozenset[str]) -> bool:
    """A model is curated when a person wrote any of its prices: a row whose provenance is not
    one an importer writes (``SourcesConfig.imported_sources``)."""
    return any(r.provenance.source not in imported for r in model.prices)


def current_amounts(rows: list[PriceRow], at: datetime) -> dict[SeriesId, Decimal]:
    """Each series' amount in effect at ``at``."""
    best: dict[SeriesId, PriceRow] = {}
    for row in rows:
        if row.effective_from > at:
            continue
        key = row.series_key()
        if key not in best or row.effective_from >= best[key].effective_from:
            best[key] = row
    return {k: r.amount for k, r in best.items()}


def merge(
    existing: dict[str, Provider],
    results: list[ImportResult],
    config: SourcesConfig,
    now: datetime,
    capabilities: set[str] | None = None,
    dimensions: set[str] | None = None,
) -> MergeOutcome:
    stats = MergeStats()
    conflicts: list[Conflict] = []
    ordered = sorted(results, key=lambda r: config.rank_of(r.source))
    groups = _group(existing, ordered)
    providers_out: dict[str, Provider] = dict(existing)
    curated: dict[str, set[str]] = defaultdict(set)
    changed: set[str] = set()
    models_by_provider: dict[str, dict[str, Model]] = {
        pid: {m.id: m for m in p.models} for pid, p in existing.items()
    }
    imported = config.imported_sources
    for pid, provider in existing.items():
        curated[pid] = {m.id for m in provider.models if is_curated(m, imported)}
    for (pid, mid), drafts in sorted(groups.items()):
        _filter(drafts, capabilities, dimensions, stats)
        old = models_by_provider.get(pid, {}).get(mid)
        old_curated = old is not None and is_curated(old, imported)
        n_sources = len({d.source for d in drafts})
        stats.sources_per_model[n_sources + (1 if old_curated else 0)] += 1
        if n_sources > 1 or (old_curated and drafts):
            stats.merged_models += 1
        series_winner = _series_winners(drafts)
        conflicts += _conflicts(pid, mid, drafts, series_winner, old if old_curated else None, now)
        if old_curated:
            stats.models_curated_kept += 1
            continue
        new = _merged_model(mid, drafts, series_winner, old, now, stats)
        if not new.prices:
            # Unpriced is neither free nor cheap: such a model is reported, not listed.
            stats.models_unpriced_skipped += 1
            continue
        if old is None:
            stats.models_new += 1
        elif new == old:
            stats.models_unchanged += 1
            continue
        else:
            stats.models_updated += 1
        models_by_provider.setdefault(pid, {})[mid] = new
        changed.add(pid)
    provider_drafts = _provider_drafts(ordered)
    for pid in changed:
        base = existing.get(pid) or _new_provider(pid, provider_drafts.get(pid, []), config)
        models = [models_by_provider[pid][m] for m in sorted(models_by_provider[pid])]
        models = _dedupe_aliases(models, stats)
        providers_out[pid] = base.model_copy(update={"models": models})
    return MergeOutcome(providers_out, dict(curated), changed, conflicts, stats, ordered, imported)


# --- grouping names into canonical models ---------------------------------------------------


def _group(
    existing: dict[str, Provider], ordered: list[ImportResult]
) -> dict[tuple[str, str], list[ModelDraft]]:
    """Canonical key → the drafts describing it, highest-priority source first."""
    names: dict[str, dict[str, str]] = defaultdict(dict)  # provider → lower name → model id
    for pid, provider in existing.items():
        for model in provider.models:
            names[pid].setdefault(model.id, model.id)
            for alias in model.aliases:
                names[pid].setdefault(alias.lower(), model.id)
    groups: dict[tuple[str, str], list[ModelDraft]] = defaultdict(list)
    for result in ordered:
        for draft in result.models.values():
            index = names[draft.provider]
            candidates = [draft.id, *sorted(n.lower() for n in draft.source_names)]
            target = next((index[n] for n in candidates if n in index), draft.id)
            for name in candidates:
                index.setdefault(name, target)
            groups[(draft.provider, target)].append(draft)
    return groups


def _filter(
    drafts: list[ModelDraft],
    capabilities: set[str] | None,
    dimensions: set[str] | None,
    stats: MergeStats,
) -> None:
    """Drop what the destination's registries do not know (reported, never silent)."""
    for draft in drafts:
        if capabilities is not None:
            unknown = draft.capabilities - capabilities
            if unknown:
                stats.notes.append(f"{draft.provider}/{draft.id}: unknown capabilities {unknown}")
                draft.capabilities -= unknown
        if dimensions is not None:
            kept = [r for r in draft.prices if r.dimension in dimensions]
            if len(kept) != len(draft.prices):
                stats.notes.append(f"{draft.provider}/{draft.id}: rows of unknown dimensions")
                draft.prices = kept


# --- prices ---------------------------------------------------------------------------------


def _series_winners(drafts: list[ModelDraft]) -> dict[SeriesId, ModelDraft]:
    winners: dict[SeriesId, ModelDraft] = {}
    for draft in drafts:  # highest priority first
        for row in draft.prices:
            winners.setdefault(row.series_key(), draft)
    return winners


def _conflicts(
    pid: str,
    mid: str,
    drafts: list[ModelDraft],
    winners: dict[SeriesId, ModelDraft],
    old: Model | None,
    now: datetime,
) -> list[Conflict]:
    out = []
    current = {id(d): current_amounts(d.prices, now) for d in drafts}
    curated_now = current_amounts(old.prices, now) if old is not None else {}
    for key, winner in winners.items():
        if key in curated_now:
            ref_source, ref_amount = CURATED, curated_now[key]
            others = drafts
        else:
            ref_source, ref_amount = winner.source, current[id(winner)].get(key)
            others = [d for d in drafts if d is not winner]
        if ref_amount is None:
            continue
        for other in others:
            amount = current[id(other)].get(key)
            if amount is not None and amount != ref_amount and other.source != ref_source:
                out.append(
                    Conflict(pid, mid, key[0], key[1], ref_source, ref_amount, other.source, amount)
                )
    return out


def _desired_rows(
    winners: dict[SeriesId, ModelDraft],
) -> dict[SeriesId, list[PriceRow]]:
    out: dict[SeriesId, list[PriceRow]] = {}
    for key, draft in winners.items():
        out[key] = sorted(
            (r for r in draft.prices if r.series_key() == key), key=lambda r: r.effective_from
        )
    return out


def _append_only(
    old_rows: list[PriceRow],
    desired: dict[SeriesId, list[PriceRow]],
    now: datetime,
    model_is_new: bool,
    stats: MergeStats,
    where: str,
) -> list[PriceRow]:
    by_series: dict[SeriesId, list[PriceRow]] = defaultdict(list)
    for row in old_rows:
        by_series[row.series_key()].append(row)
    out = list(old_rows)
    for key, rows in desired.items():
        have = sorted(by_series.get(key, []), key=lambda r: r.effective_from)
        if not have:
            for row in rows:
                if row.effective_from == UNDATED and not model_is_new:
                    row = rebuilt(row, effective_from=now)
                out.append(row)
                stats.rows_added += 1
            continue
        last = have[-1].effective_from
        at = {r.effective_from: r for r in have}
        appended = False
        for row in rows:
            if row.effective_from in at:
                if at[row.effective_from].amount != row.amount:
                    stats.history_refused += 1
                    stats.notes.append(f"{where}: source changed a dated row of {key[0]}; kept")
            elif row.effective_from > last and row.effective_from != UNDATED:
                out.append(row)
                stats.rows_added += 1
                appended = True
            elif row.effective_from != UNDATED:
                stats.history_refused += 1
                stats.notes.append(f"{where}: source inserts history into {key[0]}; refused")
        if appended:
            continue
        want = current_amounts(rows, now).get(key)
        have_now = current_amounts(have, now).get(key)
        if want is not None and want != have_now:
            if now > last:
                out.append(rebuilt(rows[-1], effective_from=now, amount=want))
                stats.rows_appended_current += 1
            else:  # rows are dated to the second: the next sync appends it
                stats.notes.append(f"{where}: {key[0]} changed again at {now}; left for later")
    return out


# --- models ---------------------------------------------------------------------------------


def _merged_model(
    mid: str,
    drafts: list[ModelDraft],
    winners: dict[SeriesId, ModelDraft],
    old: Model | None,
    now: datetime,
    stats: MergeStats,
) -> Model:
    first = drafts[0]
    name = next((d.name for d in drafts if d.name != d.id), first.name)
    inputs = set().union(*(d.input_modalities for d in drafts))
    outputs = set().union(*(d.output_modalities for d in drafts))
    caps = set().union(*(d.capabilities for d in drafts))
    aliases = set().union(*(d.source_names for d in drafts))
    match: list[MatchRule] = []
    limits: dict[str, Any] = {}
    lifecycle: dict[str, Any] = {}
    for draft in drafts:
        match += [r for r in draft.match if r not in match]
        for k, v in draft.limits.items():
            limits.setdefault(k, v)
        for k, v in draft.lifecycle.items():
            lifecycle.setdefault(k, v)
    if old is not None:
        aliases |= set(old.aliases)
        match += [r for r in old.match if r not in match]
    desired = _desired_rows(winners)
    if old is None and "released" in lifecycle:
        desired = {k: _since_release(v, lifecycle["released"]) for k, v in desired.items()}
    desired = _with_defaults(desired, stats, f"{first.provider}/{mid}")
    rows = _append_only(
        list(old.prices) if old else [], desired, now, old is None, stats, f"{first.provider}/{mid}"
    )
    rows.sort(key=lambda r: (r.dimension, _cond_sort(r), r.effective_from))
    # `text.long_context` means a window of at least 200k tokens: decided on the merged limits,
    # not on whichever source said so.
    caps.discard("text.long_context")
    window = limits.get("context_window")
    if window and window >= LONG_CONTEXT_TOKENS:
        caps.add("text.long_context")
    return Model(
        id=mid,
        name=name,
        mode=first.mode,
        aliases=sorted(a for a in aliases if a != mid),
        match=sorted(match, key=lambda r: r.model_dump_json()),
        modalities=Modalities(input=_ordered(inputs), output=_ordered(outputs)),
        capabilities=sorted(caps),
        limits=Limits(**limits),
        lifecycle=_lifecycle(lifecycle),
        prices=rows,
    )


def _since_release(rows: list[PriceRow], released: date) -> list[PriceRow]:
    """An undated first price applies from the model's release when a source knows it (a
    tighter lower bound than "always"); never after a dated row of the same series."""
    start = datetime(released.year, released.month, released.day, tzinfo=UTC)
    dated = [r.effective_from for r in rows if r.effective_from != UNDATED]
    if dated and min(dated) <= start:
        return rows
    return [rebuilt(r, effective_from=start) if r.effective_from == UNDATED else r for r in rows]


def _is_default(key: SeriesId) -> bool:
    conditions = json.loads(key[1])
    return not ({"long_context", "time_window", "region"} & set(conditions))


def _with_defaults(
    desired: dict[SeriesId, list[PriceRow]], stats: MergeStats, where: str
) -> dict[SeriesId, list[PriceRow]]:
    """Drop a long-context, time-window or regional series that has no plain series of the
    same dimension and tier to fall back on (a call outside the condition would be unpriced)."""
    plain = set()
    for key in desired:
        if _is_default(key):
            tier = json.loads(key[1]).get("service_tier", "standard")
            plain.add((key[0], tier))
    # A non-standard tier is preferred over the standard cliff: it must state its own cliff rate
    # for every standard threshold of the dimension, or a call over the threshold would get the
    # tier's base rate. Such a tier's rows for that dimension are dropped (the call fails closed).
    cliffs: dict[str, set[int]] = defaultdict(set)
    tier_cliffs: dict[tuple[str, str], set[int]] = defaultdict(set)
    for key in desired:
        conditions = json.loads(key[1])
        tier = conditions.get("service_tier", "standard")
        if "long_context" in conditions and "region" not in conditions:
            threshold = conditions["long_context"]["threshold"]
            (cliffs[key[0]] if tier == "standard" else tier_cliffs[(key[0], tier)]).add(threshold)
    out = {}
    for key, rows in desired.items():
        tier = json.loads(key[1]).get("service_tier", "standard")
        missing_cliff = tier != "standard" and not cliffs[key[0]] <= tier_cliffs[(key[0], tier)]
        if (_is_default(key) or (key[0], tier) in plain) and not missing_cliff:
            out[key] = rows
        else:
            stats.orphan_rows_dropped += len(rows)
            why = "lacks the standard cliff rate" if missing_cliff else "has no default row"
            stats.notes.append(f"{where}: {key[0]} {key[1]} {why}; dropped")
    return out


def _lifecycle(values: dict[str, Any]) -> Lifecycle:
    try:
        return Lifecycle(**values)
    except ValueError:
        return Lifecycle(**{k: v for k, v in values.items() if k != "deprecated"})


def _cond_sort(row: PriceRow) -> tuple[bool, str]:
    """Unconditioned rows first, then by the canonical conditions text."""
    conditions = row.series_key()[1]
    return conditions != "{}", conditions


_MODALITY_ORDER = ["text", "image", "audio", "video", "pdf", "embedding"]


def _ordered(values: set[Any]) -> list[Any]:
    return sorted(values, key=lambda m: _MODALITY_ORDER.index(m.value))


def _dedupe_aliases(models: list[Model], stats: MergeStats) -> list[Model]:
    """An alias must name one model only and never another model's id: first claim wins."""
    ids = {m.id for m in models}
    claimed: set[str] = set()
    out = []
    for model in models:
        keep = []
        for alias in model.aliases:
            if alias in ids or alias in claimed:
                stats.aliases_dropped += 1
                continue
            claimed.add(alias)
            keep.append(alias)
        out.append(model if keep == model.aliases else model.model_copy(update={"aliases": keep}))
    return out


# --- providers ------------------------------------------------------------------------------


def _provider_drafts(ordered: list[ImportResult]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for result in ordered:
        for pid, draft in result.providers.items():
            out[pid].append(draft)
    return out


def _new_provider(pid: str, drafts: list[Any], config: SourcesConfig) -> Provider:
    defaults = config.defaults(pid)
    name = defaults.name or next((d.name for d in drafts if d.name), None) or pid
    base_url = defaults.base_url or next((d.base_url for d in drafts if d.base_url), None)
    pricing_urls: list[str] = []
    for draft in drafts:
        pricing_urls += [u for u in draft.pricing_urls if u not in pricing_urls]
    kind = next((d.kind for d in drafts if d.kind), None) or defaults.kind
    return Provider(
        id=pid,
        name=name,
        kind=kind,
        api_style=next((d.api_style for d in drafts if d.api_style), None) or defaults.api_style,
        # No source gave one: an .invalid host (RFC 2606) says so rather than guessing.
        base_url=base_url or f"https://{pid.replace('/', '-')}.invalid",
        auth=Auth(scheme=defaults.auth, header=defaults.auth_header),
        pricing_urls=pricing_urls,
        models=[],
    )
