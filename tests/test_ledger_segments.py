"""Sealed Parquet segments: manifest-only reads, torn/altered files refused, chain located."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import duckdb
import pytest

from byokvault.engine.cli import main
from byokvault.engine.ledger import Ledger
from byokvault.engine.ledger.segments import (
    MANIFEST,
    SegmentError,
    read_manifest,
    seal,
    verified_files,
    verify_ledger,
    verify_segments,
)
from byokvault.engine.ledger.synthetic import make_record


def _sealed(tmp_path: Path, records: int = 250, per_segment: int = 100) -> tuple[Path, Path]:
    db, segs = tmp_path / "ledger.duckdb", tmp_path / "segments"
    with Ledger(db) as ledger:
        for future in [ledger.submit(make_record(i)) for i in range(records)]:
            future.result()
        seal(ledger.store, segs, max_rows=per_segment)
    return db, segs


def test_seal_writes_manifest_listed_segments_that_chain(tmp_path: Path) -> None:
    db, segs = _sealed(tmp_path)
    manifest = read_manifest(segs)
    assert [(s.first_seq, s.last_seq, s.rows) for s in manifest] == [
        (1, 100, 100),
        (101, 200, 100),
        (201, 250, 50),
    ]
    for before, after in itertools.pairwise(manifest):
        assert after.prev_hash == before.chain_head
    assert sorted(p.name for p in segs.iterdir()) == sorted([MANIFEST, *(s.file for s in manifest)])
    files = [str(p) for p in verified_files(segs)]
    rows = duckdb.sql(f"SELECT count(*), min(seq), max(seq) FROM read_parquet({files})").fetchone()
    assert rows == (250, 1, 250)
    with Ledger(db) as ledger:
        assert ledger.head()[1] == manifest[-1].chain_head
        assert seal(ledger.store, segs, max_rows=100) == []  # idempotent
        ledger.append(make_record(999))
        [new] = seal(ledger.store, segs, max_rows=100)
        assert (new.first_seq, new.prev_hash) == (251, manifest[-1].chain_head)
        assert verify_ledger(ledger.store, segs).ok


def test_readers_ignore_files_the_manifest_does_not_list(tmp_path: Path) -> None:
    _, segs = _sealed(tmp_path)
    (segs / ".seg-000000000251-000000000300.parquet.tmp").write_bytes(b"half a file")
    (segs / "seg-000000000251-000000000300.parquet").write_bytes(b"crashed before the manifest")
    assert len(verified_files(segs)) == 3
    assert verify_segments(segs).ok


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_torn_or_altered_segment_is_refused_and_located(tmp_path: Path, damage: str) -> None:
    _, segs = _sealed(tmp_path)
    victim = segs / read_manifest(segs)[1].file
    data = bytearray(victim.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 3] ^= 0x01
    victim.write_bytes(bytes(data))
    with pytest.raises(SegmentError, match="sha256"):
        verified_files(segs)
    check = verify_segments(segs)
    assert check.broken is not None
    assert check.broken.where == victim.name
    assert 101 <= check.broken.seq <= 200
    assert check.records <= 200


def _reencode_with_edit(segment: Path, seq: int) -> None:
    """An attacker rewrites a segment with one value changed (a valid Parquet file)."""
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT * REPLACE (CASE WHEN seq = {seq} THEN 'cheap-model' ELSE model_id END "
        f"AS model_id) FROM read_parquet('{segment}')) TO '{segment}.new' (FORMAT parquet)"
    )
    Path(f"{segment}.new").replace(segment)


def test_an_edited_record_in_a_segment_is_named(tmp_path: Path) -> None:
    _, segs = _sealed(tmp_path)
    _reencode_with_edit(segs / read_manifest(segs)[1].file, 137)
    broken = verify_segments(segs).broken
    assert broken is not None and broken.seq == 137 and "altered" in broken.problem


def test_a_forged_manifest_is_caught_by_the_seal_log_and_full_check(tmp_path: Path) -> None:
    db, segs = _sealed(tmp_path)
    victim = read_manifest(segs)[1]
    _reencode_with_edit(segs / victim.file, 150)
    manifest = json.loads((segs / MANIFEST).read_text())
    from byokvault.engine.ledger.segments import _sha256

    manifest["segments"][1]["sha256"] = _sha256(segs / victim.file)  # attacker fixes the hash
    (segs / MANIFEST).write_text(json.dumps(manifest))
    assert verify_segments(segs).ok  # the file matches the forged manifest...
    broken = verify_segments(segs, full=True).broken  # ...but its rows don't hash
    assert broken is not None and broken.seq == 150
    from byokvault.engine.ledger.store import DuckDBStore

    store = DuckDBStore(db)
    try:
        broken = verify_ledger(store, segs).broken
        assert broken is not None and broken.seq == 101 and "seal log" in broken.problem
    finally:
        store.close()


def test_sealing_refuses_a_broken_chain(tmp_path: Path) -> None:
    db, segs = tmp_path / "ledger.duckdb", tmp_path / "segments"
    with Ledger(db) as ledger:
        for i in range(10):
            ledger.append(make_record(i))
    con = duckdb.connect(str(db))
    con.execute("UPDATE ledger SET billed_amount = 0 WHERE seq = 7")
    con.close()
    from byokvault.engine.ledger.store import DuckDBStore

    store = DuckDBStore(db)
    try:
        with pytest.raises(SegmentError, match="seq 7"):
            seal(store, segs)
        assert read_manifest(segs) == []
    finally:
        store.close()


def test_cli_seal_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, segs = tmp_path / "ledger.duckdb", tmp_path / "segments"
    with Ledger(db) as ledger:
        for i in range(30):
            ledger.append(make_record(i))
    args = ["--ledger", str(db), "--segments", str(segs)]
    assert main(["ledger", "seal", *args, "--rows", "20"]) == 0
    assert "seq 21..30" in capsys.readouterr().out
    assert main(["ledger", "verify", *args]) == 0
    assert "ok: 30 records" in capsys.readouterr().out
    _reencode_with_edit(segs / read_manifest(segs)[0].file, 5)
    assert main(["ledger", "verify", *args]) == 1
    assert "BROKEN: record seq 5" in capsys.readouterr().out
