"""Check the hash chain row by row and name the first broken record.

Each row must carry the next sequence number, link to the previous row's hash, and hash to
its own ``row_hash`` when its canonical bytes are recomputed from the stored columns. So an
edited field, a deleted, inserted or renumbered record all break the chain at a known seq.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from .rows import GENESIS, canonical, chain_hash, rows_of


@dataclass(frozen=True)
class Break:
    """The first record where the chain does not hold."""

    seq: int
    record_id: str | None
    problem: str
    where: str = ""

    def __str__(self) -> str:
        at = f" in {self.where}" if self.where else ""
        rid = f" ({self.record_id})" if self.record_id else ""
        return f"record seq {self.seq}{rid}{at}: {self.problem}"


@dataclass(frozen=True)
class ChainCheck:
    records: int
    last_seq: int
    head: str
    broken: Break | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify_rows(
    batches: Iterable[pa.RecordBatch | pa.Table],
    *,
    first_seq: int = 1,
    prev_hash: str = GENESIS,
    where: str = "",
) -> ChainCheck:
    """Walk rows in stored order from ``first_seq``/``prev_hash``; stop at the first break."""
    expect_seq, expect_prev, count = first_seq, prev_hash, 0
    for batch in batches:
        for row in rows_of(batch):
            problem = _row_problem(row, expect_seq, expect_prev)
            if problem is not None:
                seq = min(row["seq"], expect_seq)
                rid = row["record_id"] if seq == row["seq"] else None
                broken = Break(seq, rid, problem, where)
                return ChainCheck(count, expect_seq - 1, expect_prev, broken)
            expect_seq, expect_prev, count = row["seq"] + 1, row["row_hash"], count + 1
    return ChainCheck(count, expect_seq - 1, expect_prev)


def _row_problem(row: dict, expect_seq: int, expect_prev: str) -> str | None:
    seq = row["seq"]
    if seq > expect_seq:
        return f"missing: the next record is seq {seq} (deleted record or gap)"
    if seq < expect_seq:
        return f"out of order: seq {seq} appears after seq {expect_seq - 1}"
    if row["prev_hash"] != expect_prev:
        return "prev_hash does not link to the previous record's row_hash"
    if chain_hash(row["prev_hash"], canonical(row)) != row["row_hash"]:
        return "contents do not match row_hash (a field was altered)"
    return None
