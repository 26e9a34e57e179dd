"""A bounded schemathesis run against the committed OpenAPI document: whatever the generated
request, the API answers without a 5xx (bad input is a 4xx problem). The app is served by
uvicorn on loopback; gateway calls reach the fake provider."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from apikit import ADMIN_TOKEN, app_for, issue_token, serve
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from byokvault.api.openapi import COMMITTED
from byokvault.engine.fakeprovider import FakeProvider

schema = schemathesis.openapi.from_path(str(COMMITTED))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with FakeProvider(accept_any_key=True) as fake:
        urls = {"openai": fake.base_url("openai"), "anthropic": fake.base_url("anthropic")}
        app = app_for(tmp_path_factory.mktemp("fuzz") / "data", provider_base_urls=urls)
        with serve(app) as base:
            token = issue_token(httpx.Client(base_url=base), "fuzz-tenant")
            for provider in ("openai", "anthropic"):
                body = {"provider_id": provider, "label": "k", "secret": f"sk-{provider}-fuzz"}
                httpx.post(
                    base + "/v1/credentials",
                    headers={"authorization": f"Bearer {token}"},
                    json=body,
                )
            yield base, token


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_input_makes_a_server_error(case: schemathesis.Case, served: tuple[str, str]) -> None:
    base, token = served
    admin = case.path.startswith("/v1/admin")
    headers = {"authorization": f"Bearer {ADMIN_TOKEN if admin else token}"}
    response = case.call(base_url=base, headers=headers, timeout=10)
    case.validate_response(response, checks=[not_a_server_error])
