"""Sealed Parquet segments: the ledger's audit and export format.

A seal copies a verified seq range out of the ledger into one Parquet file. The file is written
under a name no reader looks at (``.seg-*.tmp``), fsynced, renamed to ``seg-FIRST-LAST.parquet``
and the directory fsynced; only then is it recorded (in the ledger's ``ledger_seals`` table, then
in ``manifest.json``, written the same way). Readers open only the files the manifest lists, and
only after checking each one's sha256, so they never see a partial, torn or altered file.

Each manifest entry carries the segment's row count, seq range, the hash it chains from and its
chain head, so the chain is checked segment by segment: the file hashes match, each segment
starts where the last one ended, and a broken segment is then walked row by row to name the
first broken record.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from ..durable import fsync_path
from ..paths import data_dir
from .rows import GENESIS
from .store import DuckDBStore, canonical_sql
from .verify import Break, ChainCheck, verify_rows

MANIFEST = "manifest.json"
DEFAULT_SEGMENT_ROWS = 1_000_000


class SegmentError(Exception):
    """A segment or manifest that does not match what was sealed."""

    def __init__(self, broken: Break) -> None:
        self.broken = broken
        super().__init__(str(broken))


@dataclass(frozen=True)
class Segment:
    file: str
    sha256: str
    rows: int
    first_seq: int
    last_seq: int
    prev_hash: str
    chain_head: str


def default_dir() -> Path:
    return data_dir() / "ledger-segments"


def read_manifest(directory: Path) -> list[Segment]:
    path = directory / MANIFEST
    if not path.is_file():
        return []
    return [Segment(**entry) for entry in json.loads(path.read_text())["segments"]]


def seal(
    store: DuckDBStore, directory: Path | None = None, *, max_rows: int = DEFAULT_SEGMENT_ROWS
) -> list[Segment]:
    """Seal every unsealed record into segments of up to ``max_rows``; returns the new ones.

    The rows are verified before they are sealed, so a segment never freezes a broken chain.
    """
    directory = Path(directory or default_dir())
    directory.mkdir(parents=True, exist_ok=True)
    sealed = [Segment(**row) for row in store.seals()]
    _write_manifest(directory, sealed)  # repairs a crash between the seal log and the manifest
    first = sealed[-1].last_seq + 1 if sealed else 1
    prev = sealed[-1].chain_head if sealed else GENESIS
    last_seq, _ = store.head()
    new: list[Segment] = []
    while first <= last_seq:
        last = min(first + max_rows - 1, last_seq)
        check = verify_rows(
            store.scan(first, last, canonical=True), first_seq=first, prev_hash=prev
        )
        if check.broken is not None:
            raise SegmentError(check.broken)
        segment = _write_segment(store, directory, first, last, prev, check)
        store.record_seal(asdict(segment))
        sealed.append(segment)
        _write_manifest(directory, sealed)
        new.append(segment)
        first, prev = last + 1, check.head
    return new


def _write_segment(
    store: DuckDBStore, directory: Path, first: int, last: int, prev: str, check: ChainCheck
) -> Segment:
    name = f"seg-{first:012d}-{last:012d}.parquet"
    tmp = directory / f".{name}.tmp"
    tmp.unlink(missing_ok=True)
    store.export(first, last, tmp)
    fsync_path(tmp)
    digest = _sha256(tmp)
    tmp.replace(directory / name)
    fsync_path(directory)
    return Segment(name, digest, check.records, first, last, prev, check.head)


def _write_manifest(directory: Path, segments: list[Segment]) -> None:
    body = json.dumps({"segments": [asdict(s) for s in segments]}, indent=1).encode()
    path = directory / MANIFEST
    if path.is_file() and path.read_bytes() == body:
        return
    tmp = directory / f".{MANIFEST}.tmp"
    tmp.write_bytes(body)
    fsync_path(tmp)
    tmp.replace(path)
    fsync_path(directory)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(4 << 20):  # big chunks: hashlib releases the GIL on them
            digest.update(chunk)
    return digest.hexdigest()


# ---- readers ---------------------------------------------------------------------------


def verified_files(directory: Path | None = None) -> list[Path]:
    """The manifest's files, each checked against its sha256; raises SegmentError otherwise."""
    directory = Path(directory or default_dir())
    segments = read_manifest(directory)
    for segment, problem in zip(segments, _file_problems(directory, segments), strict=True):
        if problem is not None:
            raise SegmentError(Break(segment.first_seq, None, problem, segment.file))
    return [directory / s.file for s in segments]


def _file_problems(directory: Path, segments: list[Segment]) -> list[str | None]:
    def problem(segment: Segment) -> str | None:
        path = directory / segment.file
        if not path.is_file():
            return "segment file is missing"
        if _sha256(path) != segment.sha256:
            return "segment file does not match its manifest sha256 (torn or altered)"
        return None

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(problem, segments))


