"""The fast path returns exactly what the route SQL returns, over many random requests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from routing_support import PROVENANCE, model_yaml, provider_yaml, write_catalog

from byokvault.engine.routing.decision import FundSources
from byokvault.engine.routing.fast import FastRouter
from byokvault.engine.routing.policy import TenantPolicy
from byokvault.engine.routing.requirements import Requirements
from byokvault.engine.routing.route import Router

TIERS = f"""      - {{dimension: input_tokens, amount: 0.6, effective_from: 2024-01-01T00:00:00Z,
         conditions: {{long_context: {{threshold: 20000, inclusive: true}}}},
         provenance: {PROVENANCE}}}
      - {{dimension: input_tokens, amount: 0.9, effective_from: 2024-01-01T00:00:00Z,
         conditions: {{long_context: {{threshold: 60000, inclusive: false}}}},
         provenance: {PROVENANCE}}}
      - {{dimension: input_tokens, amount: 0.25, effective_from: 2025-01-01T00:00:00Z,
         provenance: {PROVENANCE}}}
      - {{dimension: input_tokens, amount: 0.125, effective_from: 2024-01-01T00:00:00Z,
         conditions: {{service_tier: batch}}, provenance: {PROVENANCE}}}
"""

CAPS = [
    "text.chat",
    "vision.single_image",
    "vision.multi_image",
    "tools.function_calling",
    "tools.parallel_calls",
    "structured_output.json_schema",
    "reasoning.adaptive_thinking",
    "embeddings.text",
    "batch",
]


@pytest.fixture(scope="module")
def routers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Router, FastRouter]:
    root = tmp_path_factory.mktemp("cat")
    v = ("text.chat", "vision.multi_image", "tools.parallel_calls")
    providers = {
        "alpha": provider_yaml(
            "alpha",
            [
                model_yaml("a-small", context=16_000, max_output=2_000),
                model_yaml(
                    "a-vision",
                    caps=v,
                    max_images=3,
                    prices={"input_tokens": "0.3", "output_tokens": "1.2"},
                ),
                model_yaml(
                    "a-tiered",
                    caps=(*v, "batch"),
                    context=200_000,
                    prices={"output_tokens": "2.5"},
                    extra_prices=TIERS,
                ),
                model_yaml(
                    "a-old",
                    deprecated="2025-02-01",
                    prices={"input_tokens": "0.001", "output_tokens": "0.001"},
                ),
                model_yaml("a-json", caps=("structured_output.json_schema",), max_output=None),
                model_yaml("a-embed", mode="embedding", caps=(), prices={"input_tokens": "0.02"}),
            ],
        ),
        "beta": provider_yaml(
            "beta",
            [
                model_yaml(
                    "b-think",
                    caps=("reasoning.adaptive_thinking", "tools.function_calling"),
                    context=None,
                    prices={"input_tokens": "1", "output_tokens": "2"},
                ),
                model_yaml("b-same", prices={"input_tokens": "1", "output_tokens": "2"}),
                model_yaml("b-unpriced", prices={}),
            ],
        ),
        "homelab": provider_yaml(
            "homelab",
            [model_yaml("llama", caps=v, prices={"input_tokens": "0", "output_tokens": "0"})],
            kind="local",
        ),
    }
    router = Router.open(write_catalog(root, providers), root / "snaps")
    return router, FastRouter(router)


providers = st.frozensets(st.sampled_from(["alpha", "beta", "homelab"]))
requirements = st.builds(
    lambda caps, tin, tout, images, tier, keys: Requirements(
        caps,
        tin,
        tout,
        images,
        tuple(sorted({"input_tokens": tin, "output_tokens": tout or 1024}.items()))[:keys],
        (("service_tier", tier),) if tier != "standard" else (),
    ),
    st.frozensets(st.sampled_from(CAPS), max_size=3),
    st.one_of(st.integers(0, 300_000), st.sampled_from([19_999, 20_000, 60_000, 60_001])),
    st.one_of(st.none(), st.integers(1, 10_000)),
    st.integers(0, 4),
    st.sampled_from(["standard", "batch"]),
    st.integers(0, 2),
)
policies = st.builds(
    TenantPolicy,
    byok_only=st.booleans(),
    allowed_providers=st.one_of(st.none(), providers),
    blocked_providers=providers,
    local_first=st.booleans(),
    max_price_per_call=st.one_of(st.none(), st.decimals("0", "0.5", places=6)),
    allow_deprecated=st.booleans(),
)
funds = st.builds(FundSources, byok=providers, platform=providers, local=providers)
times = st.sampled_from(
    [
        datetime(2024, 6, 1, tzinfo=UTC),
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 6, 1, tzinfo=UTC),
    ]
)


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(req=requirements, policy=policies, fund=funds, at=times)
def test_fast_path_equals_sql(routers, req, policy, fund, at) -> None:
    router, fast = routers
    expected = router.route_sql(req, funds=fund, at=at, policy=policy)
    assert fast.route(req, funds=fund, at=at, policy=policy) == expected
    # and again, from the memoized decision
    assert fast.route(req, funds=fund, at=at, policy=policy) == expected
    # the best k alone are the SQL's first k; exclusions only when nothing is routable
    for top in (1, 2, 5):
        best = fast.route(req, funds=fund, at=at, policy=policy, top=top)
        assert best.candidates == expected.candidates[:top]
        assert best.exclusions == (() if expected.candidates else expected.exclusions)


def test_time_key_separates_price_changes(routers) -> None:
    _, fast = routers
    assert fast.time_key(datetime(2024, 12, 31, 23, tzinfo=UTC)) != fast.time_key(
        datetime(2025, 1, 1, 1, tzinfo=UTC)
    )
    assert fast.time_key(datetime(2025, 6, 1, tzinfo=UTC)) == fast.time_key(
        datetime(2025, 7, 1, tzinfo=UTC)
    )


def test_cap_with_many_decimals_is_exact(routers) -> None:
    router, fast = routers
    req = Requirements(
        frozenset({"text.chat"}), 1000, 500, 0, (("input_tokens", 1000), ("output_tokens", 500))
    )
    policy = TenantPolicy(max_price_per_call=Decimal("0.000250000000000001"))
    at = datetime(2025, 6, 1, tzinfo=UTC)
    fund = FundSources(byok=frozenset({"alpha", "beta"}))
    assert fast.route(req, funds=fund, at=at, policy=policy) == router.route_sql(
        req, funds=fund, at=at, policy=policy
    )


@pytest.fixture(scope="module")
def near_ties(tmp_path_factory: pytest.TempPathFactory) -> tuple[Router, FastRouter]:
    """Costs equal in float but not exactly (the 18th decimal), exact ties, and free models."""
    root = tmp_path_factory.mktemp("ties")
    a = {"input_tokens": "1.000000000000000002", "output_tokens": "2"}
    b = {"input_tokens": "1.000000000000000001", "output_tokens": "2"}  # cheaper by 1e-18/token
    models = [
        model_yaml("m-a", prices=a),
        model_yaml("m-b", prices=b),
        model_yaml("m-c", prices=b),  # exact tie with m-b: the id breaks it
        *(
            model_yaml(f"z-free-{i}", prices={"input_tokens": "0", "output_tokens": "0"})
            for i in (3, 1, 2)
        ),
    ]
    router = Router.open(write_catalog(root, {"p": provider_yaml("p", models)}), root / "snaps")
    return router, FastRouter(router)


@pytest.mark.parametrize("top", [1, 2, 4])
def test_exact_decimal_settles_what_floats_cannot(near_ties, top) -> None:
    router, fast = near_ties
    req = Requirements(
        frozenset({"text.chat"}), 1000, 10, 0, (("input_tokens", 1000), ("output_tokens", 10))
    )
    fund = FundSources(platform=frozenset({"p"}))
    policy = TenantPolicy()
    at = datetime(2025, 6, 1, tzinfo=UTC)
    expected = router.route_sql(req, funds=fund, at=at, policy=policy)
    got = fast.route(req, funds=fund, at=at, policy=policy, top=top)
    assert got.candidates == expected.candidates[:top]
    assert fast.route(req, funds=fund, at=at, policy=policy) == expected
    paid = [c.model_id for c in expected.candidates if c.cost > 0]
    assert paid == ["m-b", "m-c", "m-a"]  # a float comparison would call all three equal
    # a cap at the cheaper pair's exact cost (21 decimals) keeps it out, as the SQL reads the
    # cap: DECIMAL(38, 18), rounded half away from zero (sql_cap)
    capped = TenantPolicy(max_price_per_call=expected.candidates[3].cost)
    sql = router.route_sql(req, funds=fund, at=at, policy=capped)
    assert (
        fast.route(req, funds=fund, at=at, policy=capped, top=top).candidates
        == (sql.candidates[:top])
    )
    assert "m-a" not in {c.model_id for c in sql.candidates}
