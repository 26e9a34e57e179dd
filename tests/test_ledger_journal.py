"""The ledger's journal: an append is acknowledged once journaled; the table follows; a crash
between the two is repaired by replay at open; a torn tail is dropped, corruption refused."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from byokvault.engine import appendlog
from byokvault.engine.ledger import Ledger
from byokvault.engine.ledger import store as store_module
from byokvault.engine.ledger.batch import chain_batch, prepare
from byokvault.engine.ledger.journal import Journal, JournalCorrupt
from byokvault.engine.ledger.rows import GENESIS
from byokvault.engine.ledger.store import DuckDBStore, StoreFailed, journal_path
from byokvault.engine.ledger.synthetic import make_record
from byokvault.engine.ledger.verify import verify_rows


def _journal_only(db: Path, batches: list[list[int]], seq: int = 0, head: str = GENESIS):
    """Write batches of records to the journal alone, as if the writer died right after
    acknowledging them (before the table got them). Returns each batch's frame bytes."""
    log, written = Journal(journal_path(db)), []
    for numbers in batches:
        entries, rows = chain_batch([prepare(make_record(n)) for n in numbers], seq, head, _now())
        log.write(rows.frames())
        written.append(b"".join(rows.frames()))
        seq, head = entries[-1].seq, entries[-1].row_hash
    log.close()
    return written


def _now() -> datetime:
    return datetime.now(UTC)


def _stored(db: Path) -> list[str]:
    store = DuckDBStore(db)
    try:
        check = verify_rows(store.scan(canonical=True))
        assert check.ok, check.broken
        rows = store._cursor().execute("SELECT call_id FROM ledger ORDER BY seq").fetchall()
        return [r[0] for r in rows]
    finally:
        store.close()


def test_journaled_rows_missing_from_the_table_are_replayed(tmp_path: Path) -> None:
    db = tmp_path / "ledger.duckdb"
    DuckDBStore(db).close()  # an empty ledger
    _journal_only(db, [[0, 1, 2], [3]])
    assert _stored(db) == ["call-0", "call-1", "call-2", "call-3"]
    assert journal_path(db).stat().st_size == 0  # emptied once the table holds them
    with Ledger(db) as ledger:  # and the writer continues the chain after them
        assert ledger.append(make_record(4)).seq == 5
        assert ledger.append(make_record(2)).seq == 3  # a replayed key is known
    assert _stored(db)[-1] == "call-4"


@pytest.mark.parametrize("keep", [0.3, 0.7, 0.99])
def test_a_torn_tail_and_an_unfinished_batch_are_dropped(tmp_path: Path, keep: float) -> None:
    """A crash mid-write leaves the second batch cut short (mid-frame, or whole frames
    without the batch's last one): it was never acknowledged, and is not replayed."""
    db = tmp_path / "ledger.duckdb"
    DuckDBStore(db).close()
    first, second = _journal_only(db, [[0, 1], [2, 3, 4]])
    journal_path(db).write_bytes(first + second[: int(len(second) * keep)])
    assert _stored(db) == ["call-0", "call-1"]


