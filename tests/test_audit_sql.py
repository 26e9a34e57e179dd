"""The finance audits in sql/audit/*.sql, each run on small input tables against expected rows
(sqlmesh style: a check passes when it returns nothing). Expected values are worked by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D
from typing import Any

import duckdb
import msgspec
import pytest

from byokvault.engine.ledger.audit import prepare, render, run_audit
from byokvault.engine.ledger.record import BillingRecord, FundSource, LedgerEntry, reversal_of
from byokvault.engine.ledger.rows import GENESIS, canonical, chain_hash, row_of, to_arrow
from byokvault.engine.ledger.synthetic import make_record
from byokvault.engine.paths import sql_text

JAN, FEB = date(2026, 1, 1), date(2026, 2, 1)
IN_PRICE = "openai/gpt-x/input_tokens/2025-06-01"
OUT_PRICE = "openai/gpt-x/output_tokens/2025-06-01"


def _chain(records: list[BillingRecord]) -> list[dict[str, Any]]:
    """Rows as the writer would store them: seq 1.., record ids rec-1.., hash-chained."""
    rows, prev = [], GENESIS
    at = datetime(2026, 3, 1, tzinfo=UTC)
    for seq, record in enumerate(records, start=1):
        row = row_of(LedgerEntry(seq, f"rec-{seq}", at, record, prev, ""))
        row["row_hash"] = prev = chain_hash(prev, canonical(row))
        rows.append(row)
    return rows


def _entry(row: dict[str, Any]) -> LedgerEntry:
    from byokvault.engine.ledger.rows import entry_of

    return entry_of(row)


def finance_records() -> list[BillingRecord]:
    """a: two January charges (the first reversed); b: a BYOK January call, a February one."""
    r1 = make_record(1, tenant_id="a")
    r2 = make_record(2, tenant_id="a")
    rows = _chain([r1, r2])
    r3 = reversal_of(_entry(rows[0]), "undo-1", "customer dispute")
    r4 = make_record(3, tenant_id="b", occurred_at=datetime(2026, 2, 3, tzinfo=UTC))
    r5 = make_record(4, tenant_id="b", fund_source=FundSource.byok)
    return [r1, r2, r3, r4, r5]


def _con(rows: list[dict[str, Any]], quotes: list[tuple] = (), prices: list[tuple] | None = None):
    con = duckdb.connect()
    con.execute(sql_text("catalog/schema.sql"))
    for dimension in ("input_tokens", "output_tokens"):
        con.execute(
            "INSERT INTO units VALUES (?, 'tokens', 1000000, ?, [], '')", [dimension, dimension]
        )
    start = datetime(2025, 6, 1, tzinfo=UTC)
    default = [
        (IN_PRICE, "input_tokens", "2.5", start, None),
        (OUT_PRICE, "output_tokens", "10", start, None),
    ]
    for price_id, dimension, amount, since, until in prices if prices is not None else default:
        con.execute(
            "INSERT INTO prices (price_id, provider_id, model_id, dimension, amount, currency, "
            "effective_from, effective_to, service_tier, conditions_key, source, recorded_at) "
            "VALUES (?, 'openai', 'gpt-x', ?, ?, 'USD', ?, ?, 'standard', '', 'test', ?)",
            [price_id, dimension, D(amount), since, until, since],
        )
    con.register("ledger_input", to_arrow(rows))
    con.execute("CREATE TABLE ledger AS SELECT * FROM ledger_input")
    prepare(con, None)
    for quote in quotes:
        con.execute("INSERT INTO quotes VALUES (?, ?, ?, ?)", list(quote))
    return con


def _rows(con, name: str, width: int | None = None, **variables: Any) -> list[tuple]:
    result = run_audit(con, name, variables)
    return [row[:width] for row in result.rows]


# ---- reports ---------------------------------------------------------------------------


def test_receipts_filtered_by_tenant_and_month() -> None:
    con = _con(_chain(finance_records()))
    assert len(_rows(con, "receipts")) == 5
    rows = run_audit(con, "receipts", {"tenant": "b", "month": JAN})
    [row] = rows.rows
    got = dict(zip(rows.columns, row, strict=True))
    assert got["seq"] == 5 and got["fund_source"] == "byok" and got["credential_id"] == "cred-1"
    assert got["priced_lines"] == [
        f"input_tokens 104.000000 x 2.500000000/1000000 ({IN_PRICE})",
        f"output_tokens 14.000000 x 10.000000000/1000000 ({OUT_PRICE})",
    ]
    assert (got["raw_cost"], got["byok_fee"], got["billed_amount"]) == (
        D("0.0004"),
        D("0.0001"),
        D("0.0001"),
    )


def test_spend_by_tenant_month_class_provider() -> None:
    con = _con(_chain(finance_records()))
    assert _rows(con, "spend") == [
        ("a", JAN, "text", "openai", "USD", 2, 1, D("0.000375"), D("0.00045"), D("0.00045")),
        ("b", JAN, "text", "openai", "USD", 1, 0, D("0.0004"), D("0.0001"), D("0.0001")),
        ("b", FEB, "text", "openai", "USD", 1, 0, D("0.0003875"), D("0.000465"), D("0.000465")),
    ]
    assert len(_rows(con, "spend", tenant="a")) == 1


def test_margin_realized_per_class_on_platform_calls() -> None:
    con = _con(_chain(finance_records()))
    assert _rows(con, "margin") == [
        ("text", JAN, "USD", 3, D("0.000375"), D("0.00045"), D("0.000075"), D("20.00")),
        ("text", FEB, "USD", 1, D("0.0003875"), D("0.000465"), D("0.0000775"), D("20.00")),
    ]


def test_byok_vs_platform() -> None:
    con = _con(_chain(finance_records()))
    assert _rows(con, "byok_vs_platform") == [
        (JAN, "byok", "USD", 1, D("0.0004"), D("0.0001"), 25.0),
        (JAN, "platform", "USD", 3, D("0.000375"), D("0.00045"), 75.0),
        (FEB, "platform", "USD", 1, D("0.0003875"), D("0.000465"), 100.0),
    ]


def test_spend_per_credential() -> None:
    con = _con(_chain(finance_records()))
    assert _rows(con, "spend_by_credential", width=8) == [
        ("a", "platform", "platform-openai", "openai", "USD", 3, D("0.000375"), D("0.00045")),
        ("b", "byok", "cred-1", "openai", "USD", 1, D("0.0004"), D("0.0001")),
        ("b", "platform", "platform-openai", "openai", "USD", 1, D("0.0003875"), D("0.000465")),
    ]


# ---- checks (empty = clean) ------------------------------------------------------------


@pytest.mark.parametrize("name", ["duplicates", "chain_gaps", "reversals", "snapshot_consistency"])
def test_checks_pass_on_a_clean_ledger(name: str) -> None:
    quotes = [
        ("quote-2", "input_tokens", IN_PRICE, D("2.5")),
        ("quote-2", "output_tokens", OUT_PRICE, D("10")),
    ]
    assert _rows(_con(_chain(finance_records()), quotes), name) == []


def test_duplicates_find_reused_keys_and_double_charged_calls() -> None:
    records = finance_records()
    again_key = make_record(9, tenant_id="a", key="key-2")  # the key of r2, another call
    again_call = msgspec.structs.replace(records[3], idempotency_key="retry-of-call-3")
    rebilled = msgspec.structs.replace(records[0], idempotency_key="rebill-1")  # r1 was reversed
    con = _con(_chain([*records, again_key, again_call, rebilled]))
    assert _rows(con, "duplicates") == [
        ("call charged more than once", "b", "call-3", 2, [4, 7]),
        ("idempotency key used twice", "a", "key-2", 2, [2, 6]),
    ]


def test_chain_gaps_find_missing_and_unlinked_records() -> None:
    rows = _chain(finance_records())
    del rows[2]  # seq 3 gone
    rows[-1] = dict(rows[-1], prev_hash="f" * 64)  # seq 5 no longer links to seq 4
    assert _rows(_con(rows), "chain_gaps", width=3) == [
        (4, "rec-4", "records 3..3 missing"),
        (5, "rec-5", "prev_hash does not link to the previous record"),
    ]
    assert _rows(_con(_chain(finance_records())[1:]), "chain_gaps", width=3) == [
        (2, "rec-2", "records before seq 2 missing"),
    ]


def test_reversals_that_do_not_cancel() -> None:
    records = finance_records()
    base = _chain(records)
    twice = msgspec.structs.replace(records[2], idempotency_key="undo-again")
    orphan = msgspec.structs.replace(records[2], idempotency_key="undo-x", reverses="rec-404")
    pricing = records[2].pricing
    partial = msgspec.structs.replace(
        reversal_of(_entry(base[1]), "undo-2", "x"),
        pricing=msgspec.structs.replace(pricing, billed_amount=D("-0.0001")),
    )
    con = _con(_chain([*records, twice, orphan, partial]))
    assert _rows(con, "reversals") == [
        (3, "rec-3", "rec-1", "record reversed more than once"),
        (6, "rec-6", "rec-1", "record reversed more than once"),
        (7, "rec-7", "rec-404", "reverses a record not in the ledger"),
        (8, "rec-8", "rec-2", "amounts do not cancel the original"),
    ]


def test_snapshot_consistency_against_catalog_and_quotes() -> None:
    records = finance_records()
    unknown = make_record(5, tenant_id="c")
    lines = list(unknown.pricing.lines)
    lines[1] = msgspec.structs.replace(lines[1], price_id="openai/gpt-x/output_tokens/made-up")
    unknown = msgspec.structs.replace(
        unknown, pricing=msgspec.structs.replace(unknown.pricing, lines=tuple(lines))
    )
    start, change = datetime(2025, 6, 1, tzinfo=UTC), datetime(2026, 1, 15, tzinfo=UTC)
    prices = [  # input got cheaper on 15 January; February calls still used the old row
        (IN_PRICE, "input_tokens", "2.5", start, change),
        ("openai/gpt-x/input_tokens/2026-01-15", "input_tokens", "2", change, None),
        (OUT_PRICE, "output_tokens", "10", start, None),
    ]
    quotes = [
        ("quote-2", "input_tokens", IN_PRICE, D("2.4")),  # quoted one price, billed another
        ("quote-2", "output_tokens", OUT_PRICE, D("10")),
    ]
    con = _con(_chain([*records, unknown]), quotes, prices)
    assert _rows(con, "snapshot_consistency") == [
        (
            2,
            "rec-2",
            "input_tokens",
            IN_PRICE,
            D("2.5"),
            D("2.4"),
            "unit price differs from the quote",
        ),
        (
            4,
            "rec-4",
            "input_tokens",
            IN_PRICE,
            D("2.5"),
            D("2.5"),
            "price row was not in force at the call time",
        ),
        (
            6,
            "rec-6",
            "output_tokens",
            "openai/gpt-x/output_tokens/made-up",
            D("10"),
            None,
            "price row not in the catalog",
        ),
    ]


def test_render_formats_keep_money_exact() -> None:
    con = _con(_chain(finance_records()))
    result = run_audit(con, "margin")
    assert "0.0000775" in render(result, "table")
    assert render(result, "csv").splitlines()[2].startswith("text,2026-02-01,USD,1,0.0003875,")
    import json

    assert json.loads(render(result, "json"))[0]["margin"] == "0.000075"
