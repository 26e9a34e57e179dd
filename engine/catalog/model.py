"""The catalog's authoring schema: strict pydantic models for the YAML files.

These models are the single definition of what a catalog file may contain; the JSON Schema
committed under ``catalog/schema/`` is generated from them (``byokvault catalog schema``).
Cross-file rules (a dimension exists in the unit registry, a capability in the taxonomy,
ids sorted) live in :mod:`byokvault.engine.catalog.load`, which knows the registries.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, time
from decimal import Decimal, localcontext
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

ID_PATTERN = r"^[a-z0-9][a-z0-9._:/@+-]*$"
CAPABILITY_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"

Id = Annotated[str, Field(pattern=ID_PATTERN, min_length=1, max_length=200)]


class Strict(BaseModel):
    """Base for every authored object: unknown keys are errors, objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


def _aware_utc(value: datetime) -> datetime:
    """Timestamps must say their zone; they are kept in UTC so that one instant has one form
    (a row's id includes its ``effective_from``: ``+02:00`` and ``Z`` spellings must agree)."""
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a timezone, e.g. 2025-01-01T00:00:00Z")
    return value.astimezone(UTC)


MAX_PRECISION, MAX_SCALE = 38, 18  # the snapshot's DECIMAL(38, 18): never round silently
MAX_INTEGER_DIGITS = MAX_PRECISION - MAX_SCALE


def _fits_snapshot(value: Decimal) -> Decimal:
    exponent = value.as_tuple().exponent
    if (
        isinstance(exponent, int)
        and exponent >= -MAX_SCALE
        and value.adjusted() < MAX_INTEGER_DIGITS
    ):
        return value  # the common case, decided without a wider context
    if value.adjusted() >= MAX_INTEGER_DIGITS:
        raise ValueError(f"amount has more than {MAX_INTEGER_DIGITS} digits before the point")
    with localcontext(prec=2 * MAX_PRECISION):
        if value != value.quantize(Decimal(1).scaleb(-MAX_SCALE)):
            raise ValueError(f"amount has more than {MAX_SCALE} decimal places")
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_aware_utc)]


# --- registries ---------------------------------------------------------------------------


class Quantity(StrEnum):
    tokens = "tokens"
    seconds = "seconds"
    minutes = "minutes"
    images = "images"
    calls = "calls"
    requests = "requests"
    characters = "characters"
    pages = "pages"


class Qualifier(StrEnum):
    """Request-context fields that select among the price rows of one dimension."""

    image_size = "image_size"
    image_quality = "image_quality"
    video_resolution = "video_resolution"


class Unit(Strict):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    quantity: Quantity
    per: Annotated[int, Field(gt=0)] = Field(description="A price is for this many units.")
    usage_key: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    qualifiers: list[Qualifier] = []
    description: str


class UnitRegistry(Strict):
    schema_: str | None = Field(default=None, alias="$schema")
    units: list[Unit]


class CapabilityClass(StrEnum):
    text = "text"
    vision = "vision"
    image = "image"
    video = "video"
    audio = "audio"
    realtime = "realtime"
    embedding = "embedding"
    search = "search"


class Capability(Strict):
    id: Annotated[str, Field(pattern=CAPABILITY_PATTERN)]
    class_: CapabilityClass | None = Field(
        default=None, alias="class", description="Required on roots; children inherit it."
    )
    description: str
    aliases: list[str] = []
    implies: list[str] = []


class CapabilityTaxonomy(Strict):
    classes: list[CapabilityClass]
    capabilities: list[Capability]


# --- providers, models, prices ------------------------------------------------------------


class ProviderKind(StrEnum):
    cloud = "cloud"
    local = "local"


class ApiStyle(StrEnum):
    openai = "openai"
    openai_compatible = "openai-compatible"
    anthropic = "anthropic"
    google = "google"
    ollama = "ollama"
    bedrock = "bedrock"
    azure = "azure"
    cohere = "cohere"
    other = "other"


class AuthScheme(StrEnum):
    bearer = "bearer"
    x_api_key = "x-api-key"
    query_key = "query-key"
    header = "header"
    aws_sigv4 = "aws-sigv4"
    none = "none"


class Auth(Strict):
    scheme: AuthScheme
    header: str | None = Field(default=None, description="Header name for scheme 'header'.")


class Modality(StrEnum):
    text = "text"
    image = "image"
    audio = "audio"
    video = "video"
    pdf = "pdf"
    embedding = "embedding"


class Mode(StrEnum):
    """What kind of call the model answers; decides the default capability class of a call."""

    chat = "chat"
    completion = "completion"
    responses = "responses"
    embedding = "embedding"
    image_generation = "image_generation"
    image_edit = "image_edit"
    video_generation = "video_generation"
    audio_transcription = "audio_transcription"
    audio_speech = "audio_speech"
    realtime = "realtime"
    rerank = "rerank"
    moderation = "moderation"
    ocr = "ocr"


class ServiceTier(StrEnum):
    standard = "standard"
    batch = "batch"
    flex = "flex"
    priority = "priority"


