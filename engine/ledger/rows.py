"""A ledger entry as a flat row (the stored shape), its canonical bytes and its chain hash.

The row dict is the one shape shared by the writer (rows → Arrow → DuckDB), the readers
(DuckDB/Parquet → Arrow → rows) and the hash. ``canonical(row)`` is compact JSON with sorted
keys, money as fixed-scale decimal strings and timestamps as epoch microseconds: the same bytes
whether computed from Python values or read with ``sql/ledger/canonical_rows.sql``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pyarrow as pa

from .record import (
    BillingRecord,
    FundSource,
    Kind,
    LedgerEntry,
    PricedLine,
    PricingSnapshot,
    Rounding,
    Usage,
)

GENESIS = "0" * 64  # the prev_hash of record 1
HASH_FIELDS = ("prev_hash", "row_hash")

MONEY = pa.decimal128(38, 24)
STAMP = pa.timestamp("us", tz="UTC")
ARROW_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("record_id", pa.string()),
        ("recorded_at", STAMP),
        ("kind", pa.string()),
        ("reverses", pa.string()),
        ("reason", pa.string()),
        ("tenant_id", pa.string()),
        ("call_id", pa.string()),
        ("idempotency_key", pa.string()),
        ("occurred_at", STAMP),
        ("provider_id", pa.string()),
        ("model_id", pa.string()),
        ("capability_class", pa.string()),
        ("tier", pa.string()),
        ("fund_source", pa.string()),
        ("credential_id", pa.string()),
        ("credential_resolution_id", pa.string()),
        ("quote_id", pa.string()),
        ("usage", pa.list_(pa.struct([("dimension", pa.string()), ("quantity", MONEY)]))),
        (
            "lines",
            pa.list_(
                pa.struct(
                    [
                        ("dimension", pa.string()),
                        ("price_id", pa.string()),
                        ("unit_price", MONEY),
                        ("per", pa.int64()),
                        ("quantity", MONEY),
                        ("amount", MONEY),
                        ("effective_from", STAMP),
                    ]
                )
            ),
        ),
        ("raw_cost", MONEY),
        ("margin_factor", MONEY),
        ("byok_fee", MONEY),
        ("billed_amount", MONEY),
        ("rounded_amount", MONEY),
        ("rounding_mode", pa.string()),
        ("rounding_quantum", MONEY),
        ("currency", pa.string()),
        ("catalog_version", pa.string()),
        ("rules_version", pa.string()),
        ("prev_hash", pa.string()),
        ("row_hash", pa.string()),
    ]
)
COLUMNS = tuple(ARROW_SCHEMA.names)


def row_of(entry: LedgerEntry) -> dict[str, Any]:
    """The stored row for ``entry``."""
    rec, pricing = entry.record, entry.record.pricing
    return {
        "seq": entry.seq,
        "record_id": entry.record_id,
        "recorded_at": entry.recorded_at,
        "kind": str(rec.kind),
        "reverses": rec.reverses,
        "reason": rec.reason,
        "tenant_id": rec.tenant_id,
        "call_id": rec.call_id,
        "idempotency_key": rec.idempotency_key,
        "occurred_at": rec.occurred_at,
        "provider_id": rec.provider_id,
        "model_id": rec.model_id,
        "capability_class": rec.capability_class,
        "tier": rec.tier,
        "fund_source": str(rec.fund_source),
        "credential_id": rec.credential_id,
        "credential_resolution_id": rec.credential_resolution_id,
        "quote_id": rec.quote_id,
        "usage": [{"dimension": u.dimension, "quantity": u.quantity} for u in rec.usage],
        "lines": [
            {
                "dimension": line.dimension,
                "price_id": line.price_id,
                "unit_price": line.unit_price,
                "per": line.per,
                "quantity": line.quantity,
                "amount": line.amount,
                "effective_from": line.effective_from,
            }
            for line in pricing.lines
        ],
        "raw_cost": pricing.raw_cost,
        "margin_factor": pricing.margin_factor,
        "byok_fee": pricing.byok_fee,
        "billed_amount": pricing.billed_amount,
        "rounded_amount": pricing.rounding.amount,
        "rounding_mode": pricing.rounding.mode,
        "rounding_quantum": pricing.rounding.quantum,
        "currency": pricing.currency,
        "catalog_version": pricing.catalog_version,
        "rules_version": pricing.rules_version,
        "prev_hash": entry.prev_hash,
        "row_hash": entry.row_hash,
    }


def entry_of(row: dict[str, Any]) -> LedgerEntry:
    """The entry a stored row holds (the inverse of ``row_of``)."""
    pricing = PricingSnapshot(
        lines=tuple(PricedLine(**line) for line in row["lines"]),
        raw_cost=row["raw_cost"],
        billed_amount=row["billed_amount"],
        rounding=Rounding(row["rounded_amount"], row["rounding_mode"], row["rounding_quantum"]),
        currency=row["currency"],
        catalog_version=row["catalog_version"],
        rules_version=row["rules_version"],
        margin_factor=row["margin_factor"],
        byok_fee=row["byok_fee"],
    )
    record = BillingRecord(
        tenant_id=row["tenant_id"],
        call_id=row["call_id"],
        idempotency_key=row["idempotency_key"],
        occurred_at=row["occurred_at"],
        provider_id=row["provider_id"],
        model_id=row["model_id"],
        capability_class=row["capability_class"],
        tier=row["tier"],
        fund_source=FundSource(row["fund_source"]),
        usage=tuple(Usage(u["dimension"], u["quantity"]) for u in row["usage"]),
        pricing=pricing,
        credential_id=row["credential_id"],
        credential_resolution_id=row["credential_resolution_id"],
        quote_id=row["quote_id"],
        kind=Kind(row["kind"]),
        reverses=row["reverses"],
        reason=row["reason"],
    )
    return LedgerEntry(
        seq=row["seq"],
        record_id=row["record_id"],
        recorded_at=row["recorded_at"],
        record=record,
        prev_hash=row["prev_hash"],
        row_hash=row["row_hash"],
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
ZERO_MONEY = f"{Decimal(0):.24f}"


def money_text(value: Decimal) -> str:
    """A Decimal as its DECIMAL(38, 24) text (what DuckDB's CAST(x AS VARCHAR) gives).
    (Formatting is cheaper than a cache: hashing a Decimal costs twice as much.)"""
    return f"{value:.24f}" if value else ZERO_MONEY  # never "-0.000..."


def _money(value: Any) -> Any:
    if value.__class__ is not Decimal:
        return value  # already text (read with canonical_rows.sql) or None
    return money_text(value)


def micros(value: datetime) -> int:
    """A datetime as epoch microseconds (what DuckDB's epoch_us(x) gives)."""
    return (value - _EPOCH) // _MICRO


def _micros(value: Any) -> Any:
    return micros(value) if isinstance(value, datetime) else value


# The canonical form as msgspec Structs whose fields are declared in sorted order: encoding one
# gives compact JSON with sorted keys, the same bytes as a sorted dict, several times faster.
# gc=False: they hold only strings, numbers and lists of each other (no cycles).


class CanonUsage(msgspec.Struct, gc=False):
    dimension: str
    quantity: str


class CanonLine(msgspec.Struct, gc=False):
    amount: str
    dimension: str
    effective_from: int
    per: int
    price_id: str
    quantity: str
    unit_price: str


class CanonRow(msgspec.Struct, gc=False):
    billed_amount: str
    byok_fee: str | None
    call_id: str
    capability_class: str
    catalog_version: str
    credential_id: str | None
    credential_resolution_id: str | None
    currency: str
    fund_source: str
    idempotency_key: str
    kind: str
    lines: list[CanonLine]
    margin_factor: str | None
    model_id: str
    occurred_at: int
    provider_id: str
    quote_id: str | None
    raw_cost: str
    reason: str | None
    record_id: str
    recorded_at: int
    reverses: str | None
    rounded_amount: str
    rounding_mode: str
    rounding_quantum: str
    rules_version: str
    seq: int
    tenant_id: str
    tier: str
    usage: list[CanonUsage]


for _struct in (CanonUsage, CanonLine, CanonRow):  # the byte format depends on this order
    assert list(_struct.__struct_fields__) == sorted(_struct.__struct_fields__), _struct
assert set(CanonRow.__struct_fields__) == set(COLUMNS) - set(HASH_FIELDS)

_FORMS: dict[str, Any] = {
    name: _money if pa.types.is_decimal(kind) else _micros
    for name, kind in zip(ARROW_SCHEMA.names, ARROW_SCHEMA.types, strict=True)
    if pa.types.is_decimal(kind) or pa.types.is_timestamp(kind)
}
_FLAT = [n for n in CanonRow.__struct_fields__ if n not in ("lines", "usage")]
encode_canonical = msgspec.json.Encoder().encode


def canonical(row: dict[str, Any]) -> bytes:
    """The bytes a row's hash covers: compact JSON with sorted keys of every stored field
    except the two hashes; money as fixed-scale decimal strings, times as epoch µs."""
    body = {name: row[name] for name in _FLAT}
    for name, form in _FORMS.items():
        body[name] = form(body[name])
    body["lines"] = [
        CanonLine(
            _money(line["amount"]),
            line["dimension"],
            _micros(line["effective_from"]),
            line["per"],
            line["price_id"],
            _money(line["quantity"]),
            _money(line["unit_price"]),
        )
        for line in row["lines"]
    ]
    body["usage"] = [CanonUsage(u["dimension"], _money(u["quantity"])) for u in row["usage"]]
    return encode_canonical(CanonRow(**body))


def chain_hash(prev_hash: str, body: bytes) -> str:
    """``sha256(prev_hash || canonical bytes)`` as hex: each hash commits to all before it."""
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(body)
    return digest.hexdigest()


def to_arrow(rows: Iterable[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=ARROW_SCHEMA)


def rows_of(batch: pa.RecordBatch | pa.Table) -> Iterator[dict[str, Any]]:
    """Rows back from Arrow (DuckDB or Parquet), in the stored column order."""
    yield from batch.select(list(COLUMNS)).to_pylist()
