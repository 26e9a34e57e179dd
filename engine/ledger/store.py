"""Where ledger rows live. The writer talks to this small seam only, so another store (DuckLake,
Postgres) can replace the embedded DuckDB file without touching idempotency, chaining or group
commit. The DuckDB store is the default: one process owns the file read-write."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from ..paths import data_dir, sql_text
from .rows import COLUMNS, GENESIS


class DuplicateKeys(Exception):
    """An append hit an existing (tenant, idempotency key); nothing of the batch was written."""


class LedgerStore(Protocol):
    def head(self) -> tuple[int, str]:
        """(last seq, its row hash); (0, GENESIS) when empty."""

    def append(self, batch: pa.Table) -> None:
        """Write ``batch`` atomically and durably, or raise (DuplicateKeys) writing nothing."""

    def find_keys(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Stored rows for these (tenant, idempotency key) pairs."""

    def stored_keys(self) -> Iterator[tuple[str, str]]:
        """Every stored (tenant, idempotency key) pair (the writer indexes them at start)."""

    def find_record(self, record_id: str) -> dict[str, Any] | None: ...

    def reversal_of(self, record_id: str) -> str | None:
        """The record_id of the reversal of ``record_id``, if one exists."""

    def totals(self) -> list[tuple[str, str, int, Any, Any, Any]]:
        """(tenant, currency, records, raw_cost, billed_amount, rounded_amount) sums."""

    def scan(
        self, first_seq: int = 1, last_seq: int | None = None, *, canonical: bool = False
    ) -> Iterator[pa.RecordBatch]:
        """Rows in seq order, as Arrow batches (``canonical``: as canonical_rows.sql gives)."""

    def close(self) -> None: ...


def canonical_sql(source: str) -> str:
    """The canonical-form query over a relation (a table, a subquery or read_parquet(...))."""
    return sql_text("ledger/canonical_rows.sql").replace("__SOURCE__", source)


def default_path() -> Path:
    return data_dir() / "ledger.duckdb"


class DuckDBStore:
    """The ledger in one DuckDB file. A commit is durable (DuckDB syncs its WAL on COMMIT)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path or default_path())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(str(self.path))
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.execute(sql_text("ledger/schema.sql"))
        self._local = threading.local()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """One cursor per thread (a shared connection would serialize every query)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self._con.cursor()
            cur.execute("SET TimeZone = 'UTC'")
        return cur

    def head(self) -> tuple[int, str]:
        row = self._cursor().execute(sql_text("ledger/head.sql")).fetchone()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    def append(self, batch: pa.Table) -> None:
        """One autocommitted statement: atomic, and durable when it returns (the COMMIT
        fsyncs the WAL). One call instead of BEGIN/register/INSERT/unregister/COMMIT saves
        ~1 ms per batch, which is most of a lone append's latency besides the fsync."""
        ledger_batch = batch  # noqa: F841 (DuckDB finds the Arrow table by its variable name)
        try:
            self._cursor().execute("INSERT INTO ledger BY NAME SELECT * FROM ledger_batch")
        except duckdb.ConstraintException as exc:  # nothing of the batch was written
            raise DuplicateKeys(str(exc)) from exc

    def records(self, sql: str, params: Any) -> list[dict[str, Any]]:
        """Full ledger rows selected by ``sql`` (a read: receipts, audits, exports)."""
        return self._rows(sql, params)

    def query(self, sql: str, params: Any) -> list[dict[str, Any]]:
        """Any read over the ledger (aggregates, reports) as dicts, on this thread's cursor."""
        cur = self._cursor().execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def _rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        table = self._cursor().execute(sql, params).to_arrow_table()
        return table.select(list(COLUMNS)).to_pylist()

    def find_keys(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        if not keys:
            return []
        probe = pa.table({"tenant_id": [k[0] for k in keys], "key": [k[1] for k in keys]})
        cur = self._cursor()
        cur.register("ledger_probe", probe)
        try:
            return self._rows(sql_text("ledger/find_keys.sql"), [])
        finally:
            cur.unregister("ledger_probe")

    def stored_keys(self) -> Iterator[tuple[str, str]]:
        cur = self._con.cursor()
        reader = cur.execute("SELECT tenant_id, idempotency_key FROM ledger").to_arrow_reader(
            100_000
        )
        for batch in reader:
            yield from zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)

    def find_record(self, record_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM ledger WHERE record_id = ?", [record_id])
        return rows[0] if rows else None

    def find_record_by_seq(self, seq: int) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM ledger WHERE seq = ?", [seq])
        return rows[0] if rows else None

    def reversal_of(self, record_id: str) -> str | None:
        sql = "SELECT record_id FROM ledger WHERE reverses = ? ORDER BY seq LIMIT 1"
        row = self._cursor().execute(sql, [record_id]).fetchone()
        return None if row is None else str(row[0])

    def totals(self) -> list[tuple[str, str, int, Any, Any, Any]]:
        return self._cursor().execute(sql_text("ledger/totals.sql")).fetchall()

    def scan(
        self, first_seq: int = 1, last_seq: int | None = None, *, canonical: bool = False
    ) -> Iterator[pa.RecordBatch]:
        """Rows in seq order; ``canonical=True`` gives them in the form the hash covers."""
        source = "(SELECT * FROM ledger WHERE seq BETWEEN $first AND $last)"
        sql = canonical_sql(source) if canonical else f"SELECT * FROM {source}"
        params = {"first": first_seq, "last": last_seq if last_seq is not None else 2**62}
        cur = self._con.cursor()
        yield from cur.execute(sql + " ORDER BY seq", params).to_arrow_reader(50_000)

    def export(self, first_seq: int, last_seq: int, path: Path) -> None:
        """Write records first_seq..last_seq, in seq order, to one Parquet file."""
        target = str(path).replace("'", "''")
        self._cursor().execute(
            f"COPY (SELECT * FROM ledger WHERE seq BETWEEN {int(first_seq)} AND {int(last_seq)} "
            f"ORDER BY seq) TO '{target}' "
            "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880, USE_TMP_FILE false)"
        )

    def seals(self) -> list[dict[str, Any]]:
        cur = self._cursor().execute("SELECT * FROM ledger_seals ORDER BY first_seq")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def record_seal(self, seal: dict[str, Any]) -> None:
        names = ", ".join(seal)
        marks = ", ".join("?" for _ in seal)
        self._cursor().execute(
            f"INSERT INTO ledger_seals ({names}) VALUES ({marks})", list(seal.values())
        )

    def close(self) -> None:
        self._con.close()
