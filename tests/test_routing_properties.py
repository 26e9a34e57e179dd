"""Routing properties over the full committed catalog and random requirement sets.

The oracle is brute force in Python (not the SQL): every model's capabilities and limits from
the catalog objects, costed one by one with the pricing engine's Python cost function."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from byokvault.engine.catalog.model import Model
from byokvault.engine.paths import BUNDLED_CATALOG
from byokvault.engine.pricing.cost import price_usage
from byokvault.engine.pricing.index import PriceIndex, PricingError
from byokvault.engine.pricing.usage import Usage
from byokvault.engine.routing.decision import FundSources
from byokvault.engine.routing.fast import FastRouter
from byokvault.engine.routing.policy import TenantPolicy
from byokvault.engine.routing.requirements import MODE_CAPABILITIES, Requirements
from byokvault.engine.routing.route import Router

AT = datetime(2026, 6, 1, 12, tzinfo=UTC)
POLICY = TenantPolicy()
SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="session")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[Router, FastRouter, FundSources]:
    router = Router.open(BUNDLED_CATALOG, tmp_path_factory.mktemp("snaps"), policies=None)
    assert router.catalog is not None
    funds = FundSources(
        platform=frozenset(p.id for p in router.catalog.providers if p.kind == "cloud"),
        local=frozenset(p.id for p in router.catalog.providers if p.kind == "local"),
    )
    return router, FastRouter(router), funds


def capability_pool() -> list[str]:
    from byokvault.engine.catalog.load import load_catalog

    return sorted(load_catalog(BUNDLED_CATALOG).taxonomy.capabilities)


CAPS = capability_pool()


@st.composite
def requirement_sets(draw) -> Requirements:
    caps = draw(st.frozensets(st.sampled_from(CAPS), max_size=3))
    tin = draw(st.one_of(st.integers(0, 2_000_000), st.integers(0, 50_000)))
    tout = draw(st.one_of(st.none(), st.integers(1, 200_000), st.integers(1, 5_000)))
    images = draw(st.integers(0, 3))
    usage = (("input_tokens", tin), ("output_tokens", tout or 1024))
    return Requirements(caps, tin, tout, images, tuple((k, q) for k, q in usage if q))


def can(router: Router, model: Model) -> frozenset[str]:
    assert router.catalog is not None
    return router.catalog.taxonomy.closure(model.capabilities) | set(
        MODE_CAPABILITIES.get(model.mode.value, ())
    )


def fits(model: Model, req: Requirements) -> bool:
    lim = model.limits
    need = req.input_tokens + (req.output_tokens or 0)
    return (
        (lim.context_window is None or lim.context_window >= need)
        and (
            req.output_tokens is None
            or lim.max_output_tokens is None
            or lim.max_output_tokens >= req.output_tokens
        )
        and (lim.max_images_per_request is None or lim.max_images_per_request >= req.images)
    )


_INDEXES: dict[str, PriceIndex] = {}


def price_index(router: Router) -> PriceIndex:
    if router.catalog_version not in _INDEXES:
        _INDEXES[router.catalog_version] = PriceIndex.from_connection(router.con)
    return _INDEXES[router.catalog_version]


def oracle_cost(index: PriceIndex, provider_id: str, model: Model, req: Requirements):
    """The pricing engine's Python cost function (not the SQL twin); None when it refuses."""
    try:
        return price_usage(index, provider_id, model.id, Usage(**dict(req.usage)), AT).total
    except PricingError:
        return None


def eligible(
    router: Router, req: Requirements, funds: FundSources
) -> dict[tuple[str, str], Decimal]:
    index = price_index(router)
    out = {}
    for provider, model in router.catalog.models():  # type: ignore[union-attr]
        life = model.lifecycle
        if (life.deprecated and life.deprecated <= AT.date()) or (
            life.retired and life.retired <= AT.date()
        ):
            continue
        if provider.id not in (funds.local if provider.kind.value == "local" else funds.platform):
            continue
        if not req.capabilities <= can(router, model) or not fits(model, req):
            continue
        cost = oracle_cost(index, provider.id, model, req)
        if cost is not None:
            out[(provider.id, model.id)] = cost
    return out


@SETTINGS
@given(req=requirement_sets())
def test_chosen_supports_every_need_and_fits(full, req: Requirements) -> None:
    router, fast, funds = full
    decision = fast.route(req, funds=funds, at=AT, policy=POLICY)
    models = {(p.id, m.id): m for p, m in router.catalog.models()}  # type: ignore[union-attr]
    for c in decision.candidates:
        model = models[(c.provider_id, c.model_id)]
        assert req.capabilities <= can(router, model)
        assert fits(model, req)