def verify_segments(directory: Path | None = None, *, full: bool = False) -> ChainCheck:
    """Check the sealed chain: manifest links, file hashes, and rows where a file fails.

    ``full`` also walks every row of every segment (slow; the file hash already proves each
    file is byte for byte what was sealed, and sealing verified those rows).
    """
    directory = Path(directory or default_dir())
    segments = read_manifest(directory)
    problems = _file_problems(directory, segments)
    expect_seq, expect_prev, count = 1, GENESIS, 0
    for segment, problem in zip(segments, problems, strict=True):
        link = _link_problem(segment, expect_seq, expect_prev)
        if link is not None:
            return ChainCheck(count, expect_seq - 1, expect_prev, link)
        if problem is not None or full:
            check = _walk_segment(directory, segment, problem)
            if check.broken is not None:
                return ChainCheck(count + check.records, check.last_seq, check.head, check.broken)
        expect_seq, expect_prev = segment.last_seq + 1, segment.chain_head
        count += segment.rows
    return ChainCheck(count, expect_seq - 1, expect_prev)


def _link_problem(segment: Segment, expect_seq: int, expect_prev: str) -> Break | None:
    if segment.first_seq != expect_seq:
        return Break(expect_seq, None, f"manifest skips to seq {segment.first_seq}", segment.file)
    if segment.prev_hash != expect_prev:
        problem = "segment does not chain from the previous segment's head"
        return Break(segment.first_seq, None, problem, segment.file)
    if segment.rows != segment.last_seq - segment.first_seq + 1:
        return Break(segment.first_seq, None, "row count does not match seq range", segment.file)
    return None


def _walk_segment(directory: Path, segment: Segment, problem: str | None) -> ChainCheck:
    """Row-level check of one segment, in file order; locates the first broken record."""
    path = directory / segment.file
    try:
        check = verify_rows(
            _parquet_rows(path),
            first_seq=segment.first_seq,
            prev_hash=segment.prev_hash,
            where=segment.file,
        )
    except (duckdb.Error, OSError) as exc:
        reason = f"segment unreadable ({type(exc).__name__}); {problem or 'torn file'}"
        return ChainCheck(
            0,
            segment.first_seq - 1,
            segment.prev_hash,
            Break(segment.first_seq, None, reason, segment.file),
        )
    if check.broken is None and (check.last_seq, check.head) != (
        segment.last_seq,
        segment.chain_head,
    ):
        at = check.last_seq + 1
        reason = f"segment ends at seq {check.last_seq}, manifest says {segment.last_seq}"
        if check.last_seq == segment.last_seq:
            reason = "segment's last row_hash is not the manifest's chain head"
            at = segment.last_seq
        return ChainCheck(
            check.records, check.last_seq, check.head, Break(at, None, reason, segment.file)
        )
    if check.broken is None and problem is not None:
        # rows intact, bytes differ (e.g. re-encoded): still not the sealed file
        return ChainCheck(
            check.records,
            check.last_seq,
            check.head,
            Break(segment.first_seq, None, problem, segment.file),
        )
    return check


def _parquet_rows(path: Path) -> Iterator[pa.RecordBatch]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    source = f"read_parquet('{_quoted(path)}')"
    yield from con.execute(canonical_sql(source)).to_arrow_reader(50_000)


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def verify_ledger(
    store: DuckDBStore, directory: Path | None = None, *, full: bool = False
) -> ChainCheck:
    """The whole chain: sealed segments (fast: file hashes and links), the manifest against
    the ledger's seal log, and the ledger's unsealed tail row by row. ``full`` also walks
    every sealed row, in the segments and in the ledger file."""
    directory = Path(directory or default_dir())
    sealed = verify_segments(directory, full=full)
    if sealed.broken is not None:
        return sealed
    manifest, log = read_manifest(directory), [Segment(**row) for row in store.seals()]
    for mine, theirs in zip(manifest, log, strict=False):
        if mine != theirs:
            problem = "manifest entry differs from the ledger's seal log"
            return ChainCheck(
                0,
                mine.first_seq - 1,
                mine.prev_hash,
                Break(mine.first_seq, None, problem, MANIFEST),
            )
    if len(manifest) < len(log):
        missing = log[len(manifest)]
        problem = "sealed segment missing from the manifest"
        return ChainCheck(
            0,
            missing.first_seq - 1,
            missing.prev_hash,
            Break(missing.first_seq, None, problem, MANIFEST),
        )
    where = str(getattr(store, "path", "ledger"))
    if full:
        return verify_rows(store.scan(canonical=True), where=where)
    for segment in manifest:  # the ledger file agrees with each sealed head
        row = store.find_record_by_seq(segment.last_seq)
        if row is None or row["row_hash"] != segment.chain_head:
            problem = "ledger row differs from the sealed segment's chain head"
            return ChainCheck(
                0,
                segment.last_seq - 1,
                "",
                Break(segment.last_seq, None if row is None else row["record_id"], problem, where),
            )
    tail = verify_rows(
        store.scan(sealed.last_seq + 1, canonical=True),
        first_seq=sealed.last_seq + 1,
        prev_hash=sealed.head,
        where=where,
    )
    return ChainCheck(sealed.records + tail.records, tail.last_seq, tail.head, tail.broken)
