"""Run the finance audits in ``sql/audit/*.sql`` over the sealed segments and the catalog.

Each audit is a plain DuckDB query over a ``ledger`` relation (the manifest-listed, hash-checked
Parquet segments), the ``ledger_lines`` view, the catalog snapshot tables (``prices``,
``units``, ...) and a ``quotes`` relation. Checks return the offending rows: empty means clean.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from ..paths import SQL_DIR, sql_text
from .segments import verified_files

# Audits whose result is a list of problems (empty = pass); the others are reports.
CHECKS = ("chain_gaps", "duplicates", "reversals", "snapshot_consistency")
QUOTE_COLUMNS = "quote_id VARCHAR, dimension VARCHAR, price_id VARCHAR, unit_price DECIMAL(38, 24)"


def audit_names() -> list[str]:
    return sorted(p.stem for p in (SQL_DIR / "audit").glob("*.sql"))


@dataclass(frozen=True)
class AuditResult:
    name: str
    columns: list[str]
    rows: list[tuple[Any, ...]]

    @property
    def is_check(self) -> bool:
        return self.name in CHECKS


def prepare(
    con: duckdb.DuckDBPyConnection,
    segment_files: Sequence[Path] | None,
    quotes: Path | None = None,
) -> None:
    """Create ``ledger`` (over ``segment_files``; None keeps an existing ``ledger``),
    ``ledger_lines`` and ``quotes`` in ``con``. The catalog tables are loaded separately."""
    con.execute("SET TimeZone = 'UTC'")
    if segment_files is not None:
        if segment_files:
            files = ", ".join(f"'{_quoted(p)}'" for p in segment_files)
            con.execute(f"CREATE OR REPLACE VIEW ledger AS SELECT * FROM read_parquet([{files}])")
        else:  # nothing sealed yet: an empty ledger of the right shape
            con.execute(sql_text("ledger/schema.sql"))
    con.execute(sql_text("ledger/views.sql"))
    if quotes is not None:
        source = f"read_parquet('{_quoted(quotes)}')"
        if quotes.suffix == ".csv":
            source = f"read_csv('{_quoted(quotes)}', header = true)"
        con.execute(
            f"CREATE OR REPLACE TABLE quotes AS SELECT quote_id, dimension, price_id, "
            f"CAST(unit_price AS DECIMAL(38, 24)) AS unit_price FROM {source}"
        )
    else:
        con.execute(f"CREATE TABLE IF NOT EXISTS quotes ({QUOTE_COLUMNS})")


def open_audit(
    segments: Path | None = None, catalog_snapshot: Path | None = None, quotes: Path | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB ready for audits: verified segments, catalog snapshot, quotes."""
    from ..catalog.store import build, load_snapshot

    con = duckdb.connect()
    if catalog_snapshot is None:
        catalog_snapshot = build()[1].path
    load_snapshot(con, catalog_snapshot)
    prepare(con, verified_files(segments), quotes)
    return con


def run_audit(
    con: duckdb.DuckDBPyConnection, name: str, variables: dict[str, Any] | None = None
) -> AuditResult:
    if name not in audit_names():
        raise ValueError(f"no audit {name!r}; audits: {', '.join(audit_names())}")
    cur = con.cursor()
    for key, value in (variables or {}).items():
        cur.execute(f"SET VARIABLE {_identifier(key)} = ?", [value])
    result = cur.execute(sql_text(f"audit/{name}.sql"))
    columns = [d[0] for d in result.description]
    return AuditResult(name, columns, result.fetchall())


def _identifier(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"not a variable name: {name!r}")
    return name


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


# ---- output ----------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return "; ".join(_text(v) for v in value)
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return _text(value)  # Decimal as a string: money never becomes a float


def render(result: AuditResult, fmt: str) -> str:
    if fmt == "json":
        rows = [
            {c: _json_value(v) for c, v in zip(result.columns, row, strict=True)}
            for row in result.rows
        ]
        return json.dumps(rows, indent=1)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([_text(v) for v in row] for row in result.rows)
        return out.getvalue()
    cells = [result.columns, *([_text(v) for v in row] for row in result.rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(result.columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines) + "\n"
