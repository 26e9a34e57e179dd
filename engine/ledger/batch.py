"""The writer's hot path: a batch of new records → numbered, hash-chained entries, the
journal frames that make them durable, and (later, off the caller's path) the one Arrow table
that a single ``INSERT ... SELECT`` writes.

Each record is turned into its canonical form once (``CanonRow``: money as DECIMAL(38, 24)
text, times as epoch µs); those same values are hashed, journaled as those very bytes, and
become the stored columns (Arrow casts the money text to decimal128 in C++), so what is stored
is by construction what was hashed. Per record this is a few µs of Python; everything per
column is vectorized.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from operator import attrgetter

import pyarrow as pa

from ..ids import random_hex
from . import journal
from .record import BillingRecord, LedgerEntry
from .rows import (
    ARROW_SCHEMA,
    MONEY,
    STAMP,
    CanonLine,
    CanonRow,
    CanonUsage,
    encode_canonical,
    micros,
    money_text,
)

_USAGE_TYPE = ARROW_SCHEMA.field("usage").type
_LINES_TYPE = ARROW_SCHEMA.field("lines").type
_sha256 = hashlib.sha256


def _optional_money(value: object) -> str | None:
    return None if value is None else money_text(value)  # type: ignore[arg-type]


_STAMPS: dict[datetime, int] = {}  # epoch µs of effective dates (few, repeated)


def canon_of(record: BillingRecord, record_id: str) -> CanonRow:
    """The canonical form of a new (validated) record, before it is numbered: ``seq`` and
    ``recorded_at`` are set by ``chain_batch``. Submitters call this in their own thread, so
    most per-record work overlaps the writer's COMMIT instead of adding to it."""
    pricing, rounding = record.pricing, record.pricing.rounding
    lines = []
    for line in pricing.lines:
        since = _STAMPS.get(line.effective_from)
        if since is None:
            if len(_STAMPS) > 10_000:
                _STAMPS.clear()
            since = _STAMPS[line.effective_from] = micros(line.effective_from)
        lines.append(
            CanonLine(
                money_text(line.amount),
                line.dimension,
                since,
                line.per,
                line.price_id,
                money_text(line.quantity),
                money_text(line.unit_price),
            )
        )
    return CanonRow(
        money_text(pricing.billed_amount),
        _optional_money(pricing.byok_fee),
        record.call_id,
        record.capability_class,
        pricing.catalog_version,
        record.credential_id,
        record.credential_resolution_id,
        pricing.currency,
        str(record.fund_source),
        record.idempotency_key,
        str(record.kind),
        lines,
        _optional_money(pricing.margin_factor),
        record.model_id,
        micros(record.occurred_at),
        record.provider_id,
        record.quote_id,
        money_text(pricing.raw_cost),
        record.reason,
        record_id,
        0,  # recorded_at: set when the batch is chained
        record.reverses,
        money_text(rounding.amount),
        rounding.mode,
        money_text(rounding.quantum),
        pricing.rules_version,
        0,  # seq: set when the batch is chained
        record.tenant_id,
        record.tier,
        [CanonUsage(u.dimension, money_text(u.quantity)) for u in record.usage],
    )


def new_record_id() -> str:
    """``rec_`` + 32 random hex digits (128 bits, like a uuid4)."""
    return "rec_" + random_hex(32)


@dataclass(frozen=True, slots=True)
class ChainedRows:
    """Numbered, chained canonical rows: ``bodies[i]`` is what ``hashes[i]`` covers."""

    canons: list[CanonRow]
    bodies: list[bytes]
    prevs: list[str]
    hashes: list[str]

    @property
    def last_seq(self) -> int:
        return self.canons[-1].seq

    def frames(self) -> list[bytes]:
        """The journal frames of this batch (buffers for one gathered write)."""
        return journal.encode(self.bodies, self.prevs, self.hashes)

    def table(self) -> pa.Table:
        """The rows as the Arrow table the store inserts."""
        return _table(self.canons, self.prevs, self.hashes)


def chain_batch(
    records: Sequence[tuple[BillingRecord, CanonRow | None]],
    seq: int,
    head: str,
    recorded_at: datetime,
) -> tuple[list[LedgerEntry], ChainedRows]:
    """Number ``records`` (each with its ``canon_of``, or None to make it here) after ``seq``
    and chain them after ``head``: their entries (what callers are answered with once
    durable) and the rows to store."""
    recorded_us = micros(recorded_at)
    canons, bodies, prevs, hashes, entries = [], [], [], [], []
    for record, prepared in records:
        seq += 1
        canon = prepared or canon_of(record, new_record_id())
        canon.seq, canon.recorded_at = seq, recorded_us
        body = encode_canonical(canon)
        digest = _sha256(head.encode("ascii"))
        digest.update(body)
        row_hash = digest.hexdigest()
        entries.append(LedgerEntry(seq, canon.record_id, recorded_at, record, head, row_hash))
        canons.append(canon)
        bodies.append(body)
        prevs.append(head)
        hashes.append(row_hash)
        head = row_hash
    return entries, ChainedRows(canons, bodies, prevs, hashes)


def table_of(batches: Sequence[ChainedRows]) -> pa.Table:
    """One Arrow table of several batches' rows (in order)."""
    if len(batches) == 1:
        return batches[0].table()
    return _table(
        [c for b in batches for c in b.canons],
        [p for b in batches for p in b.prevs],
        [h for b in batches for h in b.hashes],
    )


def _column(canons: list[CanonRow], name: str) -> list:
    return list(map(attrgetter(name), canons))


def _money_array(values: list) -> pa.Array:
    return pa.array(values, pa.string()).cast(MONEY)


def _table(canons: list[CanonRow], prevs: list[str], hashes: list[str]) -> pa.Table:
    arrays = []
    for field in ARROW_SCHEMA:
        if field.name == "prev_hash":
            arrays.append(pa.array(prevs, pa.string()))
        elif field.name == "row_hash":
            arrays.append(pa.array(hashes, pa.string()))
        elif field.name == "usage":
            arrays.append(_usage_array(canons))
        elif field.name == "lines":
            arrays.append(_lines_array(canons))
        elif field.type == MONEY:
            arrays.append(_money_array(_column(canons, field.name)))
        elif field.type == STAMP:
            arrays.append(pa.array(_column(canons, field.name), STAMP))
        else:
            arrays.append(pa.array(_column(canons, field.name), field.type))
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)


def _offsets(nested: list[list]) -> pa.Array:
    return pa.array(list(accumulate(map(len, nested), initial=0)), pa.int32())


def _usage_array(canons: list[CanonRow]) -> pa.Array:
    nested = _column(canons, "usage")
    flat = [u for usage in nested for u in usage]
    values = pa.StructArray.from_arrays(
        [
            pa.array(_column(flat, "dimension"), pa.string()),
            _money_array(_column(flat, "quantity")),
        ],
        fields=list(_USAGE_TYPE.value_type),
    )
    return pa.ListArray.from_arrays(_offsets(nested), values, type=_USAGE_TYPE)


def _lines_array(canons: list[CanonRow]) -> pa.Array:
    nested = _column(canons, "lines")
    flat = [line for lines in nested for line in lines]
    children = []
    for field in _LINES_TYPE.value_type:
        values = _column(flat, field.name)
        if field.type == MONEY:
            children.append(_money_array(values))
        else:
            children.append(pa.array(values, field.type))
    values = pa.StructArray.from_arrays(children, fields=list(_LINES_TYPE.value_type))
    return pa.ListArray.from_arrays(_offsets(nested), values, type=_LINES_TYPE)
