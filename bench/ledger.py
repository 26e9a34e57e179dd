"""Ledger benchmark: durable append throughput, then audits and verification on N sealed rows.

    .venv/bin/python bench/ledger.py                 # 10M synthetic records (a few minutes)
    .venv/bin/python bench/ledger.py --rows 1000000  # smaller; --quick = 200k rows, 20k appends

1. Appends through the real writer (validation, idempotency, hash chain, group commit), with
   the journal-first store (acknowledged once fdatasync'd in the journal) against the old
   table-first path (acknowledged after the table's INSERT + fsync'd COMMIT) in the same run:
   a lone append's latency (p50/p95, one caller appending one record at a time), and durable
   appends/s and CPU µs per record with 4 submitter threads, each with up to 1,024 in flight
   (per-record ``submit`` and ``submit_many``). A raw fdatasync of the same disk is the floor.
2. N synthetic records written as sealed segments (a valid hash chain; the first rows of every
   segment are re-verified with the real verifier), then: a tenant's monthly invoice, the
   duplicate scan, chain verification (manifest + file hashes), the SQL chain-gap audit, and
   the row-level re-hash rate.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import msgspec
import pyarrow as pa

from byokvault.engine.durable import fsync_path
from byokvault.engine.ledger import Ledger
from byokvault.engine.ledger.audit import prepare, run_audit
from byokvault.engine.ledger.batch import ChainedRows
from byokvault.engine.ledger.rows import GENESIS, chain_hash
from byokvault.engine.ledger.segments import (
    MANIFEST,
    Segment,
    _sha256,
    read_manifest,
    verified_files,
    verify_segments,
)
from byokvault.engine.ledger.store import DuckDBStore, _insert, canonical_sql
from byokvault.engine.ledger.synthetic import make_record
from byokvault.engine.ledger.verify import verify_rows

BASE_US = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z
STEP_US = 3_153_600  # 10M records spread over a year
PROVIDERS = ("openai", "anthropic", "google", "mistral")
CLASSES = ("text", "image", "audio", "embedding", "vision")
FUNDS = ("platform", "byok", "local")
ZEROS = "0" * 18


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus"


# ---- 1. appends ---------------------------------------------------------------------------


class TableFirstStore(DuckDBStore):
    """The old write path, as the baseline: the batch's INSERT + COMMIT before the ack."""

    def append(self, batch: ChainedRows) -> None:
        _insert(self._con.cursor(), batch.table())  # nothing journaled: reads never wait


STORES = (("table first (old path)", TableFirstStore), ("journal first (new path)", DuckDBStore))
LONE = 400  # sequential appends timed one by one


def bench_appends(root: Path, count: int) -> None:
    records = [make_record(i) for i in range(count)]
    gc.freeze()  # the fixture's records are not the write path's garbage: don't rescan them
    print(f"appends ({_load()})")
    for n, (label, store) in enumerate(STORES):
        lone, floor = _lone(root / f"lone-{n}.duckdb", store, records[:LONE], root / f"probe-{n}")
        print(f"  {label}: a lone append is acknowledged in {lone}")
        print(f"    (a raw 1.6 kB write + fdatasync of this disk, timed alongside: {floor})")
        for many in (False, True):
            wall, cpu, split = _batched(root / f"batched-{n}-{many}.duckdb", store, records, many)
            print(
                f"    {'submit_many' if many else 'submit     '}: {count / wall:,.0f} durable "
                f"records/s, CPU {cpu / count * 1e6:.0f} µs per record (all threads: "
                + ", ".join(f"{k} {v / count * 1e6:.1f}" for k, v in split.items())
                + ")"
            )
    print(f"  {SUBMITTERS} submitters, up to {WINDOW} in flight each; {_load()}")


def _percentiles(waits: list[float]) -> str:
    waits = sorted(waits)
    p50, p95 = waits[len(waits) // 2], waits[len(waits) * 95 // 100]
    return f"p50 {p50 * 1e3:.2f} ms, p95 {p95 * 1e3:.2f} ms"


def _lone(path: Path, store: type[DuckDBStore], records: list, probe: Path) -> tuple[str, str]:
    """One caller appending one record at a time (nothing to batch with); after each append a
    raw fdatasync of a probe file, so both see the same (shared, variable) disk."""
    fd, waits, syncs = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_APPEND), [], []
    with Ledger(store=store(path)) as ledger:
        for record in records:
            started = time.perf_counter()
            ledger.append(record)
            waits.append(time.perf_counter() - started)
            os.write(fd, b"x" * 1600)
            started = time.perf_counter()
            os.fdatasync(fd)
            syncs.append(time.perf_counter() - started)
    os.close(fd)
    return _percentiles(waits), _percentiles(syncs)


