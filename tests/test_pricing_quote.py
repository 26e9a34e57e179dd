from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_pricing_support import ACME, acme_index, build_index, row

from byokvault.engine.pricing.cost import PricingContext, UnpricedError, price_usage
from byokvault.engine.pricing.quote import (
    DuckDBQuoteStore,
    InMemoryQuoteStore,
    QuoteNotFound,
    Quoter,
)
from byokvault.engine.pricing.rules import load_rules
from byokvault.engine.pricing.usage import Usage

__all__ = ["acme_index"]

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture()
def rules():
    return load_rules()


def test_quote_carries_versions_lines_and_marked_amounts(acme_index, rules) -> None:
    quoter = Quoter(acme_index, rules, clock=Clock(NOW))
    usage = Usage(input_tokens=10_000, cache_read_tokens=2000, output_tokens=500)
    q = quoter.quote("acme", "chat", usage, fund_source="platform")
    assert q.id.startswith("q_") and q.expires_at == NOW + timedelta(minutes=15)
    assert q.catalog_version == acme_index.catalog_version and q.rules_version == rules.version
    assert q.priced.raw_total == price_usage(acme_index, "acme", "chat", usage, NOW).total
    factor = rules.margin_for("text")
    assert all(line.marked_amount == line.raw_amount * factor for line in q.priced.lines)
    assert q.priced.billed.billed_amount == q.priced.raw_total * factor
    assert q.priced.billed.margin_factor == factor


def test_settle_same_usage_same_total_and_quoted_prices_survive_a_catalog_change(
    tmp_path: Path, rules
) -> None:
    index_v1, _ = build_index(tmp_path / "v1" / "catalog", {"acme": ACME})
    clock = Clock(NOW)
    store = InMemoryQuoteStore()
    usage = Usage(input_tokens=5000, output_tokens=800)
    q = Quoter(index_v1, rules, store, clock=clock).quote("acme", "chat", usage, fund_source="byok")
    # the catalog changes: a new, higher input price from a minute after the quote
    bumped = ACME.replace(
        row("input_tokens", "0.80", "2025-06-01T00:00:00Z"),
        row("input_tokens", "0.80", "2025-06-01T00:00:00Z")
        + row("input_tokens", "9.00", "2025-03-01T12:01:00Z"),
    )
    index_v2, _ = build_index(tmp_path / "v2" / "catalog", {"acme": bumped})
    assert index_v2.catalog_version != index_v1.catalog_version
    quoter_v2 = Quoter(index_v2, rules, store, clock=clock)
    clock.now = NOW + timedelta(minutes=5)
    s = quoter_v2.settle(q.id, usage, clock.now)
    assert s.quote_honored and s.priced.raw_total == q.priced.raw_total
    assert s.priced.billed == q.priced.billed
    assert s.priced.catalog_version == index_v1.catalog_version
    # once expired, the live catalog prices the call at its own timestamp
    clock.now = NOW + timedelta(minutes=20)
    late = quoter_v2.settle(q.id, usage, clock.now)
    assert not late.quote_honored and late.priced.raw_total > q.priced.raw_total
    assert late.priced.catalog_version == index_v2.catalog_version


def test_settlement_prices_actual_usage_with_quoted_rows(acme_index, rules) -> None:
    clock = Clock(NOW)
    quoter = Quoter(acme_index, rules, clock=clock)
    q = quoter.quote(
        "acme", "chat", Usage(input_tokens=100, output_tokens=100), fund_source="platform"
    )
    actual = Usage(input_tokens=300_000, cache_read_tokens=1000, output_tokens=20)
    s = quoter.settle(q.id, actual, NOW + timedelta(minutes=1))
    # the actual usage crosses the long-context cliff: priced with the quote's frozen rows
    assert s.priced.raw_total == price_usage(acme_index, "acme", "chat", actual, NOW).total


def test_settle_without_quote_prices_at_the_call_time(acme_index, rules) -> None:
    quoter = Quoter(acme_index, rules, clock=Clock(NOW))
    usage = Usage(input_tokens=1000)
    at = datetime(2025, 7, 1, tzinfo=UTC)  # after the price change
    s = quoter.settle(None, usage, at, provider_id="acme", model_id="chat", fund_source="platform")
    assert s.priced.raw_total == price_usage(acme_index, "acme", "chat", usage, at).total
    with pytest.raises(QuoteNotFound):
        quoter.settle("q_missing", usage, at)


def test_local_calls_pay_no_margin(acme_index, rules) -> None:
    q = Quoter(acme_index, rules, clock=Clock(NOW)).quote(
        "homelab", "llama", Usage(input_tokens=5000), fund_source="local"
    )
    assert q.priced.raw_total == 0 and q.priced.billed.margin_factor is None
    assert q.priced.billed.billed_amount == rules.local_fee.per_call


def test_unpriced_quote_fails_closed(acme_index, rules) -> None:
    with pytest.raises(UnpricedError):
        Quoter(acme_index, rules, clock=Clock(NOW)).quote(
            "acme", "chat", Usage(output_images=1), fund_source="platform"
        )


def test_duckdb_store_round_trips_a_quote(acme_index, rules, tmp_path: Path) -> None:
    path = tmp_path / "quotes.duckdb"
    store = DuckDBQuoteStore(path)
    clock = Clock(NOW)
    ctx = PricingContext(service_tier="flex", region="eu-west-1")
    usage = Usage(input_tokens=1234, output_tokens=56, output_video_seconds=Decimal("0"))
    q = Quoter(acme_index, rules, store, clock=clock).quote(
        "acme", "chat", usage, fund_source="byok", context=ctx
    )
    store.close()
    reopened = DuckDBQuoteStore(path)
    assert reopened.get(q.id) == q
    s = Quoter(acme_index, rules, reopened, clock=clock).settle(q.id, usage, NOW)
    assert s.quote_honored and s.priced == q.priced
    assert reopened.get("q_nope") is None


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.integers(0, 400_000),
    st.integers(0, 1000),
    st.integers(0, 20_000),
    st.sampled_from(["platform", "byok"]),
    st.sampled_from(["standard", "flex"]),
)
def test_quote_then_settle_same_usage_same_total(acme_index, inp, cached, out, fund, tier) -> None:
    rules = load_rules()
    quoter = Quoter(acme_index, rules, clock=Clock(NOW))
    usage = Usage(input_tokens=inp + cached, cache_read_tokens=cached, output_tokens=out)
    ctx = PricingContext(service_tier=tier)
    q = quoter.quote("acme", "chat", usage, fund_source=fund, context=ctx)
    s = quoter.settle(q.id, usage, NOW + timedelta(minutes=3))
    assert s.priced.raw_total == q.priced.raw_total
    assert s.priced.billed == q.priced.billed
    assert s.priced.lines == q.priced.lines
