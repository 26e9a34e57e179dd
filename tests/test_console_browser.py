"""The console end to end in headless Chromium (Debian's package, driven by Playwright):
sign in, connect a key and check it against the fake provider, run a quote, make a call through
the gateway with the official openai SDK, and see the receipt and the spend chart appear.
Screenshots of each page are saved to $BYOKVAULT_SCREENSHOTS (default: tests/screenshots/).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from apikit import admin_headers, app_for, serve

from byokvault.engine.fakeprovider import FakeProvider

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(os.environ.get("BYOKVAULT_SCREENSHOTS", Path(__file__).parent / "screenshots"))
PROVIDER_KEY = "sk-fake-console-e2e-K3y9"

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        provider.add_key(PROVIDER_KEY)
        yield provider


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake: FakeProvider) -> Iterator[str]:
    urls = {style: fake.base_url(style) for style in ("openai", "anthropic")}
    app = app_for(tmp_path_factory.mktemp("browser") / "data", provider_base_urls=urls)
    with serve(app) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[object]:
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        tab = browser.new_page(viewport={"width": 1200, "height": 900}, base_url=server)
        yield tab
        browser.close()


def shot(page: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def tenant_token(server: str, tenant: str) -> str:
    response = httpx.post(f"{server}/v1/admin/tenants/{tenant}/tokens", headers=admin_headers())
    response.raise_for_status()
    return response.json()["token"]


def test_connect_a_key_quote_call_and_see_the_receipt(server: str, page: object) -> None:
    token = tenant_token(server, "browser-co")

    page.goto("/console/keys")
    assert "/console/signin" in page.url
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    assert page.url.endswith("/console/keys")

    page.select_option("select[name=provider_id]", "openai")
    page.fill("input[name=label]", "e2e")
    page.fill("input[name=secret]", PROVIDER_KEY)
    page.click("form[action='/console/keys'] button")
    row = page.locator("tr", has_text="e2e")
    assert row.locator("code").inner_text() == "…" + PROVIDER_KEY[-4:]
    assert PROVIDER_KEY not in page.content()
    row.locator("button", has_text="Check").click()
    assert page.locator("tr", has_text="e2e").locator("[data-status]").inner_text() == "active"
    shot(page, "keys")

    page.goto("/console/catalog?capability=vision.single_image")
    assert page.locator("tbody tr").count() > 0
    shot(page, "catalog")
    page.goto("/console/catalog/openai/gpt-4o-mini")
    assert page.locator("h1").inner_text() == "GPT-4o mini"
    shot(page, "model")

    page.goto("/console/quote")
    page.fill("input[name=capabilities]", "vision, tools")
    page.fill("input[name=input_tokens]", "2000")
    page.fill("input[name=output_tokens]", "500")
    page.click("form button[type=submit]")
    ranked = page.locator("table#candidates tbody tr")
    assert ranked.count() > 0
    assert page.locator("table#excluded tbody tr").count() > 0
    shot(page, "quote")

    page.goto("/console/usage")
    assert "No receipts yet" in page.content()

    from openai import OpenAI

    client = OpenAI(base_url=f"{server}/v1", api_key=token, max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there console"}]
    )
    assert reply.choices[0].message.content

    page.goto("/console/usage")
    receipts = page.locator("tr[data-record]")
    assert receipts.count() == 1
    assert "openai/gpt-4o-mini" in receipts.first.inner_text()
    assert page.locator("td[data-records]").first.inner_text() == "1"
    charts = page.locator("svg.chart")
    assert charts.count() >= 3
    assert re.search(r"\$0\.\d+", charts.first.inner_html())
    shot(page, "usage")
