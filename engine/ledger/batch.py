"""The writer's hot path: a batch of new records → numbered, hash-chained entries, the
journal frames that make them durable, and (later, off the caller's path) the one Arrow table
that a single ``INSERT ... SELECT`` writes.

A record's canonical bytes (rows.py: sorted-key compact JSON, money as DECIMAL(38, 24) text,
times as epoch µs) are made once, by the submitter, straight from the caller's structs:
``prepare`` formats one JSON text in a single pass, leaving out only the two values the writer
assigns (``recorded_at`` and ``seq``). The writer splices those in, hashes and journals exactly
those bytes, and the table is parsed from the same bytes (Arrow's JSON reader, in C++ without
the GIL: the money text cast to decimal128, the µs to timestamps), so what is stored is by
construction what was hashed.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import msgspec
import pyarrow as pa
import pyarrow.json as pa_json

from ..ids import random_hex
from . import journal
from .record import BillingRecord, LedgerEntry
from .rows import (
    ARROW_SCHEMA,
    HASH_FIELDS,
    CanonLine,
    CanonRow,
    CanonUsage,
    encode_canonical,
    micros,
    money_text,
)

_sha256 = hashlib.sha256


class Prepared(msgspec.Struct, gc=False):
    """A new record, validated, with its canonical bytes around the two values the writer
    assigns: ``head + recorded_at + middle + seq + tail``. (gc=False: no cycles, and thousands
    wait in the queue under load.)"""

    record: BillingRecord
    record_id: str
    head: bytes
    middle: bytes
    tail: bytes


def new_record_id() -> str:
    """``rec_`` + 32 random hex digits (128 bits, like a uuid4)."""
    return "rec_" + random_hex(32)


def prepare(
    record: BillingRecord, record_id: str | None = None, money: list[str] | None = None
) -> Prepared:
    """``record`` (validated) ready to be numbered: its id and its canonical bytes but for
    ``recorded_at`` and ``seq``. ``money`` is what ``validate`` returned for it: with it, the
    bytes are written in one pass; without it, by the reference encoder. Submitters call this
    in their own thread."""
    record_id = record_id or new_record_id()
    if money is not None and _plain(record_id):
        parts = _one_pass(record, record_id, money)
    else:
        parts = _reference_parts(record, record_id)
    return Prepared(record, record_id, *parts)


def _plain(text: str) -> bool:
    return text.isprintable() and '"' not in text and "\\" not in text


# ---- the canonical text in one pass -------------------------------------------------------
# The fast path of validate() has checked every text: printable, with no '"' or '\', so its
# JSON string is just '"' + text + '"' (msgspec escapes nothing else: checked for every code
# point by tests/test_ledger_canonical.py), and it has turned every money value into its
# canonical text. One f-string then gives the bytes encoding the CanonRow structs would.

_STAMPS: dict[datetime, int] = {}  # epoch µs of effective dates (few, repeated)


def _since(value: datetime) -> int:
    since = _STAMPS.get(value)
    if since is None:
        if len(_STAMPS) > 10_000:
            _STAMPS.clear()
        since = _STAMPS[value] = micros(value)
    return since


def _text(value: str | None) -> str:
    return "null" if value is None else f'"{value}"'


def _one_pass(
    record: BillingRecord, record_id: str, money: list[str]
) -> tuple[bytes, bytes, bytes]:
    """The parts from a record and its money texts (in validate.money_values order)."""
    pricing, rounding = record.pricing, record.pricing.rounding
    lines, usage = [], []
    at = 4  # (plain loops: a comprehension is a function call in Python 3.11)
    for line in pricing.lines:
        lines.append(
            f'{{"amount":"{money[at]}","dimension":"{line.dimension}",'
            f'"effective_from":{_since(line.effective_from)},"per":{line.per},'
            f'"price_id":"{line.price_id}","quantity":"{money[at + 1]}",'
            f'"unit_price":"{money[at + 2]}"}}'
        )
        at += 3
    for u in record.usage:
        usage.append(f'{{"dimension":"{u.dimension}","quantity":"{money[at]}"}}')
        at += 1
    byok_fee = margin = "null"
    if pricing.byok_fee is not None:
        byok_fee, at = f'"{money[at]}"', at + 1
    if pricing.margin_factor is not None:
        margin = f'"{money[at]}"'
    head = (
        f'{{"billed_amount":"{money[0]}","byok_fee":{byok_fee},"call_id":"{record.call_id}",'
        f'"capability_class":"{record.capability_class}",'
        f'"catalog_version":"{pricing.catalog_version}",'
        f'"credential_id":{_text(record.credential_id)},'
        f'"credential_resolution_id":{_text(record.credential_resolution_id)},'
        f'"currency":"{pricing.currency}","fund_source":"{record.fund_source}",'
        f'"idempotency_key":"{record.idempotency_key}","kind":"{record.kind}",'
        f'"lines":[{",".join(lines)}],"margin_factor":{margin},'
        f'"model_id":"{record.model_id}","occurred_at":{micros(record.occurred_at)},'
        f'"provider_id":"{record.provider_id}","quote_id":{_text(record.quote_id)},'
        f'"raw_cost":"{money[1]}","reason":{_text(record.reason)},'
        f'"record_id":"{record_id}","recorded_at":'
    )
    middle = (
        f',"reverses":{_text(record.reverses)},"rounded_amount":"{money[2]}",'
        f'"rounding_mode":"{rounding.mode}","rounding_quantum":"{money[3]}",'
        f'"rules_version":"{pricing.rules_version}","seq":'
    )
    tail = f',"tenant_id":"{record.tenant_id}","tier":"{record.tier}","usage":[{",".join(usage)}]}}'
    return head.encode(), middle.encode(), tail.encode()


_AFTER_RECORDED = b',"reverses":'
_AFTER_SEQ = b',"tenant_id":'


def _reference_parts(record: BillingRecord, record_id: str) -> tuple[bytes, bytes, bytes]:
    """The same parts by encoding the reference structs (slower; any text at all)."""
    body = encode_canonical(canon_of(record, record_id))  # recorded_at and seq are 0
    # Outside a JSON string a '"' is never escaped, so these keys are found only as keys.
    recorded = body.index(b',"recorded_at":0' + _AFTER_RECORDED) + len(b',"recorded_at":')
    seq = body.index(b',"seq":0' + _AFTER_SEQ) + len(b',"seq":')
    return body[:recorded], body[recorded + 1 : seq], body[seq + 1 :]


def canon_of(record: BillingRecord, record_id: str) -> CanonRow:
    """The reference canonical form of a record as structs (``recorded_at`` and ``seq`` 0)."""
    pricing, rounding = record.pricing, record.pricing.rounding
    lines = [
        CanonLine(
            money_text(line.amount),
            line.dimension,
            _since(line.effective_from),
            line.per,
            line.price_id,
            money_text(line.quantity),
            money_text(line.unit_price),
        )
        for line in pricing.lines
    ]
    return CanonRow(
        money_text(pricing.billed_amount),
        None if pricing.byok_fee is None else money_text(pricing.byok_fee),
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
        None if pricing.margin_factor is None else money_text(pricing.margin_factor),
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


# ---- numbering and chaining (the writer) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainedRows:
    """Numbered, chained canonical rows: ``bodies[i]`` (record ``first_seq + i``) is what
    ``hashes[i]`` covers."""

    first_seq: int
    bodies: list[bytes]
    prevs: list[str]
    hashes: list[str]

    @property
    def last_seq(self) -> int:
        return self.first_seq + len(self.bodies) - 1

    def frames(self) -> list[bytes]:
        """The journal frames of this batch (buffers for one gathered write)."""
        return journal.encode(self.bodies, self.prevs, self.hashes)

    def table(self) -> pa.Table:
        """The rows as the Arrow table the store inserts."""
        return table_of([self])


def chain_batch(
    prepared: Sequence[Prepared], seq: int, head: str, recorded_at: datetime
) -> tuple[list[LedgerEntry], ChainedRows]:
    """Number ``prepared`` after ``seq`` and chain them after ``head``: their entries (what
    callers are answered with once durable) and the rows to store."""
    first_seq = seq + 1
    recorded = b"%d" % micros(recorded_at)
    bodies, prevs, hashes, entries = [], [], [], []
    for p in prepared:
        seq += 1
        body = b"".join((p.head, recorded, p.middle, b"%d" % seq, p.tail))
        digest = _sha256(head.encode())
        digest.update(body)
        row_hash = digest.hexdigest()
        entries.append(LedgerEntry(seq, p.record_id, recorded_at, p.record, head, row_hash))
        bodies.append(body)
        prevs.append(head)
        hashes.append(row_hash)
        head = row_hash
    return entries, ChainedRows(first_seq, bodies, prevs, hashes)


# ---- the stored columns, parsed from the canonical bytes ----------------------------------


def _as_parsed(kind: pa.DataType) -> pa.DataType:
    """The type a canonical value is read as: money as its text, a time as epoch µs."""
    if pa.types.is_decimal(kind):
        return pa.string()
    if pa.types.is_timestamp(kind):
        return pa.int64()
    if pa.types.is_list(kind):
        return pa.list_(_as_parsed(kind.value_type))
    if pa.types.is_struct(kind):
        return pa.struct([pa.field(f.name, _as_parsed(f.type)) for f in kind])
    return kind


_BODY_SCHEMA = pa.schema(
    [pa.field(f.name, _as_parsed(f.type)) for f in ARROW_SCHEMA if f.name not in HASH_FIELDS]
)
_PARSE = pa_json.ParseOptions(explicit_schema=_BODY_SCHEMA, unexpected_field_behavior="error")


def table_of(batches: Sequence[ChainedRows]) -> pa.Table:
    """One Arrow table of several batches' rows (in order), in ARROW_SCHEMA."""
    bodies = [body for batch in batches for body in batch.bodies]
    data = b"\n".join(bodies)  # compact JSON has no raw newline
    options = pa_json.ReadOptions(use_threads=False, block_size=max(len(data) + 1, 1 << 20))
    parsed = pa_json.read_json(io.BytesIO(data), read_options=options, parse_options=_PARSE)
    if parsed.num_rows != len(bodies):
        raise ValueError(f"parsed {parsed.num_rows} rows from {len(bodies)} canonical bodies")
    hashes = {
        "prev_hash": [prev for batch in batches for prev in batch.prevs],
        "row_hash": [row_hash for batch in batches for row_hash in batch.hashes],
    }
    columns = [
        pa.array(hashes[field.name], pa.string())
        if field.name in hashes
        else parsed.column(field.name).cast(field.type)
        for field in ARROW_SCHEMA
    ]
    return pa.Table.from_arrays(columns, schema=ARROW_SCHEMA)
