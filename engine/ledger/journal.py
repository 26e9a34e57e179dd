"""The ledger's acknowledgement log: an append-only file of chained canonical records.

A batch is durable once its frames are written here (one gathered O_DSYNC write: ~0.2 ms on
an idle disk), so that is when the writer acknowledges it. Inserting into the DuckDB table costs
~2.5 ms per statement whatever the batch size (31 columns, nested lists), so it happens right
after, off the caller's path; reads wait for it (``DuckDBStore`` settles before every read).
After a crash the frames the table lacks are replayed from here, so nothing acknowledged is
lost; once the table has everything, the file is emptied.

A frame is ``<u32 body length><u8 last-of-batch><prev_hash><row_hash><canonical body>``: the
exact bytes the row hash covers, so a frame proves itself (``sha256(prev_hash + body)``) and
links to the one before. Replay keeps only whole batches: a batch cut short by a crash was
never acknowledged. A torn tail (a short final write) is expected after ``kill -9``; a whole
frame that does not verify is corruption, and the store refuses to open rather than guess.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from ..appendlog import AppendLog
from .rows import CanonRow, encode_canonical

_HEADER = struct.Struct("<IB")
_HASH = 64  # hex sha256
_decode = msgspec.json.Decoder(CanonRow).decode


class JournalCorrupt(Exception):
    """The journal holds a frame that does not verify, or does not follow the ledger."""


@dataclass(frozen=True, slots=True)
class Frame:
    canon: CanonRow  # seq and recorded_at set
    body: bytes  # its canonical bytes
    prev_hash: str
    row_hash: str


def encode(bodies: Sequence[bytes], prevs: Sequence[str], hashes: Sequence[str]) -> list[bytes]:
    """The frames of one batch (its last frame marked), as buffers for one gathered write."""
    last = len(bodies) - 1
    parts: list[bytes] = []
    for i, (body, prev, row_hash) in enumerate(zip(bodies, prevs, hashes, strict=True)):
        parts += (_HEADER.pack(len(body), i == last) + prev.encode() + row_hash.encode(), body)
    return parts


def read(path: Path) -> list[Frame]:
    """The frames of every whole batch in the journal, verified and linked."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    frames: list[Frame] = []
    whole = 0  # frames up to the end of the last complete batch
    pos, prev = 0, None
    while pos + _HEADER.size + 2 * _HASH <= len(data):
        length, last = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size + 2 * _HASH
        if length == 0 or start + length > len(data):
            break  # a torn tail (or zeros past it): this write never completed
        prev_hash = data[pos + _HEADER.size : pos + _HEADER.size + _HASH].decode("ascii", "replace")
        row_hash = data[start - _HASH : start].decode("ascii", "replace")
        body = data[start : start + length]
        frames.append(_verified(body, prev_hash, row_hash, prev, len(frames)))
        prev, pos = row_hash, start + length
        if last:
            whole = len(frames)
    return frames[:whole]


def _verified(body: bytes, prev_hash: str, row_hash: str, prev: str | None, n: int) -> Frame:
    digest = hashlib.sha256(prev_hash.encode())
    digest.update(body)
    if digest.hexdigest() != row_hash or (prev is not None and prev_hash != prev):
        raise JournalCorrupt(
            f"journal frame {n} does not verify (or does not follow frame {n - 1})"
        )
    try:
        canon = _decode(body)
    except msgspec.DecodeError as exc:
        raise JournalCorrupt(f"journal frame {n} is not a canonical record: {exc}") from exc
    if encode_canonical(canon) != body:
        raise JournalCorrupt(f"journal frame {n} is not in canonical form")
    return Frame(canon, body, prev_hash, row_hash)


class Journal(AppendLog):
    """The open journal file (``engine/appendlog.py``): ``write`` returns once the bytes are
    durable."""
