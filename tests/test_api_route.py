"""POST /v1/route over the API: cheapest capable model, the tenant's own funding, exclusions."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from apikit import app_for, issue_token
from litestar.testing import TestClient

from byokvault.engine.catalog.load import load_catalog
from byokvault.engine.paths import BUNDLED_CATALOG

CATALOG = load_catalog(BUNDLED_CATALOG)
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 50}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(app_for(tmp_path_factory.mktemp("route") / "data")) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def token(client: TestClient) -> str:
    token = issue_token(client, "router-tenant")
    body = {"provider_id": "openai", "label": "own key", "secret": "sk-route-test-0001"}
    headers = {"authorization": f"Bearer {token}"}
    assert client.post("/v1/credentials", headers=headers, json=body).status_code == 201
    return token


def route(client: TestClient, token: str, **body: object):
    return client.post("/v1/route", headers={"authorization": f"Bearer {token}"}, json=body)


def test_only_funded_providers_are_candidates_cheapest_first(
    client: TestClient, token: str
) -> None:
    decision = route(client, token, body=CHAT).json()
    candidates = decision["candidates"]
    assert candidates, decision
    assert {c["provider_id"] for c in candidates} == {"openai"}
    assert all(c["fund_source"] == "byok" for c in candidates)
    costs = [Decimal(c["cost"]) for c in candidates]
    assert costs == sorted(costs)
    for c in candidates:  # each cost is the sum of its priced lines, exactly
        assert Decimal(c["cost"]) == sum(Decimal(line["amount"]) for line in c["line_items"])
    unfunded = [e for e in decision["exclusions"] if e["provider_id"] == "anthropic"]
    assert unfunded and all("no_usable_credential" in e["reasons"] for e in unfunded)
    assert "E" not in str(decision)  # money as plain decimal strings


def test_capabilities_restrict_the_candidates(client: TestClient, token: str) -> None:
    decision = route(client, token, body=CHAT, capabilities=["vision"]).json()
    assert decision["candidates"]
    for c in decision["candidates"]:
        model = next(
            m for p, m in CATALOG.models() if (p.id, m.id) == (c["provider_id"], c["model_id"])
        )
        assert CATALOG.taxonomy.resolve(["vision"]) <= CATALOG.taxonomy.closure(model.capabilities)


def test_a_price_ceiling_excludes_everything_above_it(client: TestClient, token: str) -> None:
    decision = route(client, token, body=CHAT, max_price_per_call="0.0000000001").json()
    assert decision["candidates"] == []
    reasons = {r for e in decision["exclusions"] for r in e["reasons"]}
    assert "over_max_price" in reasons


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"capabilities": ["teleportation"]}, "capabilities"),
        ({}, "body"),
        ({"body": {"model": "auto", "messages": "hi"}}, "messages"),
        ({"body": CHAT, "max_price_per_call": "-1"}, "max_price_per_call"),
    ],
)
def test_bad_route_requests_are_400_naming_the_field(
    client: TestClient, token: str, body: dict, field: str
) -> None:
    response = route(client, token, **body)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == field


def test_route_needs_a_token(client: TestClient) -> None:
    assert client.post("/v1/route", json={"body": CHAT}).status_code == 401
