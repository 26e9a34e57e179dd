"""Wire types of the API (msgspec Structs: fast to decode and encode, schema in OpenAPI).

Money is ``Decimal`` and travels as a decimal string ("0.000150"), never a JSON float: exact,
and what OpenRouter-style APIs use. Timestamps are RFC 3339 UTC.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec


def money(value: Decimal) -> Decimal:
    """The same amount without trailing zeros or an exponent ("0.150000" -> "0.15", not "1E+1")."""
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal.as_tuple().exponent > 0 else normal  # type: ignore[operator]


def money_or_none(value: Decimal | None) -> Decimal | None:
    return None if value is None else money(value)


Modality = Literal["text", "image", "audio", "video", "pdf", "embedding"]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Struct(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False):
    """Request and response bodies refuse unknown fields: a typo is a 400, not ignored."""


# -- catalog -------------------------------------------------------------------------------
class ModelSummary(Struct):
    provider_id: str
    model_id: str
    name: str
    mode: str
    capability_class: str
    provider_kind: str
    input_modalities: list[str]
    output_modalities: list[str]
    capabilities: list[str]
    context_window: int | None
    deprecated: str | None
    # Standard-tier list prices in force now, per 1,000,000 tokens; null when unpriced.
    input_price_per_mtok: Decimal | None
    output_price_per_mtok: Decimal | None
    priced_dimensions: int


class ModelList(Struct):
    catalog_version: str
    data: list[ModelSummary]


class PriceRowOut(Struct):
    price_id: str
    dimension: str
    amount: Decimal  # the price of `per` units of `quantity`
    per: int
    quantity: str
    currency: str
    effective_from: datetime
    effective_to: datetime | None
    conditions: dict[str, Any]
    source: str
    recorded_at: datetime


class ModelPrices(Struct):
    catalog_version: str
    provider_id: str
    model_id: str
    at: datetime | None  # null for the full history
    prices: list[PriceRowOut]


class CapabilityOut(Struct):
    id: str
    capability_class: str
    description: str
    aliases: list[str]
    implies: list[str]


# -- operations ----------------------------------------------------------------------------
class Health(Struct):
    status: Literal["ok", "degraded"]
    catalog_version: str
    components: dict[str, str]


class TokenIssueRequest(Struct):
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""


class TokenOut(Struct):
    token_id: str
    tenant_id: str
    name: str
    created_at: str
    token: str | None = None  # the plaintext, present only in the response that issued it


# -- credentials ---------------------------------------------------------------------------
class CredentialCreate(Struct):
    provider_id: Id
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    # The provider key. Write-only: no response ever contains it. Omit for a local endpoint.
    secret: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)] | None = None
    base_url: Annotated[str, msgspec.Meta(pattern=r"^https?://", max_length=2048)] | None = None


class SecretRotate(Struct):
    secret: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]


class CredentialOut(Struct):
    credential_id: str
    tenant_id: str
    provider_id: str
    base_url: str | None
    label: str
    fingerprint: str | None  # "…abcd": the key's last four characters
    status: str
    status_reason: str | None
    secret_version: int
    created_at: str
    updated_at: str
    status_changed_at: str
    last_checked_at: str | None


class AccessEventOut(Struct):
    event_id: str
    at: datetime
    actor: str
    credential_id: str
    purpose: str | None
    call_id: str | None
    result: str
    detail: str | None


# -- gateway (what the gateway reads; every other field is passed to the provider as sent) --
class RoutingHints(msgspec.Struct):
    capabilities: list[str] = []
    max_price_per_call: Decimal | None = None
    translate: bool = True  # false: only providers speaking the endpoint's own protocol


ModelName = Annotated[
    str, msgspec.Meta(min_length=1, description="model id, 'provider/model', or 'auto'")
]
Messages = Annotated[list[dict[str, Any]], msgspec.Meta(min_length=1)]


class ChatCompletionRequest(msgspec.Struct):
    model: ModelName
    messages: Messages
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    byokvault: RoutingHints | None = None


class EmbeddingsRequest(msgspec.Struct):
    model: ModelName
    # A string, or a list of strings / token ids / token-id lists (checked by the provider).
    input: str | list[Any]
    byokvault: RoutingHints | None = None


class ResponsesRequest(msgspec.Struct):
    model: ModelName
    # A string, or a list of input items (messages, function call outputs, ...).
    input: (
        Annotated[str, msgspec.Meta(min_length=1)]
        | Annotated[list[Any], msgspec.Meta(min_length=1)]
    )
    stream: bool = False
    byokvault: RoutingHints | None = None


class MessagesRequest(msgspec.Struct):
    model: ModelName
    messages: Messages
    max_tokens: Annotated[int, msgspec.Meta(ge=1)]
    stream: bool = False
    byokvault: RoutingHints | None = None


class HealthEventOut(Struct):
    at: datetime
    source: str
    http_status: int | None
    outcome: str
    status: str
    latency_ms: float | None


# -- receipts and usage --------------------------------------------------------------------
class UsageTotal(Struct):
    currency: str
    records: int
    raw_cost: Decimal  # what the providers charged (unrounded)
    billed_amount: Decimal  # what the tenant owes (unrounded)
    rounded_amount: Decimal  # sum of the per-record rounded amounts


class TenantUsageOut(Struct):
    tenant_id: str
    ledger_seq: int  # the ledger position these totals include
    totals: list[UsageTotal]


class RouteRequest(msgspec.Struct):
    """A request body (OpenAI or Anthropic shape) and/or what it needs."""

    body: dict[str, Any] = {}
    endpoint: str | None = None
    capabilities: list[str] = []
    batch: bool = False
    max_price_per_call: Decimal | None = None
    tenant_id: str | None = None  # admin token only


# -- quotes and the margin table -----------------------------------------------------------
class QuoteRequest(Struct):
    """Quote a call: the model and either its expected usage or a request body to estimate
    from (the router's estimate: characters / 4 in, max_tokens or 1,024 out)."""

    model: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    usage: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    service_tier: str = "standard"
    fund_source: Literal["byok", "platform", "local"] | None = None  # default: as resolved
    tenant_id: str | None = None  # admin token only


class QuoteLineOut(Struct):
    dimension: str
    usage_key: str
    quantity: Decimal
    unit_price: Decimal
    per: int
    raw_amount: Decimal
    marked_amount: Decimal
    price_id: str


class QuoteOut(Struct):
    quote_id: str
    created_at: datetime
    expires_at: datetime
    provider_id: str
    model_id: str
    fund_source: str
    service_tier: str
    usage: dict[str, Decimal]
    lines: list[QuoteLineOut]
    raw_cost: Decimal  # the provider's price of this usage
    billed_amount: Decimal  # what the tenant will be billed (margin or fee applied), unrounded
    rounded_amount: Decimal
    currency: str
    catalog_version: str
    rules_version: str


class MarginTable(Struct):
    rules_version: str
    margins: dict[str, Decimal]  # capability class -> factor on platform-paid calls
    byok_fee_percent: Decimal
    byok_fee_per_call: Decimal
    local_fee_per_call: Decimal
    rounding_quantum: Decimal
    rounding_mode: str
