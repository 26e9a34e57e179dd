"""The canonical bytes (what every row hash covers) are a stored format: ledgers and journals
written by earlier versions must still verify. These records' bytes are pinned (sha256 of the
canonical body, computed by the encoder that wrote the first ledgers), and the write path's
encoder is checked against the reference row form (rows.py ``canonical``) for generated
records, odd text and money included."""

from __future__ import annotations

import hashlib
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from byokvault.engine.ledger import (
    BillingRecord,
    FundSource,
    Kind,
    LedgerEntry,
    PricedLine,
    PricingSnapshot,
    Rounding,
    Usage,
)
from byokvault.engine.ledger.batch import _one_pass, _reference_parts, chain_batch, prepare
from byokvault.engine.ledger.record import reversal_of
from byokvault.engine.ledger.rows import GENESIS, canonical, chain_hash, row_of, to_arrow
from byokvault.engine.ledger.validate import _money_texts, money_values, validate

AT = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
PRICE_FROM = datetime(2025, 6, 1, tzinfo=UTC)


def golden_record(**changes: object) -> BillingRecord:
    """A platform call on two dimensions, written out field by field (no generator)."""
    lines = (
        PricedLine(
            "input_tokens",
            "openai/gpt-x/input_tokens/2025-06-01",
            Decimal("2.5"),
            1_000_000,
            Decimal(1234),
            Decimal("0.003085"),
            PRICE_FROM,
        ),
        PricedLine(
            "output_tokens",
            "openai/gpt-x/output_tokens/2025-06-01",
            Decimal(10),
            1_000_000,
            Decimal(56),
            Decimal("0.00056"),
            PRICE_FROM,
        ),
    )
    record = BillingRecord(
        tenant_id="acme",
        call_id="call-1",
        idempotency_key="key-1",
        occurred_at=datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC),
        provider_id="openai",
        model_id="gpt-x",
        capability_class="text",
        tier="standard",
        fund_source=FundSource.platform,
        usage=(Usage("input_tokens", Decimal(1234)), Usage("output_tokens", Decimal(56))),
        pricing=PricingSnapshot(
            lines=lines,
            raw_cost=Decimal("0.003645"),
            billed_amount=Decimal("0.004374"),
            rounding=Rounding(Decimal("0.004374"), "half_even", Decimal("0.000001")),
            currency="USD",
            catalog_version="cat-1",
            rules_version="rules-1",
            margin_factor=Decimal("1.2"),
        ),
        credential_id="platform-openai",
        credential_resolution_id="res-1",
        quote_id="quote-1",
    )
    return msgspec.structs.replace(record, **changes)


def golden_entries() -> list[LedgerEntry]:
    plain = golden_record()
    odd = golden_record(
        tenant_id='ten"ant\\ü ✓',
        idempotency_key="k/é\u00a0x",
        fund_source=FundSource.byok,
        occurred_at=datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))),
        credential_id=None,
        quote_id=None,
        pricing=msgspec.structs.replace(
            plain.pricing, margin_factor=None, byok_fee=Decimal("1E-24"), billed_amount=Decimal(0)
        ),
    )
    first = LedgerEntry(41, "rec_" + "ab" * 16, AT, plain, GENESIS, "")
    reversal = reversal_of(first, "undo-1", "refund: wrong model")
    return [
        first,
        LedgerEntry(42, "rec_" + "cd" * 16, AT, odd, GENESIS, ""),
        LedgerEntry(43, "rec_" + "ef" * 16, AT + timedelta(microseconds=1), reversal, GENESIS, ""),
    ]


# sha256 of each golden entry's canonical body, as the first ledgers wrote it.
GOLDEN = [
    "6f8ff6555f7bf5038e914d654f2cc28a2db7b38bf088b37e8ebc095066e0aee1",
    "2b608ac397ca50d3839db706ed384905df29223d1460eaba8bf904a567e7af11",
    "45cddb83be38e8c5f054fbe7805149f92e5508b91b1ec433c2ccf07f4f5571ba",
]


@pytest.mark.parametrize("n", range(3))
def test_the_reference_canonical_bytes_are_pinned(n: int) -> None:
    body = canonical(row_of(golden_entries()[n]))
    assert hashlib.sha256(body).hexdigest() == GOLDEN[n]


def test_the_write_path_writes_the_pinned_bytes() -> None:
    """Batch by batch, as the writer numbers and chains them: the same bodies and hashes."""
    entries = golden_entries()
    head = "f" * 64
    for entry, golden in zip(entries, GOLDEN, strict=True):
        chained, rows = chain_batch(
            [prepare(entry.record, entry.record_id)], entry.seq - 1, head, entry.recorded_at
        )
        [body] = rows.bodies
        assert hashlib.sha256(body).hexdigest() == golden
        assert chained[0].row_hash == chain_hash(head, body)
        head = chained[0].row_hash


