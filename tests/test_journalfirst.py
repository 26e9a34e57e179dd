"""Journal first, table after (engine/journalfirst.py): an append is in the log when it returns;
the applier gathers what was acknowledged into one apply, a reader cuts the gathering short and
sees everything acknowledged before it; a failure fails closed; closing applies the rest."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from byokvault.engine.appendlog import AppendLog
from byokvault.engine.journalfirst import JournalFirst


class Failed(Exception):
    pass


class Table:
    """The owner's table: what the applier put there, one list per apply."""

    def __init__(self) -> None:
        self.applies: list[list[list[int]]] = []
        self.broken = False

    def apply(self, batches: list[list[int]]) -> None:
        if self.broken:
            raise OSError("disk full")
        self.applies.append(batches)

    @property
    def rows(self) -> list[int]:
        return [row for batches in self.applies for batch in batches for row in batch]


def _open(path: Path, table: Table, *, linger_s: float = 60.0, max_rows: int = 1000, reset=1 << 20):
    return JournalFirst(
        AppendLog(path),
        table.apply,
        rows=len,
        error=lambda: Failed("the log failed"),
        name="test",
        reset_bytes=reset,
        linger_s=linger_s,
        max_rows=max_rows,
    )


def _frames(batch: list[int]) -> list[bytes]:
    return [b"%d;" % row for row in batch]


@settings(max_examples=25, deadline=None)
@given(batches=st.lists(st.lists(st.integers(0, 999), min_size=1, max_size=5), max_size=12))
def test_a_reader_sees_every_acknowledged_row_in_order(tmp_path_factory, batches) -> None:
    path = tmp_path_factory.mktemp("jf") / "log"
    table = Table()
    journal = _open(path, table)  # a 60 s linger: only the reader ends it
    try:
        for batch in batches:
            journal.append(batch, _frames(batch))
        assert path.read_bytes() == b"".join(b"".join(_frames(b)) for b in batches)
        started = time.monotonic()
        journal.settle()
        assert time.monotonic() - started < 30
        assert table.rows == [row for batch in batches for row in batch]
    finally:
        journal.close()


def test_appends_while_the_applier_lingers_share_one_apply(tmp_path: Path) -> None:
    table = Table()
    journal = _open(tmp_path / "log", table)
    for i in range(5):
        journal.append([i], _frames([i]))
    journal.settle()
    assert table.applies == [[[0], [1], [2], [3], [4]]]
    journal.close()


def test_max_rows_ends_the_gathering_without_a_reader(tmp_path: Path) -> None:
    table = Table()
    journal = _open(tmp_path / "log", table, max_rows=3)
    journal.append([1, 2], _frames([1, 2]))
    journal.append([3, 4], _frames([3, 4]))  # 4 pending >= 3: applied without waiting 60 s
    deadline = time.monotonic() + 10
    while not table.applies and time.monotonic() < deadline:
        time.sleep(0.01)
    assert table.rows == [1, 2, 3, 4]
    journal.close()


def test_a_failed_apply_fails_closed_and_keeps_the_log(tmp_path: Path) -> None:
    path = tmp_path / "log"
    table = Table()
    table.broken = True
    journal = _open(path, table)
    assert journal.health() == "ok"
    journal.append([7], _frames([7]))
    with pytest.raises(Failed) as failure:
        journal.settle()
    assert journal.health().startswith("failed (OSError): writes and reads are refused")
    assert str(path) not in journal.health() and "disk full" not in journal.health()
    assert isinstance(failure.value.__cause__, OSError)
    with pytest.raises(Failed):
        journal.append([8], _frames([8]))  # nothing more is acknowledged
    journal.close()
    assert path.read_bytes() == b"7;"  # kept for the owner's replay


def test_closing_applies_what_is_pending_and_empties_the_log(tmp_path: Path) -> None:
    path = tmp_path / "log"
    table = Table()
    journal = _open(path, table)
    journal.append([1, 2], _frames([1, 2]))
    journal.close()
    journal.close()  # twice is harmless
    assert table.rows == [1, 2]
    assert path.read_bytes() == b""


def test_a_big_log_is_emptied_once_the_table_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "log"
    table = Table()
    journal = _open(path, table, reset=4)
    journal.append([10, 11], _frames([10, 11]))  # 6 bytes: over the threshold
    journal.append([12], _frames([12]))  # settles, resets, then writes
    assert table.rows[:2] == [10, 11]
    assert path.read_bytes() == b"12;"
    journal.close()
    assert table.rows == [10, 11, 12]


def test_concurrent_appenders_and_readers_lose_nothing(tmp_path: Path) -> None:
    table = Table()
    journal = _open(tmp_path / "log", table, linger_s=0.005)

    def appender(base: int) -> None:
        for i in range(200):
            journal.append([base + i], _frames([base + i]))
            if i % 50 == 0:
                journal.settle()

    threads = [threading.Thread(target=appender, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    journal.settle()
    assert sorted(table.rows) == sorted(k * 1000 + i for k in range(4) for i in range(200))
    journal.close()
