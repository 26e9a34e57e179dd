"""What every importer produces: draft providers and models in catalog terms, plus an honest
account of what the source said that did not map (counted, never dropped silently)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from ..catalog.model import (
    ID_PATTERN,
    Conditions,
    MatchRule,
    Modality,
    Mode,
    PriceRow,
    Provenance,
)

if TYPE_CHECKING:  # sources.py imports this module
    from .sources import SourcesConfig

# A source price without a start date applies "since always" in the source (genai-prices uses
# its first price for any earlier timestamp); this timestamp stands for that lower bound.
UNDATED = datetime(1970, 1, 1, tzinfo=UTC)

PER_MILLION = Decimal(1_000_000)
MAX_PLACES = 18  # the snapshot stores DECIMAL(38, 18); a longer amount is not stored exactly
_ID_RE = re.compile(ID_PATTERN)
_BAD_ID_CHARS = re.compile(r"[^a-z0-9._:/@+-]+")


def canonical_id(name: str) -> str:
    """A source's model or provider name → a catalog id (lower case, allowed characters only).

    The source's own spelling is kept as an alias when it differs."""
    text = _BAD_ID_CHARS.sub("-", name.strip().lower()).strip("-")
    text = re.sub(r"^[^a-z0-9]+", "", text)
    if not text or not _ID_RE.match(text):
        raise ValueError(f"cannot make a catalog id from {name!r}")
    return text[:200]


def decimal_or_none(value: Any) -> Decimal | None:
    """A source number (int, Decimal, or decimal string) → Decimal; anything else → None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        # Only reachable if a caller parsed JSON without parse_float=Decimal: go via repr so
        # 3e-07 stays 3E-7 rather than its binary expansion.
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return result if result.is_finite() else None


def plain(amount: Decimal) -> Decimal:
    """Drop trailing zeros and exponent noise so equal prices compare and print alike."""
    normalized = amount.normalize()
    if normalized == normalized.to_integral_value():
        return normalized.quantize(Decimal(1))
    return normalized


def per_token_to_per_million(amount: Decimal) -> Decimal:
    return plain(amount * PER_MILLION)


@dataclass
class ProviderDraft:
    """A provider as a source names it, before catalog defaults fill the gaps."""

    id: str
    name: str | None = None
    base_url: str | None = None
    api_style: str | None = None
    kind: str | None = None
    pricing_urls: list[str] = field(default_factory=list)
    source_names: set[str] = field(default_factory=set)


@dataclass
class ModelDraft:
    """One model as one source describes it, already in catalog terms."""

    provider: str
    id: str
    name: str
    mode: Mode
    source: str
    source_names: set[str] = field(default_factory=set)
    match: list[MatchRule] = field(default_factory=list)
    input_modalities: set[Modality] = field(default_factory=lambda: {Modality.text})
    output_modalities: set[Modality] = field(default_factory=lambda: {Modality.text})
    capabilities: set[str] = field(default_factory=set)
    limits: dict[str, int] = field(default_factory=dict)
    lifecycle: dict[str, date] = field(default_factory=dict)
    prices: list[PriceRow] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return self.provider, self.id


@dataclass
class ImportResult:
    """Everything one source import produced, and everything it could not map."""

    source: str
    origin: str
    recorded_at: datetime
    providers: dict[str, ProviderDraft] = field(default_factory=dict)
    models: dict[tuple[str, str], ModelDraft] = field(default_factory=dict)
    # source key (e.g. a LiteLLM price key) → how many entries carried it without a mapping
    unmapped: Counter[str] = field(default_factory=Counter)
    # why an entry or a value was left out (e.g. "zero price meaning unknown") → count
    skipped: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    entries_read: int = 0
    # what provenance.source says (the source's published URL); the importer name if unset
    cite: str = ""

    @classmethod
    def begin(
        cls, source: str, origin: str, config: SourcesConfig, recorded_at: datetime | None
    ) -> ImportResult:
        """An empty result for one import of ``source`` (read from ``origin``), citing the
        source's published URL and stamped now unless ``recorded_at`` is given."""
        return cls(source, origin, recorded_at or now_utc(), cite=config.cite(source))

    def provenance(self) -> Provenance:
        return Provenance(source=self.cite or self.source, recorded_at=self.recorded_at)

    def row(
        self,
        dimension: str,
        amount: Decimal,
        conditions: Conditions | None = None,
        effective_from: datetime = UNDATED,
    ) -> PriceRow:
        return PriceRow(
            dimension=dimension,
            amount=plain(amount),
            effective_from=effective_from,
            conditions=conditions or Conditions(),
            provenance=self.provenance(),
        )

    def try_row(
        self,
        dimension: str,
        amount: Decimal,
        conditions: Conditions | None = None,
        effective_from: datetime = UNDATED,
    ) -> PriceRow | None:
        """A row, or None (counted) when the amount cannot be stored exactly: more than the
        snapshot's 18 decimal places (float noise in the source, e.g. 2.8333333333333e-10)."""
        if -plain(amount).as_tuple().exponent > MAX_PLACES:  # type: ignore[operator]
            self.skipped[f"amount with more than {MAX_PLACES} decimal places ({dimension})"] += 1
            return None
        return self.row(dimension, amount, conditions, effective_from)

    def catalog_id(self, source_name: str) -> str | None:
        """The catalog id for a source's model name, or None (counted as skipped) when the name
        cannot be one: every importer skips such an entry the same way."""
        try:
            return canonical_id(source_name)
        except ValueError:
            self.skipped["name not usable as a catalog id"] += 1
            return None

    def count_unmapped(self, raw: Mapping[str, Any], known: Collection[str], where: str) -> None:
        """Count every key of a source entry this importer does not map (``where.key``)."""
        for key in raw:
            if key not in known:
                self.unmapped[f"{where}.{key}"] += 1

    def provider(self, provider_id: str, source_name: str) -> ProviderDraft:
        draft = self.providers.get(provider_id)
        if draft is None:
            draft = self.providers[provider_id] = ProviderDraft(id=provider_id)
        draft.source_names.add(source_name)
        return draft

    def add_model(self, draft: ModelDraft) -> ModelDraft:
        """Add a model; a second entry for the same id merges into the first (aliases, rows
        with new series), so two source names for one model never yield two models."""
        if draft.mode == Mode.embedding:
            # Embedding models are billed on embedding_tokens in this catalog (units.yaml),
            # whatever the source calls them (genai-prices and LiteLLM say input tokens).
            draft.prices = [
                rebuilt(r, dimension="embedding_tokens") if r.dimension == "input_tokens" else r
                for r in draft.prices
            ]
        existing = self.models.get(draft.key)
        if existing is None:
            self.models[draft.key] = draft
            return draft
        existing.source_names |= draft.source_names
        known = {(r.series_key(), r.effective_from) for r in existing.prices}
        for row in draft.prices:
            if (row.series_key(), row.effective_from) not in known:
                existing.prices.append(row)
        existing.capabilities |= draft.capabilities
        self.skipped["entries merged into another entry of the same model"] += 1
        return existing

    @property
    def priced_models(self) -> int:
        return sum(1 for m in self.models.values() if m.prices)


def rebuilt(obj: Any, **changes: Any) -> Any:
    """A catalog object with some fields changed, built (and validated) anew. Not
    ``model_copy``: it would carry cached derived values (PriceRow's series key) along."""
    return type(obj)(**{**dict(obj), **changes})


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
