"""Well-formed synthetic BillingRecords for tests, the crash test and the benchmark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from .record import BillingRecord, FundSource, PricedLine, PricingSnapshot, Rounding, usage_of

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
PRICE_FROM = datetime(2025, 6, 1, tzinfo=UTC)
QUANTUM = Decimal("0.000001")


def make_record(
    i: int,
    *,
    tenant_id: str | None = None,
    key: str | None = None,
    input_tokens: int | None = None,
    fund_source: FundSource = FundSource.platform,
    occurred_at: datetime | None = None,
) -> BillingRecord:
    """Record number ``i``: a chat call priced on input and output tokens."""
    tokens_in = Decimal(input_tokens if input_tokens is not None else 100 + i % 5000)
    tokens_out = Decimal(10 + i % 700)
    lines = (
        _line("input_tokens", "openai/gpt-x/input_tokens/2025-06-01", "2.5", tokens_in),
        _line("output_tokens", "openai/gpt-x/output_tokens/2025-06-01", "10", tokens_out),
    )
    raw = sum((line.amount for line in lines), Decimal(0))
    margin = Decimal("1.2") if fund_source is FundSource.platform else None
    fee = Decimal("0.0001") if fund_source is FundSource.byok else None
    billed = raw * margin if margin is not None else (fee or Decimal(0))
    return BillingRecord(
        tenant_id=tenant_id or f"tenant-{i % 7}",
        call_id=f"call-{i}",
        idempotency_key=key or f"key-{i}",
        occurred_at=occurred_at or EPOCH + timedelta(seconds=i),
        provider_id="openai",
        model_id="gpt-x",
        capability_class="text",
        tier="standard",
        fund_source=fund_source,
        usage=usage_of({"input_tokens": tokens_in, "output_tokens": tokens_out}),
        pricing=PricingSnapshot(
            lines=lines,
            raw_cost=raw,
            billed_amount=billed,
            rounding=Rounding(billed.quantize(QUANTUM), "half_even", QUANTUM),
            currency="USD",
            catalog_version="cat-1",
            rules_version="rules-1",
            margin_factor=margin,
            byok_fee=fee,
        ),
        credential_id="cred-1" if fund_source is FundSource.byok else "platform-openai",
        credential_resolution_id=f"res-{i}",
        quote_id=f"quote-{i}",
    )


def _line(dimension: str, price_id: str, unit: str, quantity: Decimal) -> PricedLine:
    unit_price = Decimal(unit)
    per = 1_000_000
    return PricedLine(
        dimension=dimension,
        price_id=price_id,
        unit_price=unit_price,
        per=per,
        quantity=quantity,
        amount=quantity * unit_price / per,
        effective_from=PRICE_FROM,
    )