def test_printable_text_without_quote_or_backslash_is_encoded_as_is() -> None:
    """What the one-pass encoder relies on, checked for every code point."""
    odd = [
        c
        for c in map(chr, range(sys.maxunicode + 1))
        if c.isprintable() and c not in '"\\' and msgspec.json.encode(c) != f'"{c}"'.encode()
    ]
    assert odd == []


def test_a_plain_record_takes_the_one_pass_encoder() -> None:
    record = golden_record()
    money = validate(record)
    assert money is not None and money[:4] == [
        "0.004374000000000000000000",
        "0.003645000000000000000000",
        "0.004374000000000000000000",
        "0.000001000000000000000000",
    ]
    assert _one_pass(record, "rec_x", money) == _reference_parts(record, "rec_x")
    assert validate(golden_record(tier='a"b')) is None  # valid, but for the reference encoder


ODD_MONEY = [Decimal(0), Decimal("-0"), Decimal("1E-24"), Decimal("-1E-7"), Decimal("1E+3")]
ODD_MONEY += [Decimal("0.000001"), Decimal("1.000000000000000000000000000"), Decimal("5E-7")]
ANY_TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=6)
PLAIN_TEXT = st.text(st.sampled_from("az09-_/.: é✓\u00e9"), min_size=1, max_size=6)
MONEY = st.one_of(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=24, min_value=-(10**13), max_value=10**13
    ),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-5, max_value=5),
    st.sampled_from(ODD_MONEY),
)
STAMP = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.timezones()
)


@st.composite
def records(draw: st.DrawFn) -> tuple[BillingRecord, bool]:
    """Well-typed records of any shape: texts with quotes, escapes and any code point; money of
    any sign and scale that DECIMAL(38, 24) holds; times in any zone; optional fields unset."""
    # mostly plain text (the one-pass encoder's case), else any text at all (the reference's)
    plain = draw(st.sampled_from([True, True, True, False]))
    text = PLAIN_TEXT if plain else ANY_TEXT
    maybe = st.none() | text
    lines = tuple(
        PricedLine(
            draw(text),
            draw(text),
            draw(MONEY),
            draw(st.integers(1, 10**9)),
            draw(MONEY),
            draw(MONEY),
            draw(STAMP),
        )
        for _ in range(draw(st.integers(0, 3)))
    )
    usage = tuple(Usage(draw(text), draw(MONEY)) for _ in range(draw(st.integers(0, 3))))
    pricing = PricingSnapshot(
        lines=lines,
        raw_cost=draw(MONEY),
        billed_amount=draw(MONEY),
        rounding=Rounding(draw(MONEY), draw(text), draw(MONEY)),
        currency=draw(text),
        catalog_version=draw(text),
        rules_version=draw(text),
        margin_factor=draw(st.none() | MONEY),
        byok_fee=draw(st.none() | MONEY),
    )
    record = BillingRecord(
        tenant_id=draw(text),
        call_id=draw(text),
        idempotency_key=draw(text),
        occurred_at=draw(STAMP),
        provider_id=draw(text),
        model_id=draw(text),
        capability_class=draw(text),
        tier=draw(text),
        fund_source=draw(st.sampled_from(list(FundSource))),
        usage=usage,
        pricing=pricing,
        credential_id=draw(maybe),
        credential_resolution_id=draw(maybe),
        quote_id=draw(maybe),
        kind=draw(st.sampled_from(list(Kind))),
        reverses=draw(maybe),
        reason=draw(maybe),
    )
    return record, plain


@settings(max_examples=300, deadline=None)
@given(drawn=records(), seq=st.integers(1, 2**62), at=STAMP, record_id=PLAIN_TEXT)
def test_the_write_path_encodes_what_the_reference_encodes(
    drawn: tuple[BillingRecord, bool], seq: int, at: datetime, record_id: str
) -> None:
    """Both encoders against the reference row form; the one-pass encoder wherever its
    preconditions hold (plain text, money that fits, as validate's fast path ensures)."""
    record, plain = drawn
    money = _money_texts(money_values(record)) if plain else None
    [entry], rows = chain_batch([prepare(record, record_id, money)], seq - 1, GENESIS, at)
    assert (entry.seq, entry.record_id, entry.recorded_at, entry.record) == (
        seq,
        record_id,
        at,
        record,
    )
    [body] = rows.bodies
    assert body == canonical(row_of(entry))
    assert entry.row_hash == chain_hash(GENESIS, body)
    assert rows.table().equals(to_arrow([row_of(entry)]))  # the stored row, parsed from body
