"""Crash test: a writer process killed with SIGKILL at random points, again and again.

Every acknowledged append must be in the ledger after the restart, with the seq it was
acknowledged with; no key twice; the chain verifies after every restart. Each round resubmits
the tail of the previous one, so records that were committed but never acknowledged come back
as the original (idempotency across a crash)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from byokvault.engine.ledger.rows import GENESIS
from byokvault.engine.ledger.store import DuckDBStore
from byokvault.engine.ledger.verify import verify_rows

CHILD = Path(__file__).with_name("ledger_crash_writer.py")
MIN_ROUNDS, MIN_ACKS = 20, 30_000
RESUBMIT = 200  # each round starts this many indices before the highest acknowledged one


def _run_round(db: Path, start: int, rng: random.Random, target: int) -> dict[int, int]:
    """Start a writer, let it acknowledge about ``target`` appends, SIGKILL it mid-flight."""
    chunk = rng.choice([64, 128, 256])
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(db), str(start), str(chunk)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out = bytearray()
    os.set_blocking(proc.stdout.fileno(), False)
    deadline = time.monotonic() + 30
    early = rng.random() < 0.1  # sometimes kill during startup or recovery
    kill_at = time.monotonic() + rng.uniform(0.0, 0.4) if early else None
    while time.monotonic() < deadline:
        data = proc.stdout.read()
        if data:
            out += data
        if proc.poll() is not None:
            raise AssertionError(f"writer died on its own: {proc.stderr.read().decode()}")
        if kill_at is not None and time.monotonic() >= kill_at:
            break
        if kill_at is None and out.count(b"\n") >= target:
            kill_at = time.monotonic() + rng.uniform(0.0, 0.05)  # mid-batch, mid-commit
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    out += proc.stdout.read() or b""
    lines = bytes(out).split(b"\n")[:-1]  # a torn last line was never a full report
    return {int(n): int(seq) for n, seq in (line.split() for line in lines)}


def _check(db: Path, acked: dict[int, int], verified: tuple[int, str]) -> tuple[int, str]:
    """Verify the chain from the last verified head (its row must be unchanged) to the end;
    every acknowledged append present with its seq; no key twice. Returns the new head."""
    last_seq, head = verified
    store = DuckDBStore(db)
    try:
        if last_seq:
            assert store.find_record_by_seq(last_seq)["row_hash"] == head
        check = verify_rows(
            store.scan(last_seq + 1, canonical=True), first_seq=last_seq + 1, prev_hash=head
        )
        assert check.ok, check.broken
        stored = dict(
            store._cursor()
            .execute("SELECT CAST(substr(idempotency_key, 5) AS BIGINT), seq FROM ledger")
            .fetchall()
        )
    finally:
        store.close()
    assert len(stored) == check.last_seq  # no key twice, no seq twice
    lost = {n: seq for n, seq in acked.items() if stored.get(n) != seq}
    assert not lost, f"acknowledged but lost or renumbered: {list(lost.items())[:5]}"
    return check.last_seq, check.head


@pytest.mark.slow
def test_kill_9_loses_no_acknowledged_append(tmp_path: Path) -> None:
    db = tmp_path / "ledger.duckdb"
    rng = random.Random(7)
    acked: dict[int, int] = {}
    rounds, verified = 0, (0, GENESIS)
    started = time.monotonic()
    while rounds < MIN_ROUNDS or len(acked) < MIN_ACKS:
        start = max(0, max(acked, default=-1) + 1 - RESUBMIT)
        got = _run_round(db, start, rng, target=rng.randint(1400, 2200))
        for n, seq in got.items():  # a resubmitted key must come back with its original seq
            assert acked.setdefault(n, seq) == seq, f"key-{n} acknowledged as two records"
        verified = _check(db, acked, verified)
        assert verified[0] >= len(acked)
        rounds += 1
        assert time.monotonic() - started < 150, "crash test is far too slow"
    assert rounds >= MIN_ROUNDS and len(acked) >= MIN_ACKS
    store = DuckDBStore(db)
    try:  # and once more from the genesis
        assert verify_rows(store.scan(canonical=True)).head == verified[1]
    finally:
        store.close()
