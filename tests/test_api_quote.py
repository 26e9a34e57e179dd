"""POST /v1/quote and the margin table: exact prices before a call, honored at settlement."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from apikit import app_for, issue_token
from litestar.testing import TestClient

from byokvault.engine.pricing.rules import load_rules

RULES = load_rules()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(app_for(tmp_path_factory.mktemp("quote") / "data")) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def token(client: TestClient) -> str:
    return issue_token(client, "quoting-tenant")


def quote(client: TestClient, token: str, **body: object):
    return client.post("/v1/quote", headers={"authorization": f"Bearer {token}"}, json=body)


def test_a_platform_quote_is_the_raw_price_times_the_margin(client: TestClient, token: str) -> None:
    usage = {"input_tokens": 1000, "output_tokens": 500}
    body = quote(client, token, model="openai/gpt-4o-mini", usage=usage).json()
    assert body["fund_source"] == "platform"  # the tenant has no key of its own
    raw = (1000 * Decimal("0.15") + 500 * Decimal("0.6")) / 1_000_000
    assert Decimal(body["raw_cost"]) == raw
    assert Decimal(body["billed_amount"]) == raw * RULES.margins["text"]
    assert Decimal(body["rounded_amount"]) == (raw * RULES.margins["text"]).quantize(
        RULES.rounding.quantum
    )
    assert sum(Decimal(line["raw_amount"]) for line in body["lines"]) == raw
    assert body["quote_id"].startswith("q_")


def test_a_quote_from_a_request_body_uses_the_routers_estimate(
    client: TestClient, token: str
) -> None:
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 400}]}
    body = quote(client, token, model="gpt-4o-mini", body={**request, "max_tokens": 10}).json()
    assert body["usage"]["input_tokens"] >= 100 and body["usage"]["output_tokens"] == 10


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"model": "nope/nothing", "usage": {"input_tokens": 1}}, 422, "unknown_model"),
        ({"model": "gpt-4o-mini", "usage": {"bogus_tokens": 1}}, 400, "validation_error"),
        ({"model": "gpt-4o-mini", "usage": {"input_tokens": -5}}, 400, "validation_error"),
        ({"model": "gpt-4o-mini"}, 400, "validation_error"),
        (
            {"model": "gpt-4o-mini", "usage": {"input_tokens": 10, "input_audio_tokens": 10}},
            422,
            "unpriced_model",
        ),
    ],
)
def test_bad_quotes_are_typed_problems(
    client: TestClient, token: str, payload: dict, status: int, code: str
) -> None:
    response = quote(client, token, **payload)
    assert (response.status_code, response.json()["code"]) == (status, code), response.text


def test_the_margin_table_is_the_rules(client: TestClient) -> None:
    table = client.get("/v1/margins").json()
    assert {k: Decimal(v) for k, v in table["margins"].items()} == RULES.margins
    assert Decimal(table["byok_fee_percent"]) == RULES.byok_fee.percent
    assert table["rules_version"] == RULES.version


def test_a_quote_is_settled_at_its_price_through_the_gateway(tmp_path: Path) -> None:
    import openai
    from apikit import serve

    from byokvault.engine.fakeprovider import FakeProvider

    with FakeProvider(accept_any_key=True) as fake:
        app = app_for(tmp_path / "data", provider_base_urls={"openai": fake.base_url("openai")})
        with serve(app) as base:
            import httpx

            token = issue_token(httpx.Client(base_url=base), "q-tenant")
            headers = {"authorization": f"Bearer {token}"}
            secret = {"provider_id": "openai", "label": "k", "secret": "sk-any-0001"}
            httpx.post(base + "/v1/credentials", headers=headers, json=secret)
            made = httpx.post(
                base + "/v1/quote",
                headers=headers,
                json={"model": "gpt-4o-mini", "usage": {"input_tokens": 14, "output_tokens": 6}},
            ).json()
            client = openai.OpenAI(api_key=token, base_url=base + "/v1", max_retries=0)
            messages = [
                {"role": "system", "content": "you are terse"},
                {"role": "user", "content": "say hello to the world"},
            ]  # the fake counts 14 tokens in, 6 out: the quoted usage
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini",
                messages=messages,
                extra_headers={"x-byokvault-quote-id": made["quote_id"]},
            )
            record = app.state.resources.ledger.store.find_record(
                raw.headers["x-byokvault-record-id"]
            )
            assert record["quote_id"] == made["quote_id"]
            assert record["billed_amount"] == Decimal(made["billed_amount"])
            expired = client.chat.completions.with_raw_response
            with pytest.raises(openai.NotFoundError):
                expired.create(
                    model="gpt-4o-mini",
                    messages=messages,
                    extra_headers={"x-byokvault-quote-id": "q_unknown"},
                )


def test_quotes_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    usage = {"input_tokens": 100, "output_tokens": 10}
    with TestClient(app_for(data)) as first:
        token = issue_token(first, "restart-tenant")
        made = quote(first, token, model="gpt-4o-mini", usage=usage).json()
    # Shutdown committed the write-behind queue; a new process finds the quote on disk.
    with TestClient(app_for(data)) as second:
        found = second.app.state.resources.quoter.store.get(made["quote_id"])
        assert found is not None
        assert found.priced.billed.billed_amount == Decimal(made["billed_amount"])


def test_a_warm_quote_runs_no_query_and_sees_a_new_key_at_once(
    client: TestClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = client.app.state.resources
    usage = {"input_tokens": 10, "output_tokens": 5}
    assert quote(client, token, model="openai/gpt-4o", usage=usage).status_code == 200

    def no_query(*args: object, **kwargs: object):
        raise AssertionError("a warm quote must not query DuckDB")

    with monkeypatch.context() as patched:
        patched.setattr(res.vault.repo, "_use", no_query)
        patched.setattr(res, "cursor", no_query)
        patched.setattr(res.quoter.store.durable, "get", no_query)
        warm = quote(client, token, model="openai/gpt-4o", usage=usage)
    assert warm.status_code == 200, warm.text
    assert warm.json()["fund_source"] == "platform"
    added = client.post(
        "/v1/credentials",
        headers={"authorization": f"Bearer {token}"},
        json={"provider_id": "openai", "label": "mine", "secret": "sk-quote-own-key-0001"},
    )
    assert added.status_code == 201, added.text
    # The vault's cache was dropped by the write: the very next quote sees the tenant's key.
    assert quote(client, token, model="openai/gpt-4o", usage=usage).json()["fund_source"] == "byok"
