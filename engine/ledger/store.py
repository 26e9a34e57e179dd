"""Where ledger rows live. The writer talks to this small seam only, so another store (DuckLake,
Postgres) can replace the embedded DuckDB file without touching idempotency, chaining or group
commit. The DuckDB store is the default: one process owns the file read-write.

The DuckDB store acknowledges a batch once it is in its journal (engine/ledger/journal.py:
one synced write); a background thread then inserts it into the table, gathering what is
acknowledged for up to a second into one statement (engine/journalfirst.py). Every read first
waits until the table holds everything acknowledged before the read began (read-your-writes; a
waiting read cuts the gathering short)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from ..journalfirst import JournalFirst
from ..paths import data_dir, sql_text
from . import journal
from .batch import ChainedRows, table_of
from .rows import COLUMNS, GENESIS


class DuplicateKeys(Exception):
    """An append hit an existing (tenant, idempotency key); nothing of the batch was written."""


class StoreFailed(Exception):
    """The journal write or the table insert failed (acknowledged rows are safe in the
    journal): the store refuses further appends and reads until it is reopened, which replays
    them."""


class LedgerStore(Protocol):
    def head(self) -> tuple[int, str]:
        """(last seq, its row hash); (0, GENESIS) when empty."""

    def append(self, batch: ChainedRows) -> None:
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

    def health(self) -> str:
        """Either "ok" or what has failed (for /healthz)."""
        ...

    def close(self) -> None: ...


def canonical_sql(source: str) -> str:
    """The canonical-form query over a relation (a table, a subquery or read_parquet(...))."""
    return sql_text("ledger/canonical_rows.sql").replace("__SOURCE__", source)


def default_path() -> Path:
    return data_dir() / "ledger.duckdb"


CHECKPOINT_WAL = "256MB"  # DuckDB checkpoints the table once its WAL is this big
JOURNAL_RESET_BYTES = 64 << 20  # empty the journal once it is this big and fully applied
# The applier gathers acknowledged rows this long (unless a reader waits, or this many are
# pending) into one INSERT: a statement costs ~2.5 ms of CPU and an fsync whatever its size,
# and one per call (a gateway's rhythm) loaded the whole machine and collided with the next
# call's synced journal write (the same gathering as the vault's audit log).
APPLY_LINGER_S = 1.0
APPLY_MAX_ROWS = 20_000


def journal_path(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


class DuckDBStore:
    """The ledger in one DuckDB file plus its journal (see the module doc)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path or default_path())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(str(self.path))
        self._con.execute("SET TimeZone = 'UTC'")
        # A checkpoint's cost grows with the table (it rewrites the indexes): at the default
        # 16MB of WAL (~22k records) it doubled the insert cost per record past 100k rows.
        # Acknowledgements wait for the journal, not this WAL; a restart replays at most this
        # much (~360k records, ~2 s).
        self._con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_WAL}'")
        self._con.execute(sql_text("ledger/schema.sql"))
        self._local = threading.local()
        try:
            log_file = self._replay()
        except BaseException:  # (JournalCorrupt, DuplicateKeys): don't keep the file locked
            self._con.close()
            raise
        self._journal: JournalFirst[ChainedRows] = JournalFirst(
            log_file,
            lambda batches: _insert(self._con.cursor(), table_of(batches)),
            rows=lambda batch: len(batch.bodies),
            error=lambda: StoreFailed("the ledger store failed; reopen to replay"),
            name="ledger",
            reset_bytes=JOURNAL_RESET_BYTES,
            linger_s=APPLY_LINGER_S,
            max_rows=APPLY_MAX_ROWS,
        )

    @property
    def applier_thread_id(self) -> int | None:
        """The native id of the thread that fills the table (for CPU accounting)."""
        return self._journal.applier_thread_id

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (a shared connection would serialize every query), once the
        table holds every row acknowledged so far."""
        self._settle()
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self._con.cursor()
            cur.execute("SET TimeZone = 'UTC'")
        return cur

    def head(self) -> tuple[int, str]:
        self._settle()
        return self._table_head()

    def _table_head(self) -> tuple[int, str]:
        row = self._con.cursor().execute(sql_text("ledger/head.sql")).fetchone()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    # ---- appends: journal first, table after ------------------------------------------------

    def append(self, batch: ChainedRows) -> None:
        """Durable when it returns: the batch's frames are in the journal."""
        self._journal.append(batch, batch.frames())

    def _settle(self) -> None:
        """Wait until the table holds every row acknowledged before this call."""
        self._journal.settle()

    def health(self) -> str:
        return self._journal.health()

    def _replay(self) -> journal.Journal:
        """Insert the journaled rows the table lacks (a crash came between the journal and
        the table), then empty the journal."""
        path = journal_path(self.path)
        frames = journal.read(path)
        seq, head = self._table_head()
        for frame in frames:
            if frame.canon.seq == seq and frame.row_hash != head:
                raise journal.JournalCorrupt(f"journal and ledger disagree at seq {seq}")
        new = [f for f in frames if f.canon.seq > seq]
        seqs = [f.canon.seq for f in new]
        if new and (seqs != list(range(seq + 1, seq + 1 + len(new))) or new[0].prev_hash != head):
            raise journal.JournalCorrupt(
                f"journal resumes at seq {new[0].canon.seq}, the ledger ends at seq {seq}"
            )
        if new:
            rows = ChainedRows(
                new[0].canon.seq,
                [f.body for f in new],
                [f.prev_hash for f in new],
                [f.row_hash for f in new],
            )
            _insert(self._con.cursor(), rows.table())
        log = journal.Journal(path)
        if log.size:
            log.reset()
        return log

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
        self._settle()
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
        self._settle()
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
        """Insert everything acknowledged, empty the journal, close the file."""
        self._journal.close()
        self._con.close()


def _insert(cur: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    """One autocommitted statement: atomic, and durable when it returns (the COMMIT fsyncs
    DuckDB's WAL)."""
    ledger_batch = table.to_reader()  # noqa: F841 (DuckDB finds it by its variable name)
    try:
        cur.execute("INSERT INTO ledger BY NAME SELECT * FROM ledger_batch")
    except duckdb.ConstraintException as exc:  # nothing of the batch was written
        raise DuplicateKeys(str(exc)) from exc
