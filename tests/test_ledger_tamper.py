"""Tamper evidence: any edited field, deleted, reordered or inserted record is found, at its seq."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from byokvault.engine.ledger import Ledger
from byokvault.engine.ledger.rows import ARROW_SCHEMA, COLUMNS, to_arrow
from byokvault.engine.ledger.store import DuckDBStore
from byokvault.engine.ledger.synthetic import make_record
from byokvault.engine.ledger.verify import verify_rows

TARGET = 4  # the seq we tamper with, in a ledger of 8


def _ledger(path: Path) -> None:
    with Ledger(path) as ledger:
        for i in range(8):
            ledger.append(make_record(i))
        ledger.reverse(ledger.store.find_record_by_seq(2)["record_id"], "undo", "test").result()


def _rewrite(path: Path, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """An attacker with the file: read every row, change them, write them back."""
    con = duckdb.connect(str(path))
    rows = con.execute("SELECT * FROM ledger ORDER BY seq").to_arrow_table().to_pylist()
    con.register("forged", to_arrow(change(rows)))
    con.execute("DELETE FROM ledger")
    con.execute("INSERT INTO ledger BY NAME SELECT * FROM forged")
    con.close()


def _verify(path: Path):
    store = DuckDBStore(path)
    try:
        return verify_rows(store.scan(canonical=True))
    finally:
        store.close()


SWAPS = {"charge": "reversal", "reversal": "charge", "platform": "byok", "byok": "platform"}


def _nudge(value: Any, field: str) -> Any:
    """The smallest change of a value of each stored type (one character, unit, µs)."""
    if value is None:
        return Decimal("0.1") if pa.types.is_decimal(ARROW_SCHEMA.field(field).type) else "x"
    if value in SWAPS:  # CHECK constraints only allow the other legal value
        return SWAPS[value]
    if isinstance(value, int):
        return value + 1000
    if isinstance(value, Decimal):
        return value + Decimal("1e-24")
    if isinstance(value, datetime):
        return value + timedelta(microseconds=1)
    if isinstance(value, str):
        return value[:-1] + ("a" if value[-1] != "a" else "b")
    raise AssertionError(type(value))


FIELDS = [c for c in COLUMNS if c not in ("usage", "lines")]
FIELDS += [f"usage.{f}" for f in ("dimension", "quantity")]
FIELDS += [
    f"lines.{f}"
    for f in ("dimension", "price_id", "unit_price", "per", "quantity", "amount", "effective_from")
]


@pytest.mark.parametrize("field", FIELDS)
def test_an_edited_field_is_found_at_its_record(tmp_path: Path, field: str) -> None:
    path = tmp_path / "ledger.duckdb"
    _ledger(path)
    assert _verify(path).ok

    def edit(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        row = rows[TARGET - 1]
        if "." in field:
            column, name = field.split(".")
            row[column][-1][name] = _nudge(row[column][-1][name], column)
        else:
            row[field] = _nudge(row[field], field)
        return rows

    _rewrite(path, edit)
    check = _verify(path)
    assert check.broken is not None
    assert check.broken.seq == TARGET
    assert check.records == TARGET - 1


def test_a_deleted_record_is_found(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    _ledger(path)
    _rewrite(path, lambda rows: [r for r in rows if r["seq"] != TARGET])
    broken = _verify(path).broken
    assert broken is not None and broken.seq == TARGET and "missing" in broken.problem


def test_the_deleted_last_record_is_caught_by_the_head(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    _ledger(path)
    with Ledger(path) as ledger:
        head = ledger.head()
    _rewrite(path, lambda rows: rows[:-1])
    check = _verify(path)
    assert check.ok and (check.last_seq, check.head) != head  # the chain alone can't tell


def test_reordered_records_are_found(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    _ledger(path)

    def swap(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        a, b = rows[TARGET - 1], rows[TARGET]
        a["seq"], b["seq"] = b["seq"], a["seq"]
        return rows

    _rewrite(path, swap)
    broken = _verify(path).broken
    assert broken is not None and broken.seq == TARGET


@pytest.mark.parametrize("renumber", [False, True])
def test_an_inserted_record_is_found(tmp_path: Path, renumber: bool) -> None:
    path = tmp_path / "ledger.duckdb"
    _ledger(path)

    def insert(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        forged = dict(rows[0], record_id="rec_forged", idempotency_key="forged")
        if not renumber:  # appended after the head
            forged["seq"] = len(rows) + 1
            forged["prev_hash"] = rows[-1]["row_hash"]
            return [*rows, forged]
        forged["seq"] = TARGET
        forged["prev_hash"] = rows[TARGET - 2]["row_hash"]
        for row in rows[TARGET - 1 :]:
            row["seq"] += 1
        return [*rows[: TARGET - 1], forged, *rows[TARGET - 1 :]]

    _rewrite(path, insert)
    broken = _verify(path).broken
    assert broken is not None
    assert broken.seq == (9 + 1 if not renumber else TARGET)
