"""Receipts and real-time usage over the API: exact amounts, tenant isolation, paging."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from apikit import admin_headers, app_for, issue_token
from litestar.testing import TestClient

from byokvault.engine.ledger.synthetic import make_record


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(app_for(tmp_path / "data")) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_receipts_and_usage_are_the_tenants_own(client: TestClient) -> None:
    ledger = client.app.state.resources.ledger
    mine = [ledger.append(make_record(i, tenant_id="tenant-a")) for i in range(5)]
    theirs = ledger.append(make_record(99, tenant_id="tenant-b"))
    token_a, token_b = issue_token(client, "tenant-a"), issue_token(client, "tenant-b")

    listing = client.get("/v1/receipts", headers=bearer(token_a)).json()
    assert [r["record_id"] for r in listing] == [e.record_id for e in reversed(mine)]
    first = client.get(f"/v1/receipts/{mine[0].record_id}", headers=bearer(token_a)).json()
    expected = mine[0].record.pricing
    assert Decimal(first["record"]["pricing"]["billed_amount"]) == expected.billed_amount
    assert Decimal(first["record"]["pricing"]["raw_cost"]) == expected.raw_cost
    assert isinstance(first["record"]["pricing"]["raw_cost"], str)  # money as a decimal string
    assert [line["price_id"] for line in first["record"]["pricing"]["lines"]] == [
        line.price_id for line in expected.lines
    ]

    hidden = client.get(f"/v1/receipts/{theirs.record_id}", headers=bearer(token_a))
    assert (hidden.status_code, hidden.json()["code"]) == (404, "not_found")
    assert [r["record_id"] for r in client.get("/v1/receipts", headers=bearer(token_b)).json()] == [
        theirs.record_id
    ]

    usage = client.get("/v1/usage", headers=bearer(token_a)).json()
    (total,) = usage["totals"]
    assert total["records"] == 5
    assert Decimal(total["billed_amount"]) == sum(e.record.pricing.billed_amount for e in mine)
    assert Decimal(total["raw_cost"]) == sum(e.record.pricing.raw_cost for e in mine)
    assert usage["ledger_seq"] == theirs.seq


def test_receipts_page_with_before_seq(client: TestClient) -> None:
    ledger = client.app.state.resources.ledger
    entries = [ledger.append(make_record(i, tenant_id="tenant-a")) for i in range(7)]
    token = issue_token(client, "tenant-a")
    page1 = client.get("/v1/receipts", params={"limit": 3}, headers=bearer(token)).json()
    page2 = client.get(
        "/v1/receipts", params={"limit": 3, "before_seq": page1[-1]["seq"]}, headers=bearer(token)
    ).json()
    seen = [r["seq"] for r in page1 + page2]
    assert seen == sorted((e.seq for e in entries), reverse=True)[:6]


def test_admin_reads_a_named_tenants_usage(client: TestClient) -> None:
    client.app.state.resources.ledger.append(make_record(1, tenant_id="tenant-a"))
    usage = client.get("/v1/usage", params={"tenant_id": "tenant-a"}, headers=admin_headers())
    assert usage.json()["totals"][0]["records"] == 1
    empty = client.get("/v1/usage", params={"tenant_id": "nobody"}, headers=admin_headers())
    assert empty.json()["totals"] == []


def test_bad_paging_is_a_400(client: TestClient) -> None:
    token = issue_token(client, "tenant-a")
    response = client.get("/v1/receipts", params={"limit": 0}, headers=bearer(token))
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "limit"
