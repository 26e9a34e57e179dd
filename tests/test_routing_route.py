"""The route SQL end to end on small catalogs: ranking, costs, reasons, policy, fund sources."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from routing_support import PROVENANCE, model_yaml, provider_yaml, write_catalog

from byokvault.engine.routing.decision import FundSources
from byokvault.engine.routing.policy import TenantPolicy
from byokvault.engine.routing.requirements import Requirements
from byokvault.engine.routing.route import Router

AT = datetime(2025, 6, 1, 12, tzinfo=UTC)
CHAT = frozenset({"text.chat"})

LONG_TIER = f"""      - {{dimension: input_tokens, amount: 0.5,
         effective_from: 2024-01-01T00:00:00Z,
         conditions: {{long_context: {{threshold: 100000, inclusive: false}}}},
         provenance: {PROVENANCE}}}
      - {{dimension: input_tokens, amount: 0.1, effective_from: 2025-03-01T00:00:00Z,
         provenance: {PROVENANCE}}}
      - {{dimension: input_tokens, amount: 0.05, effective_from: 2024-01-01T00:00:00Z,
         conditions: {{service_tier: batch}}, provenance: {PROVENANCE}}}
      - {{dimension: output_tokens, amount: 0.1, effective_from: 2024-01-01T00:00:00Z,
         conditions: {{service_tier: batch}}, provenance: {PROVENANCE}}}
