"""The BillingRecord: one per call, carrying a frozen pricing snapshot, and its ledger entry.

These types are the ledger's own: the API maps a pricing result onto ``PricingSnapshot`` (the
fields mirror the pricing engine's line items and billing result one for one) so the ledger
never depends on the pricing package. Money is ``Decimal`` throughout and stored unrounded;
the rounded amount and how it was rounded are recorded beside it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import msgspec


class FundSource(StrEnum):
    """Who pays the provider: the tenant's own key, the platform's key, or nobody (local)."""

    byok = "byok"
    platform = "platform"
    local = "local"


class Kind(StrEnum):
    charge = "charge"
    reversal = "reversal"


class PricedLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """One priced dimension: ``amount = quantity * unit_price / per`` (unrounded)."""

    dimension: str
    price_id: str
    unit_price: Decimal
    per: int
    quantity: Decimal
    amount: Decimal
    effective_from: datetime


class Rounding(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """The separate, recorded rounding step: ``amount`` is ``billed_amount`` rounded."""

    amount: Decimal
    mode: str
    quantum: Decimal


class PricingSnapshot(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """The prices applied to the call, frozen at settlement."""

    lines: tuple[PricedLine, ...]
    raw_cost: Decimal
    billed_amount: Decimal
    rounding: Rounding
    currency: str
    catalog_version: str
    rules_version: str
    margin_factor: Decimal | None = None  # platform calls: billed = raw_cost * margin_factor
    byok_fee: Decimal | None = None  # BYOK calls: the fee amount the platform bills


class Usage(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    dimension: str
    quantity: Decimal


class BillingRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """What a caller submits: everything about one call. Idempotency compares these fields."""

    tenant_id: str
    call_id: str
    idempotency_key: str
    occurred_at: datetime
    provider_id: str
    model_id: str
    capability_class: str
    tier: str
    fund_source: FundSource
    usage: tuple[Usage, ...]
    pricing: PricingSnapshot
    credential_id: str | None = None
    credential_resolution_id: str | None = None
    quote_id: str | None = None
    kind: Kind = Kind.charge
    reverses: str | None = None
    reason: str | None = None


class LedgerEntry(msgspec.Struct, frozen=True, gc=False):
    """An acknowledged record: durable, numbered, and chained to the one before it."""

    seq: int
    record_id: str
    recorded_at: datetime
    record: BillingRecord
    prev_hash: str
    row_hash: str


def usage_of(quantities: dict[str, Decimal]) -> tuple[Usage, ...]:
    """Usage per dimension in a stable (sorted) order."""
    return tuple(Usage(dimension, Decimal(q)) for dimension, q in sorted(quantities.items()))


def differing_fields(a: BillingRecord, b: BillingRecord) -> list[str]:
    """Dotted names of the fields where two payloads differ (``pricing.billed_amount``)."""
    return _diff(a, b, "")


def _diff(a: msgspec.Struct, b: msgspec.Struct, prefix: str) -> list[str]:
    names: list[str] = []
    for field in a.__struct_fields__:
        left, right = getattr(a, field), getattr(b, field)
        if isinstance(left, PricingSnapshot | Rounding) and type(left) is type(right):
            names += _diff(left, right, f"{prefix}{field}.")
        elif left != right:
            names.append(prefix + field)
    return names


def reversal_of(original: LedgerEntry, idempotency_key: str, reason: str) -> BillingRecord:
    """The record that cancels ``original``: same call, time and prices, every amount negated.

    It keeps the call's ``occurred_at`` (the prices in force then still apply); when the
    correction was made is its own ``recorded_at``. Factors (unit prices, margin) are not
    amounts and keep their sign; ``byok_fee`` is an amount and is negated.
    """
    rec, pricing = original.record, original.record.pricing
    lines = tuple(
        msgspec.structs.replace(line, quantity=-line.quantity, amount=-line.amount)
        for line in pricing.lines
    )
    negated = msgspec.structs.replace(
        pricing,
        lines=lines,
        raw_cost=-pricing.raw_cost,
        billed_amount=-pricing.billed_amount,
        byok_fee=None if pricing.byok_fee is None else -pricing.byok_fee,
        rounding=msgspec.structs.replace(pricing.rounding, amount=-pricing.rounding.amount),
    )
    return msgspec.structs.replace(
        rec,
        idempotency_key=idempotency_key,
        usage=tuple(Usage(u.dimension, -u.quantity) for u in rec.usage),
        pricing=negated,
        kind=Kind.reversal,
        reverses=original.record_id,
        reason=reason,
    )
