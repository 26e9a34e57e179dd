"""Routing properties over the full committed catalog and random requirement sets.

The oracle is brute force over the catalog objects in Python (not the SQL): every model's
capabilities, limits and current price rows, costed one by one."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from byokvault.engine.catalog.model import Model, PriceRow
from byokvault.engine.paths import BUNDLED_CATALOG
from byokvault.engine.routing.decision import FundSources
from byokvault.engine.routing.fast import FastRouter
from byokvault.engine.routing.policy import TenantPolicy
from byokvault.engine.routing.requirements import MODE_CAPABILITIES, Requirements
from byokvault.engine.routing.route import Router

AT = datetime(2026, 6, 1, 12, tzinfo=UTC)
POLICY = TenantPolicy()
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
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


def in_force(row: PriceRow, at: datetime, rows: list[PriceRow]) -> bool:
    later = [
        r.effective_from
        for r in rows
        if r.series_key() == row.series_key() and r.effective_from > row.effective_from
    ]
    return row.effective_from <= at and (not later or min(later) > at)


def oracle_cost(
    router: Router, provider_id: str, model: Model, req: Requirements
) -> Decimal | None:
    """Brute-force cost: standard tier, unconditioned rows, long-context cliff; None: unpriced."""
    per = {u.id: u.per for u in router.catalog.units.values()}  # type: ignore[union-attr]
    total = Decimal(0)
    for key, quantity in req.usage:
        rows = [
            r
            for r in model.prices
            if r.dimension == key
            and in_force(r, AT, model.prices)
            and r.conditions.service_tier.value == "standard"
            and r.conditions.region is None
            and r.conditions.time_window is None
            and r.conditions.image_size is None
            and r.conditions.image_quality is None
            and r.conditions.video_resolution is None
        ]

        def crossed(r: PriceRow) -> bool:
            lc = r.conditions.long_context
            return (
                lc is None
                or req.input_tokens > lc.threshold
                or (lc.inclusive and req.input_tokens == lc.threshold)
            )

        rows = [r for r in rows if crossed(r)]
        if not rows:
            return None
        row = max(
            rows,
            key=lambda r: r.conditions.long_context.threshold if r.conditions.long_context else -1,
        )
        total += row.amount * quantity / per[key]
    return total


def eligible(
    router: Router, req: Requirements, funds: FundSources
) -> dict[tuple[str, str], Decimal]:
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
        cost = oracle_cost(router, provider.id, model, req)
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


@settings(SETTINGS, max_examples=25)
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
    router, fast, _funds = full
    local = [(p, m) for p, m in router.catalog.models() if p.kind.value == "local"]  # type: ignore[union-attr]
    assert local, "the committed catalog has a local provider"
    for provider, model in local:
        caps = frozenset(model.capabilities)
        usage = tuple(sorted({(r.dimension, 100) for r in model.prices}))  # what it prices
        req = Requirements(caps, 100, 100, 0, usage)
        funds = FundSources(local=frozenset({provider.id}))
        decision = fast.route(req, funds=funds, at=AT, policy=POLICY)
        routed = {(c.provider_id, c.model_id): c for c in decision.candidates}
        assert (provider.id, model.id) in routed, decision.exclusions
        assert routed[(provider.id, model.id)].fund_source == "local"
        # and without the endpoint the same model is not routable
        none = fast.route(req, funds=FundSources(), at=AT, policy=POLICY)
        assert (provider.id, model.id) not in {(c.provider_id, c.model_id) for c in none.candidates}