"""


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Router:
    root = tmp_path_factory.mktemp("cat")
    providers = {
        "alpha": provider_yaml(
            "alpha",
            [
                model_yaml("cheap", prices={"input_tokens": "0.2", "output_tokens": "0.4"}),
                model_yaml("pricey", prices={"input_tokens": "3", "output_tokens": "15"}),
                model_yaml("no-output-price", prices={"input_tokens": "0.01"}),
                model_yaml("tiered", prices={"output_tokens": "0.4"}, extra_prices=LONG_TIER),
            ],
        ),
        # same price as alpha/cheap: the tie breaks on provider_id
        "zeta": provider_yaml(
            "zeta", [model_yaml("twin", prices={"input_tokens": "0.2", "output_tokens": "0.4"})]
        ),
        "homelab": provider_yaml(
            "homelab",
            [model_yaml("llama", prices={"input_tokens": "0", "output_tokens": "0"})],
            kind="local",
        ),
    }
    return Router.open(write_catalog(root, providers), root / "snaps")


ALL = FundSources(
    byok=frozenset({"alpha"}), platform=frozenset({"zeta"}), local=frozenset({"homelab"})
)


def chat(input_tokens: int = 1000, output_tokens: int = 500, **kw) -> Requirements:
    usage = (("input_tokens", input_tokens), ("output_tokens", output_tokens))
    return Requirements(CHAT, input_tokens, output_tokens, 0, usage, **kw)


def ids(decision) -> list[str]:
    return [f"{c.provider_id}/{c.model_id}" for c in decision.candidates]


def test_cheapest_first_with_exact_costs_and_line_items(router: Router) -> None:
    d = router.route_sql(chat(), funds=ALL, at=AT)
    assert ids(d)[:4] == ["homelab/llama", "alpha/tiered", "alpha/cheap", "zeta/twin"]
    cheap = d.candidates[2]
    assert cheap.cost == Decimal("0.0004")  # 1000 × 0.2/1M + 500 × 0.4/1M
    assert [(i.dimension, i.quantity, i.amount) for i in cheap.line_items] == [
        ("input_tokens", 1000, Decimal("0.0002")),
        ("output_tokens", 500, Decimal("0.0002")),
    ]
    assert cheap.fund_source == "byok"
    assert d.candidates[3].fund_source == "platform"
    assert [c.rank for c in d.candidates] == list(range(1, len(d.candidates) + 1))


def test_unpriced_dimension_excludes_never_cheap(router: Router) -> None:
    d = router.route_sql(chat(), funds=ALL, at=AT)
    assert "alpha/no-output-price" not in ids(d)
    reasons = {e.model_id: e.reasons for e in d.exclusions}
    assert reasons["no-output-price"] == ("unpriced:output_tokens",)


def test_prices_in_force_at_the_time(router: Router) -> None:
    before = router.route_sql(chat(), funds=ALL, at=datetime(2025, 1, 1, tzinfo=UTC))
    # before 2025-03-01 tiered has no standard input price below the long-context threshold
    assert {e.model_id: e.reasons for e in before.exclusions}["tiered"] == (
        "unpriced:input_tokens",
    )


def test_long_context_cliff(router: Router) -> None:
    small = router.route_sql(chat(100_000, 10), funds=ALL, at=AT)
    big = router.route_sql(chat(100_001, 10), funds=ALL, at=AT)
    by_id = {c.model_id: c for c in small.candidates}
    assert by_id["tiered"].line_items[0].unit_price == Decimal("0.1")
    by_id = {c.model_id: c for c in big.candidates}
    assert by_id["tiered"].line_items[0].unit_price == Decimal("0.5")
    assert by_id["tiered"].cost == Decimal(100_001) * Decimal("0.5") / 10**6 + Decimal("0.000004")


def test_batch_tier_prices(router: Router) -> None:
    d = router.route_sql(chat(context=(("service_tier", "batch"),)), funds=ALL, at=AT)
    tiered = {c.model_id: c for c in d.candidates}["tiered"]
    assert tiered.cost == Decimal("0.00010")  # 1000 × 0.05/1M + 500 × 0.1/1M


def test_local_first_policy(router: Router) -> None:
    funds = FundSources(byok=frozenset({"alpha"}), local=frozenset({"homelab"}))
    cloud_first = router.route_sql(chat(), funds=funds, at=AT)
    assert cloud_first.chosen.model_id == "llama"  # free: cheapest anyway
    local_first = router.route_sql(
        chat(), funds=funds, at=AT, policy=TenantPolicy(local_first=True)
    )
    assert local_first.chosen.provider_kind == "local"
    no_endpoint = router.route_sql(chat(), funds=FundSources(byok=frozenset({"alpha"})), at=AT)
    assert "homelab/llama" not in ids(no_endpoint)


def test_max_price_per_call(router: Router) -> None:
    policy = TenantPolicy(max_price_per_call=Decimal("0.0004"))
    d = router.route_sql(chat(), funds=ALL, at=AT, policy=policy)
    assert "alpha/cheap" in ids(d)  # exactly at the cap is allowed
    reasons = {e.model_id: e.reasons for e in d.exclusions}
    assert reasons["pricey"] == ("over_max_price",)


def test_tie_break_is_provider_then_model(router: Router) -> None:
    d = router.route_sql(chat(), funds=ALL, at=AT)
    costs = [(c.cost, c.provider_id, c.model_id) for c in d.candidates]
    assert costs == sorted(costs)


def test_no_usage_estimate_means_zero_cost(router: Router) -> None:
    d = router.route_sql(Requirements(CHAT), funds=ALL, at=AT)
    assert all(c.cost == 0 and c.line_items == () for c in d.candidates)


def test_every_model_is_either_candidate_or_excluded(router: Router) -> None:
    d = router.route_sql(chat(), funds=FundSources(), at=AT)
    assert d.candidates == ()
    assert len(d.exclusions) == 6
    assert all("no_usable_credential" in e.reasons for e in d.exclusions)


def test_cursor_routers_on_threads_agree(router: Router) -> None:
    """Each thread's cursor has its own TEMP usage table: concurrent routes never mix rows."""
    from concurrent.futures import ThreadPoolExecutor

    from byokvault.engine.routing import FastRouter, route

    expected = [router.route_sql(chat(1000 + 997 * i), funds=ALL, at=AT) for i in range(8)]

    def one(i: int):
        fast = FastRouter(router.cursor())
        sql = fast.router.route_sql(chat(1000 + 997 * i), funds=ALL, at=AT)
        return sql, route(chat(1000 + 997 * i), fund_sources=ALL, at=AT, router=fast)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(8)))
    assert results == [(e, e) for e in expected]


def test_a_tier_the_model_does_not_offer_is_unpriced(router: Router) -> None:
    d = router.route_sql(chat(context=(("service_tier", "flex"),)), funds=ALL, at=AT)
    assert d.candidates == ()
    reasons = {e.model_id: e.reasons for e in d.exclusions}
    assert reasons["cheap"] == ("unpriced:service_tier=flex",)
