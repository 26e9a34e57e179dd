"""The ledger writer: durable numbered appends, idempotency, reversals, running totals."""

from __future__ import annotations

import itertools
import threading
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from byokvault.engine.ledger import (
    IdempotencyConflict,
    Kind,
    Ledger,
    RecordError,
    ReversalError,
)
from byokvault.engine.ledger.rows import (
    GENESIS,
    canonical,
    chain_hash,
    entry_of,
    row_of,
    rows_of,
)
from byokvault.engine.ledger.store import DuckDBStore, DuplicateKeys, StoreFailed
from byokvault.engine.ledger.synthetic import make_record
from byokvault.engine.ledger.verify import verify_rows


@pytest.fixture()
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.duckdb"


def test_appends_are_numbered_and_chained(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        entries = [ledger.append(make_record(i)) for i in range(5)]
        assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
        assert entries[0].prev_hash == GENESIS
        for before, after in itertools.pairwise(entries):
            assert after.prev_hash == before.row_hash
        for entry in entries:
            assert entry.row_hash == chain_hash(entry.prev_hash, canonical(row_of(entry)))
        check = verify_rows(ledger.store.scan(canonical=True))
        assert check.ok and check.records == 5 and check.head == entries[-1].row_hash


def test_canonical_form_from_sql_equals_python(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        entry = ledger.append(make_record(3))
        [row] = [r for batch in ledger.store.scan(canonical=True) for r in rows_of(batch)]
        assert canonical(row) == canonical(row_of(entry))
        [stored] = [r for batch in ledger.store.scan() for r in rows_of(batch)]
        assert entry_of(stored) == entry


def test_same_key_same_payload_returns_the_original(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        first = ledger.append(make_record(1))
        again = ledger.append(make_record(1))
        assert again == first
        assert ledger.head()[0] == 1
        assert ledger.find(first.record_id) == first
        assert ledger.find_key("tenant-1", "key-1") == first
        assert ledger.find("rec_nope") is None and ledger.find_key("tenant-1", "nope") is None


def test_same_key_other_payload_is_a_conflict_naming_fields(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        original = ledger.append(make_record(1))
        changed = make_record(1, input_tokens=999)
        with pytest.raises(IdempotencyConflict) as err:
            ledger.append(changed)
        assert err.value.original == original
        assert set(err.value.fields) == {
            "usage",
            "pricing.lines",
            "pricing.raw_cost",
            "pricing.billed_amount",
            "pricing.rounding.amount",
        }
        assert "pricing.raw_cost" in str(err.value)
        assert ledger.head()[0] == 1


def test_idempotency_survives_a_restart(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        first = ledger.append(make_record(1))
        ledger.append(make_record(2))
    with Ledger(ledger_path, recent_keys=0) as ledger:  # nothing cached: answered from the file
        assert ledger.head() == (2, ledger.head()[1])
        assert ledger.append(make_record(1)) == first
        with pytest.raises(IdempotencyConflict) as err:
            ledger.append(msgspec.structs.replace(make_record(1), model_id="other"))
        assert err.value.fields == ["model_id"]
        third = ledger.append(make_record(3))
        assert third.seq == 3
    with Ledger(ledger_path) as ledger:
        assert verify_rows(ledger.store.scan(canonical=True)).records == 3


def test_duplicates_within_one_batch_resolve_to_one_record(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        futures = [ledger.submit(make_record(i % 3)) for i in range(30)]
        entries = [f.result() for f in futures]
        assert {e.seq for e in entries} == {1, 2, 3}
        assert all(e == entries[i % 3] for i, e in enumerate(entries))


def test_running_totals_are_current_on_acknowledgement(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        records = [make_record(i, tenant_id="acme") for i in range(4)]
        billed = Decimal(0)
        for record in records:
            ledger.append(record)
            billed += record.pricing.billed_amount
            [usage] = ledger.usage("acme")
            assert usage.billed_amount == billed
        assert usage.records == 4
        assert usage.raw_cost == sum(r.pricing.raw_cost for r in records)
        assert ledger.usage("nobody") == []
    with Ledger(ledger_path) as ledger:  # rebuilt from the file on open
        assert ledger.usage("acme") == [usage]


def test_a_reversal_negates_and_references_the_original(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        original = ledger.append(make_record(1, tenant_id="acme"))
        reversal = ledger.reverse(original.record_id, "undo-1", "duplicate call").result()
        assert reversal.record.kind is Kind.reversal
        assert reversal.record.reverses == original.record_id
        assert reversal.record.pricing.billed_amount == -original.record.pricing.billed_amount
        assert reversal.record.occurred_at == original.record.occurred_at
        [usage] = ledger.usage("acme")
        assert usage.billed_amount == 0 and usage.records == 2
        # the same reversal again is a retry, another one is refused
        assert ledger.reverse(original.record_id, "undo-1", "duplicate call").result() == reversal
        with pytest.raises(ReversalError, match="already reversed"):
            ledger.reverse(original.record_id, "undo-2", "again").result()
        with pytest.raises(ReversalError, match="only a charge"):
            ledger.reverse(reversal.record_id, "undo-3", "x").result()
        with pytest.raises(ReversalError, match="no record"):
            ledger.reverse("rec_missing", "undo-4", "x").result()
        assert verify_rows(ledger.store.scan(canonical=True)).records == 2


def test_no_rewrite_path_exists() -> None:
    public = {name for name in dir(Ledger) if not name.startswith("_")}
    assert not public & {"update", "delete", "edit", "remove", "replace"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: msgspec.structs.replace(r, occurred_at=datetime(2026, 1, 1)), "occurred_at"),
        (
            lambda r: msgspec.structs.replace(
                r, pricing=msgspec.structs.replace(r.pricing, raw_cost=0.5)
            ),
            "pricing.raw_cost",
        ),
        (
            lambda r: msgspec.structs.replace(
                r, pricing=msgspec.structs.replace(r.pricing, raw_cost=Decimal("1"))
            ),
            "pricing.raw_cost",
        ),
        (lambda r: msgspec.structs.replace(r, usage=r.usage[:1]), "usage.output_tokens"),
        (
            lambda r: msgspec.structs.replace(
                r, pricing=msgspec.structs.replace(r.pricing, lines=())
            ),
            "pricing.lines",
        ),
        (lambda r: msgspec.structs.replace(r, tenant_id=""), "tenant_id"),
        (
            lambda r: msgspec.structs.replace(
                r, pricing=msgspec.structs.replace(r.pricing, margin_factor=None)
            ),
            "pricing.margin_factor",
        ),
        (
            lambda r: msgspec.structs.replace(
                r,
                pricing=msgspec.structs.replace(
                    r.pricing,
                    rounding=msgspec.structs.replace(r.pricing.rounding, amount=Decimal("5")),
                ),
            ),
            "pricing.rounding.amount",
        ),
    ],
)
def test_bad_records_are_refused_naming_the_field(
    ledger_path: Path, change: object, field: str
) -> None:
    with Ledger(ledger_path) as ledger:
        with pytest.raises(RecordError) as err:
            ledger.submit(change(make_record(1)))  # type: ignore[operator]
        assert field in [f for f, _ in err.value.problems]
        assert ledger.head()[0] == 0


def test_eight_submitters_thousand_requests_hundred_keys(ledger_path: Path) -> None:
    results: list[list] = [[] for _ in range(8)]

    def submit(worker: int) -> None:
        for n in range(125):
            i = (worker * 125 + n) % 100
            results[worker].append(ledger.submit(make_record(i)))

    with Ledger(ledger_path) as ledger:
        threads = [threading.Thread(target=submit, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        entries = [f.result() for futures in results for f in futures]
        assert len(entries) == 1000
        by_key: dict[str, set[int]] = {}
        for entry in entries:
            by_key.setdefault(entry.record.idempotency_key, set()).add(entry.seq)
        assert len(by_key) == 100 and all(len(s) == 1 for s in by_key.values())
        assert ledger.head()[0] == 100
        check = verify_rows(ledger.store.scan(canonical=True))
        assert check.ok and check.records == 100


def test_cli_verify_reports_ok_and_the_first_broken_record(
    ledger_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from byokvault.engine.cli import main

    with Ledger(ledger_path) as ledger:
        for i in range(3):
            ledger.append(make_record(i))
    assert main(["ledger", "verify", "--ledger", str(ledger_path)]) == 0
    assert "ok: 3 records" in capsys.readouterr().out
    import duckdb

    con = duckdb.connect(str(ledger_path))
    con.execute("UPDATE ledger SET model_id = 'cheaper' WHERE seq = 2")
    con.close()
    assert main(["ledger", "verify", "--ledger", str(ledger_path)]) == 1
    out = capsys.readouterr().out
    assert "BROKEN: record seq 2" in out and "altered" in out


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.5, "must be a Decimal, not float"),
        (Decimal("NaN"), "finite"),
        (Decimal("sNaN"), "finite"),
        (Decimal("1e-25"), "decimal places"),
        (Decimal("1e14"), "too large"),
    ],
)
def test_money_that_cannot_be_stored_exactly_is_refused(
    ledger_path: Path, value: object, message: str
) -> None:
    good = make_record(1)
    # a value seen before as valid must not make an equal float or NaN pass
    with Ledger(ledger_path) as ledger:
        ledger.append(good)
        bad = msgspec.structs.replace(
            good, pricing=msgspec.structs.replace(good.pricing, margin_factor=value)
        )
        with pytest.raises(RecordError) as err:
            ledger.submit(bad)
        assert ("pricing.margin_factor", err.value.problems[0][1]) == err.value.problems[0]
        assert message in err.value.problems[0][1]


def test_close_drains_the_queue_then_refuses(ledger_path: Path) -> None:
    ledger = Ledger(ledger_path)
    futures = [ledger.submit(make_record(i)) for i in range(200)]
    ledger.close()
    assert [f.result(timeout=0).seq for f in futures] == list(range(1, 201))
    with pytest.raises(RuntimeError, match="closed"):
        ledger.submit(make_record(500))
    ledger.close()  # idempotent


def test_the_unique_constraint_backs_up_the_key_index(ledger_path: Path) -> None:
    """The in-memory key index is what keeps a retried key from being acknowledged twice (it is
    checked before the journal). Were it ever to miss a stored key, the table's unique
    constraint still refuses the second copy: it is never stored, and the store fails closed
    (no further appends or reads; it will not reopen over the duplicate) instead of billing
    twice quietly."""
    with Ledger(ledger_path) as ledger:
        original = ledger.append(make_record(1))
        assert ledger.append(make_record(1)) == original  # the index answers a retry
        ledger._index.clear()  # simulate an index that lost track of the key
        ledger._recent.clear()
        ledger.append(make_record(1))  # journaled: the table refuses it right after
        with pytest.raises(StoreFailed, match="reopen"):
            ledger.store.find_record(original.record_id)
        with pytest.raises(StoreFailed):
            ledger.append(make_record(2))
    with pytest.raises(DuplicateKeys):
        DuckDBStore(ledger_path)


def test_submit_many_answers_every_record_under_one_future(ledger_path: Path) -> None:
    """One Future for the lot, one outcome per record in order: new entries, the original for
    a retried key (earlier or in the same call), a conflict for a key reused with another
    payload; a refused record keeps the whole call out of the queue."""
    with Ledger(ledger_path) as ledger:
        first = ledger.append(make_record(0))
        changed = msgspec.structs.replace(make_record(1), tier="priority")
        batch = [make_record(1), make_record(0), make_record(2), changed, make_record(1)]
        outcomes = ledger.submit_many(batch).result(5)
        assert [type(o).__name__ for o in outcomes] == [
            "LedgerEntry",
            "LedgerEntry",
            "LedgerEntry",
            "IdempotencyConflict",
            "LedgerEntry",
        ]
        assert outcomes[1] == first and outcomes[4] == outcomes[0]
        assert [outcomes[0].seq, outcomes[2].seq] == [2, 3]
        assert outcomes[3].fields == ["tier"] and outcomes[3].original == outcomes[0]
        bad = msgspec.structs.replace(make_record(9), tenant_id="")
        with pytest.raises(RecordError):
            ledger.submit_many([make_record(8), bad])
        assert ledger.submit_many([]).result(5) == []
        assert ledger.append(make_record(7)).seq == 4  # record 8 was never queued
        check = verify_rows(ledger.store.scan(canonical=True))
        assert check.ok and check.records == 4


def test_the_table_is_checkpointed_every_256mb_of_wal(ledger_path: Path) -> None:
    """Not every 16 MB (DuckDB's default): a checkpoint's cost grows with the table."""
    store = DuckDBStore(ledger_path)
    try:
        setting = store._con.execute("SELECT current_setting('checkpoint_threshold')")
        assert setting.fetchone() == ("244.1 MiB",)  # 256 MB
    finally:
        store.close()
