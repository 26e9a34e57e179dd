"""The shared append-only file (engine/appendlog.py): what is written is there, in order, after
any number of gathered writes; reset empties it; the file is private to its owner."""

from __future__ import annotations

import stat
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from byokvault.engine.appendlog import IOV_MAX, AppendLog


@settings(max_examples=30, deadline=None)
@given(writes=st.lists(st.lists(st.binary(max_size=64), max_size=8), max_size=8))
def test_appends_land_in_order(tmp_path_factory, writes: list[list[bytes]]) -> None:
    path = tmp_path_factory.mktemp("log") / "a.log"
    log = AppendLog(path)
    try:
        for buffers in writes:
            log.write(buffers)
    finally:
        log.close()
    expected = b"".join(b"".join(buffers) for buffers in writes)
    assert path.read_bytes() == expected
    assert AppendLog(path).size == len(expected)


def test_more_buffers_than_one_writev_takes(tmp_path: Path) -> None:
    log = AppendLog(tmp_path / "a.log")
    buffers = [bytes([i % 251]) * 3 for i in range(IOV_MAX * 2 + 5)]
    log.write(buffers)
    log.close()
    assert (tmp_path / "a.log").read_bytes() == b"".join(buffers)


def test_reset_empties_and_appends_go_on(tmp_path: Path) -> None:
    log = AppendLog(tmp_path / "a.log")
    log.write([b"old"])
    log.reset()
    assert log.size == 0 and (tmp_path / "a.log").read_bytes() == b""
    log.write([b"new"])
    log.close()
    assert (tmp_path / "a.log").read_bytes() == b"new"


def test_reopening_appends_after_what_is_there(tmp_path: Path) -> None:
    first = AppendLog(tmp_path / "a.log")
    first.write([b"one"])
    first.close()
    second = AppendLog(tmp_path / "a.log")
    assert second.size == 3
    second.write([b"two"])
    second.close()
    assert (tmp_path / "a.log").read_bytes() == b"onetwo"


def test_the_file_is_private(tmp_path: Path) -> None:
    AppendLog(tmp_path / "a.log").close()
    assert stat.S_IMODE((tmp_path / "a.log").stat().st_mode) == 0o600
