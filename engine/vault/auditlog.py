"""The vault's audit rows, journal first: acknowledged once in an append-only log, applied to
the DuckDB audit tables right after (``engine/journalfirst.py``).

An access event must be durable before its secret is decrypted. As a DuckDB commit that cost
~3 ms (up to 5 under load) on every call's path; one gathered O_DSYNC write to this log costs
~0.2 ms. So the group-commit writer (``groupcommit.py``) writes each batch here and
acknowledges it; a background thread then inserts everything acknowledged into the tables,
gathered for up to ``APPLY_LINGER_S`` into one transaction. Reads of those tables first wait
until they hold everything acknowledged before the read began (``settle``; a waiting reader cuts
the gathering short). On open, the rows the tables lack (a crash came between the log and the
tables) are replayed from here; once the tables hold everything, the file is emptied.

A frame is ``<u32 body length><u32 crc32 of the body><body>``, the body one row as a msgspec
JSON array (``["access", event_id, occurred_at, ...]``). A torn tail (a write cut short by a
crash: never acknowledged) is dropped; a whole frame that does not check or decode is damage,
and the vault refuses to open rather than guess. Audit rows carry ids and outcomes, never key
material, so neither does this file.
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import msgspec

from ..appendlog import AppendLog
from ..journalfirst import JournalFirst
from .errors import AuditWriteFailed, VaultError
from .groupcommit import AuditRow

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")
RESET_BYTES = 16 << 20  # empty the log once it is this big and fully applied (~40k calls)
# The applier gathers rows this long (unless a reader waits, or this many are pending) before
# one transaction: a DuckDB commit's fsync (~3 ms) that ran after every call collided with the
# next call's synced writes (this log's, the ledger's journal) on the same disk.
APPLY_LINGER_S = 1.0
APPLY_MAX_ROWS = 10_000


class AccessFrame(msgspec.Struct, array_like=True, tag="access"):
    event_id: str
    occurred_at: datetime
    actor: str
    tenant_id: str
    credential_id: str
    purpose: str | None
    call_id: str | None
    result: str
    detail: str | None


class ResolutionFrame(msgspec.Struct, array_like=True, tag="resolution"):
    call_id: str
    occurred_at: datetime
    tenant_id: str
    provider_id: str
    credential_id: str | None
    fund_source: str
    tiers: str  # JSON


_KINDS: dict[str, type[AccessFrame] | type[ResolutionFrame]] = {
    "access": AccessFrame,
    "resolution": ResolutionFrame,
}
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(AccessFrame | ResolutionFrame).decode


class AuditLogDamaged(VaultError):
    """The audit log holds a whole frame that does not check: the vault will not open."""


def encode(rows: Sequence[AuditRow]) -> list[bytes]:
    """The frames of ``rows``, as buffers for one gathered write."""
    parts: list[bytes] = []
    for row in rows:
        body = _encode(_KINDS[row.table](*row.values))
        parts += (_HEADER.pack(len(body), zlib.crc32(body)), body)
    return parts


def read(path: Path) -> list[AuditRow]:
    """Every whole frame in the log, in order (a torn tail dropped)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    rows: list[AuditRow] = []
    pos = 0
    while pos + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        if length == 0 or start + length > len(data):
            break  # a torn tail (or zeros past it): this write never completed
        body = data[start : start + length]
        rows.append(_row(path, pos, body, crc))
        pos = start + length
    return rows


def _row(path: Path, offset: int, body: bytes, crc: int) -> AuditRow:
    if zlib.crc32(body) != crc:
        raise AuditLogDamaged(f"{path}: the frame at byte {offset} fails its checksum")
    try:
        frame = _decode(body)
    except msgspec.DecodeError as exc:
        message = f"{path}: the frame at byte {offset} is not an audit row: {exc}"
        raise AuditLogDamaged(message) from None
    return AuditRow(frame.__struct_config__.tag, msgspec.structs.astuple(frame))


ApplyRows = Callable[[Sequence[AuditRow]], None]


class JournaledAudit:
    """The open log, replayed, and its applier (``engine/journalfirst.py``). ``commit`` is the
    group-commit writer's durable write; ``apply`` inserts rows into the tables in one
    transaction and must ignore rows they already hold (a replay may repeat what a crash left
    half-known)."""

    def __init__(self, path: Path, apply: ApplyRows, *, name: str = "vault-audit") -> None:
        self.path = path
        self._apply = apply
        replayed = read(path)  # raises AuditLogDamaged: the caller refuses to open
        if replayed:
            apply(replayed)
            log.info("vault audit log: %d rows replayed into the tables", len(replayed))
        log_file = AppendLog(path)
        if log_file.size:  # the tables hold it all now (and a torn tail must not stay)
            log_file.reset()
        self.replayed = len(replayed)
        self._journal: JournalFirst[Sequence[AuditRow]] = JournalFirst(
            log_file,
            lambda batches: self._apply([row for batch in batches for row in batch]),
            rows=len,
            error=_failed,
            name=name,
            reset_bytes=RESET_BYTES,
            linger_s=APPLY_LINGER_S,
            max_rows=APPLY_MAX_ROWS,
        )

    def commit(self, rows: Sequence[AuditRow]) -> None:
        """Durable when it returns: the rows' frames are in the log."""
        self._journal.append(rows, encode(rows))

    def settle(self) -> None:
        """Wait until the tables hold every row acknowledged before this call."""
        self._journal.settle()

    def health(self) -> str:
        return self._journal.health()

    def close(self) -> None:
        """Apply everything acknowledged, empty the log, close it."""
        self._journal.close()


def _failed() -> AuditWriteFailed:
    return AuditWriteFailed(
        "the vault's audit log failed; its acknowledged rows are kept and replayed when the "
        "vault is reopened"
    )