class LongContextTier(Strict):
    """A cliff: once the request's input tokens cross ``threshold``, every token of the call
    gets this row's rate. ``inclusive`` states whether exactly ``threshold`` tokens count as
    crossing (``>=``) or not (``>``); sources disagree, so it is never implied."""

    threshold: Annotated[int, Field(gt=0)]
    inclusive: bool


class TimeWindow(Strict):
    """A daily UTC window [start, end); ``end`` before ``start`` wraps past midnight."""

    start: time
    end: time

    @model_validator(mode="after")
    def _not_empty(self) -> TimeWindow:
        if self.start == self.end:
            raise ValueError("time window start and end are equal: the window would be empty")
        return self


class Conditions(Strict):
    """When a price row applies. An absent condition means 'any'/'the default'."""

    long_context: LongContextTier | None = None
    service_tier: ServiceTier = ServiceTier.standard
    time_window: TimeWindow | None = None
    region: Annotated[str, Field(pattern=r"^[a-z0-9-]+$")] | None = None
    image_size: Annotated[str, Field(pattern=r"^(\d+x\d+|auto)$")] | None = None
    image_quality: Literal["low", "medium", "high", "standard", "hd", "auto"] | None = None
    video_resolution: Annotated[str, Field(pattern=r"^\d+p$")] | None = None

    def key(self) -> dict[str, object]:
        """A canonical, JSON-ready form: identical conditions give identical keys."""
        return self.model_dump(mode="json", exclude_defaults=True)


class Provenance(Strict):
    source: Annotated[str, Field(min_length=1)] = Field(
        description="Where the price was read: a pricing page URL or an importer tag."
    )
    recorded_at: UtcDatetime


class PriceRow(Strict):
    """One price of one dimension, from ``effective_from`` until a later row of the same key."""

    dimension: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    amount: Annotated[Decimal, Field(ge=0, allow_inf_nan=False), AfterValidator(_fits_snapshot)]
    currency: Literal["USD"] = "USD"
    effective_from: UtcDatetime
    conditions: Conditions = Conditions()
    provenance: Provenance

    def series_key(self) -> tuple[str, str]:
        """Rows with the same series key form one price history, ordered by effective_from."""
        return self._series_key

    @cached_property
    def _series_key(self) -> tuple[str, str]:
        if not self.conditions.model_fields_set:  # the common case: no conditions at all
            return self.dimension, "{}"
        return self.dimension, json.dumps(self.conditions.key(), sort_keys=True)

    def row_id(self, provider_id: str, model_id: str) -> str:
        """Stable id from what identifies a row (not its amount): rewriting one keeps its id."""
        ident = json.dumps(
            [provider_id, model_id, *self.series_key(), self.effective_from.isoformat()],
            separators=(",", ":"),
        )
        return "pr_" + hashlib.sha256(ident.encode()).hexdigest()[:20]


class MatchRule(Strict):
    """How a source's model name maps to this model, beyond exact ids and aliases."""

    equals: str | None = None
    starts_with: str | None = None
    contains: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> MatchRule:
        if sum(v is not None for v in (self.equals, self.starts_with, self.contains)) != 1:
            raise ValueError("a match rule has exactly one of equals, starts_with, contains")
        return self


class Limits(Strict):
    context_window: Annotated[int, Field(gt=0)] | None = None
    max_output_tokens: Annotated[int, Field(gt=0)] | None = None
    max_images_per_request: Annotated[int, Field(gt=0)] | None = None
    max_audio_seconds: Annotated[int, Field(gt=0)] | None = None
    max_video_seconds: Annotated[int, Field(gt=0)] | None = None
    embedding_dimensions: Annotated[int, Field(gt=0)] | None = None


class Lifecycle(Strict):
    released: date | None = None
    deprecated: date | None = None
    retired: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Lifecycle:
        if self.released and self.deprecated and self.deprecated < self.released:
            raise ValueError("deprecated is before released")
        if self.deprecated and self.retired and self.retired < self.deprecated:
            raise ValueError("retired is before deprecated")
        return self


class Modalities(Strict):
    input: Annotated[list[Modality], Field(min_length=1)]
    output: Annotated[list[Modality], Field(min_length=1)]


class Model(Strict):
    id: Id
    name: Annotated[str, Field(min_length=1)]
    mode: Mode
    aliases: list[str] = []
    match: list[MatchRule] = []
    modalities: Modalities
    capabilities: list[str] = []
    limits: Limits = Limits()
    lifecycle: Lifecycle = Lifecycle()
    prices: list[PriceRow] = []

    @field_validator("aliases")
    @classmethod
    def _unique_aliases(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("aliases repeat")
        return v


class Provider(Strict):
    schema_: str | None = Field(default=None, alias="$schema")
    id: Id
    name: Annotated[str, Field(min_length=1)]
    kind: ProviderKind
    api_style: ApiStyle
    base_url: Annotated[str, Field(pattern=r"^https?://")]
    auth: Auth
    pricing_urls: list[str] = []
    models: list[Model] = []