@SETTINGS
@given(req=requirement_sets())
def test_no_eligible_model_is_cheaper_brute_force(full, req: Requirements) -> None:
    router, _fast, funds = full
    decision = router.route_sql(req, funds=funds, at=AT, policy=POLICY)
    expected = eligible(router, req, funds)
    got = {(c.provider_id, c.model_id): c.cost for c in decision.candidates}
    assert got == expected
    if expected:
        assert decision.chosen is not None
        assert decision.chosen.cost == min(expected.values())


@settings(SETTINGS, max_examples=10)
@given(req=requirement_sets(), extra=st.sampled_from(CAPS))
def test_adding_a_requirement_never_makes_the_route_cheaper(full, req, extra) -> None:
    _router, fast, funds = full
    before = fast.route(req, funds=funds, at=AT, policy=POLICY)
    after = fast.route(req.with_capabilities([extra]), funds=funds, at=AT, policy=POLICY)
    if after.chosen is not None:
        assert before.chosen is not None
        assert after.chosen.cost >= before.chosen.cost
    assert {(c.provider_id, c.model_id) for c in after.candidates} <= {
        (c.provider_id, c.model_id) for c in before.candidates
    }


def test_local_endpoints_are_routable(full) -> None:
    router, _fast, _funds = full
    local = [(p, m) for p, m in router.catalog.models() if p.kind.value == "local"]  # type: ignore[union-attr]
    assert local, "the committed catalog has a local provider"
    for provider, model in local:
        caps = frozenset(model.capabilities)
        usage = tuple(sorted({(r.dimension, 100) for r in model.prices}))  # what it prices
        req = Requirements(caps, 100, 100, 0, usage)
        funds = FundSources(local=frozenset({provider.id}))
        decision = router.route_sql(req, funds=funds, at=AT, policy=POLICY)
        routed = {(c.provider_id, c.model_id): c for c in decision.candidates}
        assert (provider.id, model.id) in routed, decision.exclusions
        assert routed[(provider.id, model.id)].fund_source == "local"
        # and without the endpoint the same model is not routable
        none = router.route_sql(req, funds=FundSources(), at=AT, policy=POLICY)
        assert (provider.id, model.id) not in {(c.provider_id, c.model_id) for c in none.candidates}


def catalog_thresholds(router: Router) -> list[int]:
    rows = router.con.execute(
        "SELECT DISTINCT long_context_threshold FROM prices "
        "WHERE long_context_threshold IS NOT NULL ORDER BY 1"
    ).fetchall()
    return [t for (t,) in rows]


@st.composite
def token_shapes(draw, thresholds: list[int]) -> Requirements:
    """Chat-like requirements with token counts anywhere, and right at the catalog's cliffs."""
    caps = draw(st.frozensets(st.sampled_from(COMMON_CAPS), max_size=2))
    at_cliff = st.sampled_from(thresholds).flatmap(lambda t: st.sampled_from([t - 1, t, t + 1]))
    tin = draw(st.one_of(st.integers(1, 1_200_000), at_cliff))
    tout = draw(st.one_of(st.none(), st.integers(1, 70_000)))
    usage = (("input_tokens", tin), ("output_tokens", tout or 1024))
    return Requirements(caps, tin, tout, draw(st.integers(0, 2)), usage)


COMMON_CAPS = [
    "text.chat",
    "vision.single_image",
    "tools.function_calling",
    "structured_output.json_schema",
    "reasoning.extended_thinking",
]


@settings(SETTINGS, max_examples=6)
@given(data=st.data())
def test_fast_path_equals_sql_on_the_full_catalog(full, data) -> None:
    """Random token counts over every committed model: the fast path's full decision is the
    SQL's (ranked candidates, exact costs and line items, exclusion reasons), and its best k
    are the SQL's first k; under a price cap and local-first too."""
    router, fast, funds = full
    req = data.draw(token_shapes(catalog_thresholds(router)))
    policy = data.draw(
        st.builds(
            TenantPolicy,
            local_first=st.booleans(),
            max_price_per_call=st.one_of(st.none(), st.decimals("0", "0.2", places=9)),
        )
    )
    expected = router.route_sql(req, funds=funds, at=AT, policy=policy)
    assert fast.route(req, funds=funds, at=AT, policy=policy) == expected
    for top in (1, 3):
        best = fast.route(req, funds=funds, at=AT, policy=policy, top=top)
        assert best.candidates == expected.candidates[:top]