SUBMITTERS, WINDOW = 4, 1024


def _batched(
    path: Path, store: type[DuckDBStore], records: list, many: bool
) -> tuple[float, float, dict[str, float]]:
    """SUBMITTERS threads, each keeping up to WINDOW appends in flight (many callers each
    awaiting its acknowledgement): wall and process CPU seconds until every one is durable
    (and, for a fair comparison, until the table holds every row), and the CPU seconds of each
    kind of thread (load-robust: what the records cost, whoever else uses the machine)."""
    submitters: list[float] = []
    with Ledger(store=store(path)) as ledger:

        def submit(worker: int) -> None:
            started = time.thread_time()
            mine = records[worker::SUBMITTERS]
            for start in range(0, len(mine), WINDOW):
                chunk = mine[start : start + WINDOW]
                if many:  # one Future for the chunk
                    ledger.submit_many(chunk).result()
                    continue
                for future in [ledger.submit(r) for r in chunk]:
                    future.result()
            submitters.append(time.thread_time() - started)

        named = {
            "writer": ledger._writer._thread.native_id,
            "applier": ledger.store.applier_thread_id,
        }
        before = _thread_cpu()
        cpu, started = time.process_time(), time.perf_counter()
        threads = [threading.Thread(target=submit, args=(w,)) for w in range(SUBMITTERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert ledger.store.head()[0] == len(records)  # (waits for the table)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        used = {tid: t - before.get(tid, 0.0) for tid, t in _thread_cpu().items()}
    split = {"submitters": sum(submitters)}
    for name, tid in named.items():
        split[name] = used.pop(tid, 0.0)
    used.pop(threading.get_native_id(), None)
    split["DuckDB's threads"] = sum(used.values())
    return wall, cpu, split


def _thread_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of each live thread of this process (Linux; else {})."""
    tick, times, tasks = os.sysconf("SC_CLK_TCK"), {}, Path("/proc/self/task")
    for task in tasks.iterdir() if tasks.is_dir() else ():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        times[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick
    return times


# ---- 2. synthetic sealed ledger -----------------------------------------------------------


def _money(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}{ZEROS}"


def _canonical_body(i: int) -> dict:
    """Record ``i`` in canonical form, by the same formulas as ``GENERATE_SQL``."""
    q_in, q_out = 100 + i % 5000, 10 + i % 700
    provider, fund = PROVIDERS[i % 4], FUNDS[i % 3]
    raw = 2 * q_in + 10 * q_out
    billed = {"platform": 3 * q_in + 15 * q_out, "byok": 100, "local": raw}[fund]
    at = BASE_US + i * STEP_US
    return {
        "seq": i,
        "record_id": f"rec_{i}",
        "recorded_at": at + 1_000_000,
        "kind": "charge",
        "reverses": None,
        "reason": None,
        "tenant_id": f"tenant-{i % 1000}",
        "call_id": f"call-{i}",
        "idempotency_key": f"key-{i}",
        "occurred_at": at,
        "provider_id": provider,
        "model_id": f"model-{i % 8}",
        "capability_class": CLASSES[i % 5],
        "tier": "standard",
        "fund_source": fund,
        "credential_id": f"cred-{i % 50}" if fund == "byok" else f"platform-{provider}",
        "credential_resolution_id": f"res-{i}",
        "quote_id": f"quote-{i}",
        "usage": [
            {"dimension": "input_tokens", "quantity": f"{q_in}.{ZEROS}000000"},
            {"dimension": "output_tokens", "quantity": f"{q_out}.{ZEROS}000000"},
        ],
        "lines": [
            _line("input_tokens", "p-in", 2, q_in),
            _line("output_tokens", "p-out", 10, q_out),
        ],
        "raw_cost": _money(raw),
        "margin_factor": f"1.5{ZEROS}00000" if fund == "platform" else None,
        "byok_fee": _money(100) if fund == "byok" else None,
        "billed_amount": _money(billed),
        "rounded_amount": _money(billed),
        "rounding_mode": "half_even",
        "rounding_quantum": _money(1),
        "currency": "USD",
        "catalog_version": "cat-bench",
        "rules_version": "rules-bench",
    }


def _line(dimension: str, price_id: str, unit: int, quantity: int) -> dict:
    return {
        "amount": _money(unit * quantity),
        "dimension": dimension,
        "effective_from": BASE_US - 86_400_000_000,
        "per": 1_000_000,
        "price_id": price_id,
        "quantity": f"{quantity}.{ZEROS}000000",
        "unit_price": f"{unit}.{ZEROS}000000",
    }


GENERATE_SQL = """
SELECT i AS seq, 'rec_' || i AS record_id,
       make_timestamp(BASE + i * STEP + 1000000)::TIMESTAMPTZ AS recorded_at,
       'charge' AS kind, NULL::VARCHAR AS reverses, NULL::VARCHAR AS reason,
       'tenant-' || (i % 1000) AS tenant_id, 'call-' || i AS call_id,
       'key-' || i AS idempotency_key,
       make_timestamp(BASE + i * STEP)::TIMESTAMPTZ AS occurred_at,
       ['openai', 'anthropic', 'google', 'mistral'][i % 4 + 1] AS provider_id,
       'model-' || (i % 8) AS model_id,
       ['text', 'image', 'audio', 'embedding', 'vision'][i % 5 + 1] AS capability_class,
       'standard' AS tier, ['platform', 'byok', 'local'][i % 3 + 1] AS fund_source,
       CASE WHEN i % 3 = 1 THEN 'cred-' || (i % 50) ELSE 'platform-' || provider_id END
           AS credential_id,
       'res-' || i AS credential_resolution_id, 'quote-' || i AS quote_id,
       [{'dimension': 'input_tokens', 'quantity': (100 + i % 5000)::DECIMAL(38, 24)},
        {'dimension': 'output_tokens', 'quantity': (10 + i % 700)::DECIMAL(38, 24)}] AS usage,
       [{'dimension': 'input_tokens', 'price_id': 'p-in', 'unit_price': 2::DECIMAL(38, 24),
         'per': 1000000::BIGINT, 'quantity': (100 + i % 5000)::DECIMAL(38, 24),
         'amount': ((2 * (100 + i % 5000)) * 0.000001)::DECIMAL(38, 24),
         'effective_from': make_timestamp(BASE - 86400000000)::TIMESTAMPTZ},
        {'dimension': 'output_tokens', 'price_id': 'p-out', 'unit_price': 10::DECIMAL(38, 24),
         'per': 1000000::BIGINT, 'quantity': (10 + i % 700)::DECIMAL(38, 24),
         'amount': ((10 * (10 + i % 700)) * 0.000001)::DECIMAL(38, 24),
         'effective_from': make_timestamp(BASE - 86400000000)::TIMESTAMPTZ}] AS lines,
       ((2 * (100 + i % 5000) + 10 * (10 + i % 700)) * 0.000001)::DECIMAL(38, 24) AS raw_cost,
       CASE WHEN i % 3 = 0 THEN 1.5::DECIMAL(38, 24) END AS margin_factor,
       CASE WHEN i % 3 = 1 THEN 0.0001::DECIMAL(38, 24) END AS byok_fee,
       (CASE i % 3 WHEN 0 THEN 3 * (100 + i % 5000) + 15 * (10 + i % 700) WHEN 1 THEN 100
             ELSE 2 * (100 + i % 5000) + 10 * (10 + i % 700) END * 0.000001)::DECIMAL(38, 24)
           AS billed_amount,
       billed_amount AS rounded_amount, 'half_even' AS rounding_mode,
       0.000001::DECIMAL(38, 24) AS rounding_quantum, 'USD' AS currency,
       'cat-bench' AS catalog_version, 'rules-bench' AS rules_version,
       h.prev_hash, h.row_hash
FROM range(FIRST, LAST + 1) AS r(i) JOIN hashes AS h ON h.seq = r.i
ORDER BY seq
"""


def build_segments(directory: Path, rows: int, per_segment: int) -> list[Segment]:
    """Write ``rows`` chained synthetic records as sealed segments plus a manifest."""
    directory.mkdir(parents=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    encode = msgspec.json.Encoder(order="sorted").encode
    segments, prev = [], GENESIS
    for first in range(1, rows + 1, per_segment):
        last = min(first + per_segment - 1, rows)
        prevs, hashes, head = [], [], prev
        for i in range(first, last + 1):
            prevs.append(head)
            head = chain_hash(head, encode(_canonical_body(i)))
            hashes.append(head)
        seqs = pa.array(range(first, last + 1), pa.int64())
        con.register("hashes", pa.table({"seq": seqs, "prev_hash": prevs, "row_hash": hashes}))
        name = f"seg-{first:012d}-{last:012d}.parquet"
        tmp = directory / f".{name}.tmp"
        sql = GENERATE_SQL.replace("BASE", str(BASE_US)).replace("STEP", str(STEP_US))
        sql = sql.replace("FIRST", str(first)).replace("LAST", str(last))
        con.execute(
            f"COPY ({sql}) TO '{tmp}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"
        )
        fsync_path(tmp)
        digest = _sha256(tmp)
        tmp.replace(directory / name)
        segments.append(Segment(name, digest, last - first + 1, first, last, prev, head))
        prev = head
    manifest = {"segments": [asdict(s) for s in segments]}
    (directory / MANIFEST).write_bytes(msgspec.json.encode(manifest))
    return segments


def _spot_check(directory: Path, segments: list[Segment], rows: int = 2000) -> None:
    """The generator must produce exactly what the real writer would: re-verify with the real
    verifier (canonical form read back from Parquet) the first rows of every segment."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for segment in segments:
        source = f"(SELECT * FROM read_parquet('{directory / segment.file}') LIMIT {rows})"
        batches = con.execute(canonical_sql(source)).to_arrow_reader(rows)
        check = verify_rows(batches, first_seq=segment.first_seq, prev_hash=segment.prev_hash)
        assert check.ok, f"synthetic data does not verify: {check.broken}"


def _timed(label: str, fn, aim: float | None = None):
    """Wall time, and CPU time of this process (all threads) as a check on a busy machine:
    on an otherwise idle 2-core box wall time is about CPU / 2 for DuckDB's parallel scans."""
    started, cpu = time.perf_counter(), time.process_time()
    result = fn()
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    verdict = "" if aim is None else f"  (aim < {aim:g} s: {'ok' if took < aim else 'MISSED'})"
    print(f"  {label}: {took:.3f} s wall, {cpu:.2f} s CPU{verdict}")
    return result, took


def bench_sealed(root: Path, rows: int, per_segment: int, reuse: Path | None = None) -> None:
    started = time.perf_counter()
    if reuse is not None:  # a directory an earlier run built (--keep)
        directory = reuse
        segments = read_manifest(directory)
        rows = sum(s.rows for s in segments)
    else:
        directory = root / "segments"
        segments = build_segments(directory, rows, per_segment)
    size = sum((directory / s.file).stat().st_size for s in segments)
    print(
        f"sealed ledger: {rows:,} records in {len(segments)} segments, {size / 1e9:.2f} GB, "
        f"built in {time.perf_counter() - started:.0f} s; {_load()}"
    )
    _spot_check(directory, segments)
    con = duckdb.connect()
    prepare(con, verified_files(directory))
    middle = datetime.fromtimestamp((BASE_US + rows // 2 * STEP_US) / 1e6, UTC)
    tenant, month = "tenant-42", date(middle.year, middle.month, 1)
    invoice, _ = _timed(
        "monthly invoice, one tenant (receipts audit)",
        lambda: run_audit(con, "receipts", {"tenant": tenant, "month": month}),
        aim=1,
    )
    print(f"    {len(invoice.rows)} receipts for {tenant} in {month:%Y-%m}")
    _timed("spend audit, every tenant x month x class x provider", lambda: run_audit(con, "spend"))
    dupes, _ = _timed("duplicate scan (duplicates audit)", lambda: run_audit(con, "duplicates"), 3)
    assert dupes.rows == []
    check, _ = _timed(
        "chain verification (manifest links + sha256 of every segment)",
        lambda: verify_segments(directory),
        aim=15,
    )
    assert check.ok and check.records == rows, check
    gaps, _ = _timed(
        "chain-gap audit in SQL (seq + prev_hash links)", lambda: run_audit(con, "chain_gaps")
    )
    assert gaps.rows == []
    sample = min(50_000, rows)
    source = f"(SELECT * FROM read_parquet('{directory / segments[0].file}') LIMIT {sample})"
    reader = duckdb.connect()
    reader.execute("SET TimeZone = 'UTC'")
    started, cpu = time.perf_counter(), time.process_time()
    verify_rows(reader.execute(canonical_sql(source)).to_arrow_reader(50_000))
    per_row = (time.perf_counter() - started) / sample
    cpu_row = (time.process_time() - cpu) / sample
    print(
        f"  row-level re-hash (ledger verify --full): {per_row * 1e6:.1f} µs/row wall, "
        f"{cpu_row * 1e6:.1f} µs/row CPU = {cpu_row * rows:.0f} CPU-seconds for {rows:,} rows"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="sealed records (0: skip)")
    parser.add_argument("--appends", type=int, default=100_000, help="records appended (0: skip)")
    parser.add_argument("--segment-rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="200k sealed rows, 20k appends")
    parser.add_argument("--dir", type=Path, default=None, help="work dir (default: a tmp dir)")
    parser.add_argument(
        "--segments", type=Path, default=None, help="reuse sealed segments from an earlier run"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (for --segments)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.appends, args.segment_rows = 200_000, 20_000, 50_000
    root = Path(tempfile.mkdtemp(prefix="ledger-bench-", dir=args.dir))
    print(f"ledger bench ({_load()})")
    try:
        if args.appends:
            bench_appends(root, args.appends)
        if args.rows or args.segments:
            bench_sealed(root, args.rows, args.segment_rows, args.segments)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
