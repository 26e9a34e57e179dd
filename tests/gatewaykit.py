"""A gateway stack for end-to-end tests: the app served by uvicorn on loopback, the fake provider
behind it, a tenant with its own OpenAI and Anthropic keys, and the official SDKs as clients;
the module fixtures every gateway test module shares; the catalog prices and bill checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from apikit import app_for, issue_token, serve
from litestar import Litestar

from byokvault.engine.catalog.load import load_catalog
from byokvault.engine.fakeprovider import FakeProvider
from byokvault.engine.paths import BUNDLED_CATALOG

CATALOG = load_catalog(BUNDLED_CATALOG)
OPENAI_KEY = "sk-openai-tenant-key-1111"
ANTHROPIC_KEY = "sk-ant-tenant-key-2222"
TENANT = "acme"
MILLION = Decimal(1_000_000)
BYOK_PERCENT, BYOK_PER_CALL = Decimal(5), Decimal("0.0002")  # rules/fees.yaml


@dataclass
class Stack:
    app: Litestar
    base: str
    token: str
    fake: FakeProvider

    @property
    def ledger(self):
        return self.app.state.resources.ledger

    def records(self) -> int:
        usage = self.ledger.usage(TENANT)
        return usage[0].records if usage else 0

    def record(self, record_id: str):
        from byokvault.engine.ledger.rows import entry_of

        row = self.ledger.store.find_record(record_id)
        assert row is not None, record_id
        return entry_of(row)

    def last_record(self) -> dict:
        return self.ledger.store.find_record_by_seq(self.ledger.head()[0])

    def openai(self) -> openai.OpenAI:
        return openai.OpenAI(api_key=self.token, base_url=self.base + "/v1", max_retries=0)

    def anthropic(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(api_key=self.token, base_url=self.base, max_retries=0)


@contextmanager
def gateway_stack(data: Path) -> Iterator[Stack]:
    with FakeProvider() as fake:
        fake.add_key(OPENAI_KEY)
        fake.add_key(ANTHROPIC_KEY)
        urls = {"openai": fake.base_url("openai"), "anthropic": fake.base_url("anthropic")}
        app = app_for(data, provider_base_urls=urls)
        with serve(app) as base:
            token = issue_token(httpx.Client(base_url=base), TENANT)
            headers = {"authorization": f"Bearer {token}"}
            for provider, key in (("openai", OPENAI_KEY), ("anthropic", ANTHROPIC_KEY)):
                body = {"provider_id": provider, "label": "own key", "secret": key}
                created = httpx.post(base + "/v1/credentials", headers=headers, json=body)
                assert created.status_code == 201, created.text
            yield Stack(app, base, token, fake)


def price(provider: str, model: str, dimension: str) -> Decimal:
    """The model's standard (unconditioned) catalog price of ``dimension`` per `per` units."""
    entry = next(m for p, m in CATALOG.models() if (p.id, m.id) == (provider, model))
    (row,) = [r for r in entry.prices if r.dimension == dimension and not r.conditions.key()]
    return row.amount


def byok_bill(raw: Decimal) -> Decimal:
    return raw * BYOK_PERCENT / 100 + BYOK_PER_CALL


def check_record(stack: Stack, record_id: str, raw: Decimal, provider: str, model: str) -> None:
    entry = stack.record(record_id)
    assert (entry.record.provider_id, entry.record.model_id) == (provider, model)
    assert entry.record.tenant_id == TENANT and entry.record.fund_source == "byok"
    assert entry.record.pricing.raw_cost == raw
    assert entry.record.pricing.billed_amount == byok_bill(raw)


# The fixtures of a gateway test module (import them: ``from gatewaykit import stack,
# fresh_fake``): one stack per module, the fake provider's behaviours and log reset per test.
@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with gateway_stack(tmp_path_factory.mktemp("gateway") / "data") as served:
        yield served


@pytest.fixture(autouse=True)
def fresh_fake(stack: Stack) -> None:
    stack.fake.reset()
