"""The validator's fast path never accepts what the full checks refuse, and the write path's
batch encoder stores and hashes exactly what the reference row form (rows.py) gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Context, Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from byokvault.engine.ledger import FundSource, Kind, LedgerEntry, Usage
from byokvault.engine.ledger.batch import chain_batch, new_record_id, prepare
from byokvault.engine.ledger.record import reversal_of
from byokvault.engine.ledger.rows import GENESIS, canonical, chain_hash, row_of, to_arrow
from byokvault.engine.ledger.synthetic import make_record
from byokvault.engine.ledger.validate import _clean, problems_of

ODD_MONEY = [
    Decimal(0),
    Decimal("-0"),
    Decimal("1e-24"),
    Decimal("1e-25"),
    Decimal("1.000000000000000000000000000"),
    Decimal("1e13"),
    Decimal("1e14"),
    Decimal("NaN"),
    Decimal("Infinity"),
    0.5,
    1,
    None,
]
MONEY = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-10, max_value=10),
    st.sampled_from(ODD_MONEY),
)
ODD_TEXT = ["", "x" * 256, "x" * 257, "a\nb", None, 7]
TEXT = st.one_of(st.text(max_size=4), st.sampled_from(ODD_TEXT))
STAMPS = [
    datetime(2026, 1, 1, tzinfo=UTC),
    datetime(2026, 1, 1),
    datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2))),
    "2026-01-01",
]
STAMP = st.sampled_from(STAMPS)
PERS = [0, -1, 1, True, 1.5, 10**6]
FUNDS = [*FundSource, "byok", None]
KINDS = [*Kind, "charge"]


def _set(record: Any, path: str, value: Any) -> Any:
    """``record`` with the field at dotted ``path`` (tuple items by index) replaced."""
    head, _, rest = path.partition(".")
    if isinstance(record, tuple):
        i = int(head)
        return (*record[:i], _set(record[i], rest, value) if rest else value, *record[i + 1 :])
    current = getattr(record, head)
    return msgspec.structs.replace(record, **{head: _set(current, rest, value) if rest else value})


def _reprice(record: Any, unit_price: Decimal) -> Any:
    """``record`` with line 0 at ``unit_price`` and every amount after it made consistent."""
    pricing = record.pricing
    first = pricing.lines[0]
    first = msgspec.structs.replace(
        first, unit_price=unit_price, amount=first.quantity * unit_price / first.per
    )
    lines = (first, *pricing.lines[1:])
    raw = sum((line.amount for line in lines), Decimal(0))
    billed = raw * pricing.margin_factor if pricing.margin_factor is not None else raw
    rounding = msgspec.structs.replace(
        pricing.rounding, amount=billed.quantize(pricing.rounding.quantum)
    )
    pricing = msgspec.structs.replace(
        pricing, lines=lines, raw_cost=raw, billed_amount=billed, rounding=rounding
    )
    return msgspec.structs.replace(record, pricing=pricing)


def _negated(record: Any) -> Any:
    """Every amount negated, yet posing as a charge."""
    entry = LedgerEntry(1, "rec_x", datetime(2026, 1, 1, tzinfo=UTC), record, GENESIS, "")
    return msgspec.structs.replace(
        reversal_of(entry, "k", "r"), kind=Kind.charge, reverses=None, reason=None
    )


def _apply(record: Any, path: str, value: Any) -> Any:
    try:
        if path == "reprice":
            return _reprice(record, value)
        return _negated(record) if path == "negate" else _set(record, path, value)
    except (ArithmeticError, AttributeError, TypeError, IndexError):
        return record  # an earlier mutation left nothing to recompute from or to replace


MONEY_PATHS = [
    "pricing.raw_cost",
    "pricing.billed_amount",
    "pricing.margin_factor",
    "pricing.byok_fee",
    "pricing.rounding.amount",
    "pricing.rounding.quantum",
    "pricing.lines.0.unit_price",
    "pricing.lines.0.quantity",
    "pricing.lines.1.amount",
    "usage.0.quantity",
    "usage.1.quantity",
]
TEXT_PATHS = [
    "tenant_id",
    "idempotency_key",
    "tier",
    "credential_id",
    "quote_id",
    "reason",
    "reverses",
    "pricing.currency",
    "pricing.rounding.mode",
    "pricing.lines.0.price_id",
    "pricing.lines.1.dimension",
    "usage.0.dimension",
]
USAGES = [
    (),
    (Usage("input_tokens", Decimal(100)),),
    (Usage("input_tokens", Decimal(100)), Usage("input_tokens", Decimal(100))),
    (
        Usage("input_tokens", Decimal(100)),
        Usage("output_tokens", Decimal(10)),
        Usage("image", Decimal(0)),
    ),
]
# One branch per field, so each is mutated about as often as any other.
MUTATIONS = st.one_of(
    st.tuples(st.just("reprice"), st.decimals(places=2, min_value=-5, max_value=5)),
    st.tuples(st.just("negate"), st.none()),
    *(st.tuples(st.just(path), MONEY) for path in MONEY_PATHS),
    *(st.tuples(st.just(path), TEXT) for path in TEXT_PATHS),
    st.tuples(st.just("occurred_at"), STAMP),
    st.tuples(st.just("pricing.lines.0.effective_from"), STAMP),
    st.tuples(st.just("pricing.lines.1.per"), st.sampled_from(PERS)),
    st.tuples(st.just("fund_source"), st.sampled_from(FUNDS)),
    st.tuples(st.just("kind"), st.sampled_from(KINDS)),
    st.tuples(st.just("usage"), st.sampled_from(USAGES)),
)


def _single_changes() -> list[tuple[str, Any]]:
    changes = [(path, value) for path in MONEY_PATHS for value in ODD_MONEY]
    changes += [(path, value) for path in TEXT_PATHS for value in ODD_TEXT]
    changes += [
        (path, value)
        for path in ("occurred_at", "pricing.lines.0.effective_from")
        for value in STAMPS
    ]
    changes += [("pricing.lines.1.per", v) for v in PERS] + [("fund_source", v) for v in FUNDS]
    changes += [("kind", v) for v in KINDS] + [("usage", v) for v in USAGES]
    return [*changes, ("negate", None), ("reprice", Decimal("-1")), ("reprice", Decimal(3))]


@pytest.mark.parametrize("fund", list(FundSource))
@pytest.mark.parametrize("tokens", [0, 100])
def test_the_fast_path_refuses_every_single_bad_change(fund: FundSource, tokens: int) -> None:
    for path, value in _single_changes():
        record = _apply(make_record(1, fund_source=fund, input_tokens=tokens), path, value)
        try:
            fast = _clean(record)
        except (ArithmeticError, AttributeError, TypeError):
            continue
        assert not fast or problems_of(record) == [], (path, value)


@settings(max_examples=300, deadline=None)
@given(
    i=st.integers(0, 10_000),
    fund=st.sampled_from(list(FundSource)),
    tokens=st.sampled_from([0, 100, 101]),
    mutations=st.lists(MUTATIONS, min_size=1, max_size=3),
)
def test_the_fast_path_never_accepts_what_the_full_checks_refuse(
    i: int, fund: FundSource, tokens: int, mutations: list[tuple[str, Any]]
) -> None:
    record = make_record(i, fund_source=fund, input_tokens=tokens)
    assert _clean(record) and problems_of(record) == []  # the common case takes the fast path
    for path, value in mutations:
        record = _apply(record, path, value)
    try:
        fast = _clean(record)
    except (ArithmeticError, AttributeError, TypeError):
        fast = False  # it would then raise from the full checks as well, or refuse
    if fast:
        assert problems_of(record) == [], mutations


@pytest.mark.parametrize("count", [1, 7, 300])
def test_the_batch_encoder_matches_the_reference_rows(count: int) -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    records = []
    for i in range(count):
        record = make_record(i, fund_source=list(FundSource)[i % 3])
        if i % 4 == 1:  # reversals: negative amounts, reverses and reason set
            original = LedgerEntry(1, "rec_x", now, record, GENESIS, "")
            record = reversal_of(original, f"undo-{i}", "refund")
        records.append(record)
    entries, chained = chain_batch([prepare(r) for r in records], 41, "f" * 64, now)
    table = chained.table()
    rows, prev = [], "f" * 64
    for seq, (record, entry) in enumerate(zip(records, entries, strict=True), start=42):
        assert (entry.seq, entry.record, entry.prev_hash, entry.recorded_at) == (
            seq,
            record,
            prev,
            now,
        )
        row = row_of(entry)
        assert entry.row_hash == chain_hash(prev, canonical(row))
        prev = entry.row_hash
        rows.append(row)
    assert table.equals(to_arrow(rows))
    assert len({e.record_id for e in entries}) == count


def test_a_tiny_rounding_quantum_is_checked_not_crashed_on() -> None:
    """amount % quantum overflows the default 28-digit context (1e7 / 1e-24 has 31 digits):
    the check must still answer, for a record that is fine and for one that is not."""
    record = make_record(1, input_tokens=4_000_000_000)  # billed ≈ 12,000: a large amount
    tiny = Decimal("1e-24")
    billed = record.pricing.billed_amount
    fine = _set(_set(record, "pricing.rounding.quantum", tiny), "pricing.rounding.amount", billed)
    assert problems_of(fine) == []
    three = Decimal("3e-24")
    wide = Context(prec=80)
    off = next(  # within a quantum of billed, but not a multiple of it
        a for a in (billed, wide.add(billed, tiny)) if wide.remainder(a, three) != 0
    )
    off = _set(_set(fine, "pricing.rounding.quantum", three), "pricing.rounding.amount", off)
    assert ("pricing.rounding.amount", "must be a multiple of the quantum") in problems_of(off)
    assert not _clean(off)


def test_record_ids_are_unique_across_threads_and_a_fork() -> None:
    import multiprocessing
    import threading

    ids: list[str] = []
    threads = [threading.Thread(target=lambda: ids.extend(new_record_id() for _ in range(700)))]
    threads += [threading.Thread(target=lambda: ids.extend(new_record_id() for _ in range(700)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids.append(new_record_id())  # this thread's batch of ids is now started
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child = pool.apply(new_record_id)
    ids += [child, new_record_id()]
    assert len(set(ids)) == len(ids) == 1403
    assert all(len(i) == 36 and i.startswith("rec_") for i in ids)