def test_a_whole_frame_that_does_not_verify_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "ledger.duckdb"
    DuckDBStore(db).close()
    written = _journal_only(db, [[0, 1]])
    flipped = bytearray(written[0])
    flipped[-10] ^= 0x01  # a byte of the last record's canonical body
    journal_path(db).write_bytes(bytes(flipped))
    with pytest.raises(JournalCorrupt, match="frame 1"):
        DuckDBStore(db)
    journal_path(db).write_bytes(written[0][: len(written[0]) // 2])  # repaired by hand
    assert _stored(db) == []  # the refused open left nothing locked; a torn tail is dropped


def test_a_journal_that_does_not_follow_the_table_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "ledger.duckdb"
    DuckDBStore(db).close()
    _journal_only(db, [[5]], seq=7, head="a" * 64)  # seq 8 after a ledger that is empty
    with pytest.raises(JournalCorrupt, match="resumes at seq 8"):
        DuckDBStore(db)


def test_acknowledged_before_the_table_yet_every_read_sees_it(tmp_path: Path, monkeypatch) -> None:
    insert, slow = store_module._insert, threading.Event()

    def slow_insert(cur, table) -> None:
        slow.wait(0.3)  # the table lags well behind the acknowledgement
        insert(cur, table)

    monkeypatch.setattr(store_module, "_insert", slow_insert)
    with Ledger(tmp_path / "ledger.duckdb") as ledger:
        started = time.perf_counter()
        entry = ledger.append(make_record(1))
        assert time.perf_counter() - started < 0.25  # acknowledged once journaled
        assert ledger.store.find_record(entry.record_id)["row_hash"] == entry.row_hash
        assert ledger.store.find_keys([("tenant-1", "key-1")])[0]["seq"] == 1


def test_the_table_gathers_appends_until_a_read_needs_them(tmp_path: Path, monkeypatch) -> None:
    """Appends one at a time (a gateway's rhythm) go into the table in one statement, not one
    each; a read does not wait out the gathering, and sees every acknowledged row."""
    monkeypatch.setattr(store_module, "APPLY_LINGER_S", 30.0)  # only a reader ends it here
    insert, inserted = store_module._insert, []

    def counted(cur, table) -> None:
        inserted.append(table.num_rows)
        insert(cur, table)

    monkeypatch.setattr(store_module, "_insert", counted)
    with Ledger(tmp_path / "ledger.duckdb") as ledger:
        entries = [ledger.append(make_record(i)) for i in range(6)]
        assert inserted == []  # all acknowledged (journaled), none in the table yet
        started = time.perf_counter()
        assert ledger.store.find_record(entries[-1].record_id)["seq"] == 6
        assert time.perf_counter() - started < 10
        assert inserted == [6]
        ledger.append(make_record(6))
    assert inserted == [6, 1]  # close applies what is left
    assert _stored(tmp_path / "ledger.duckdb") == [f"call-{i}" for i in range(7)]


def test_a_table_failure_loses_nothing_acknowledged(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "ledger.duckdb"

    def broken(cur, table) -> None:
        raise OSError("disk full")

    with Ledger(db) as ledger:
        ledger.append(make_record(0))
        assert ledger.store.head()[0] == 1  # (waits until the table has it)
        monkeypatch.setattr(store_module, "_insert", broken)
        acked = ledger.append(make_record(1))  # durable in the journal
        with pytest.raises(StoreFailed):
            ledger.store.find_record(acked.record_id)
        with pytest.raises(StoreFailed):
            ledger.append(make_record(2))
    monkeypatch.undo()
    assert _stored(db) == ["call-0", "call-1"]  # replayed at the next open


def test_a_failed_journal_write_fails_closed(tmp_path: Path, monkeypatch) -> None:
    """After a failed (synced) write the file's state is unknown (retrying would hide lost pages):
    the append fails, the store refuses the rest, and reopening keeps what was acknowledged."""
    db = tmp_path / "ledger.duckdb"

    def broken(fd: int, buffers: list) -> int:
        raise OSError("EIO")

    with Ledger(db) as ledger:
        ledger.append(make_record(0))
        monkeypatch.setattr(appendlog.os, "writev", broken)
        with pytest.raises(OSError, match="EIO"):
            ledger.append(make_record(1))
        monkeypatch.undo()
        with pytest.raises(StoreFailed):
            ledger.append(make_record(2))
    assert _stored(db) == ["call-0"]


def test_the_journal_starts_over_once_the_table_has_it_all(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(store_module, "JOURNAL_RESET_BYTES", 10_000)  # a few records' worth
    db = tmp_path / "ledger.duckdb"
    sizes = []
    with Ledger(db) as ledger:
        for start in range(0, 60, 6):
            outcomes = ledger.submit_many(make_record(i) for i in range(start, start + 6)).result()
            assert [o.seq for o in outcomes] == list(range(start + 1, start + 7))
            sizes.append(journal_path(db).stat().st_size)
        assert max(sizes) < 10_000 + 6 * 2_000  # emptied again and again, never grown past
        assert sizes != sorted(sizes)
    assert _stored(db) == [f"call-{i}" for i in range(60)]
    assert journal_path(db).stat().st_size == 0  # and emptied on close
