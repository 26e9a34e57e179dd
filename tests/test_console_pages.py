"""Console pages rendered from a small catalog with a price change, through a real app."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from byokvault.api.console.catalog_views import CatalogViews, conditions_label
from byokvault.api.console.charts import Series, step_chart
from byokvault.api.console.routes import STATE_KEY, console_router, template_config
from byokvault.engine.catalog.store import open_catalog
from byokvault.engine.paths import BUNDLED_CATALOG

PROVIDER = """\
id: acme
name: Acme AI
kind: cloud
api_style: openai-compatible
base_url: https://api.acme.test/v1
auth: {scheme: bearer}
models:
  - id: acme-large
    name: Acme Large
    mode: chat
    modalities: {input: [text, image], output: [text]}
    capabilities: [text.chat, vision.multi_image]
    limits: {context_window: 200000}
    prices:
      - dimension: input_tokens
        amount: 3
        effective_from: 2024-01-01T00:00:00Z
        provenance: {source: test, recorded_at: 2024-01-01T00:00:00Z}
      - dimension: input_tokens
        amount: 2.5
        effective_from: 2025-03-01T00:00:00Z
        provenance: {source: test, recorded_at: 2025-03-01T00:00:00Z}
      - dimension: input_tokens
        amount: 6
        effective_from: 2024-01-01T00:00:00Z
        conditions: {long_context: {threshold: 128000, inclusive: false}}
        provenance: {source: test, recorded_at: 2024-01-01T00:00:00Z}
      - dimension: output_tokens
        amount: 15
        effective_from: 2024-01-01T00:00:00Z
        provenance: {source: test, recorded_at: 2024-01-01T00:00:00Z}
  - id: acme-small
    name: Acme Small
    mode: chat
    modalities: {input: [text], output: [text]}
    capabilities: [text.chat]
    prices:
      - dimension: input_tokens
        amount: 0.1
        effective_from: 2024-01-01T00:00:00Z
        provenance: {source: test, recorded_at: 2024-01-01T00:00:00Z}
      - dimension: output_tokens
        amount: 0.4
        effective_from: 2024-01-01T00:00:00Z
        provenance: {source: test, recorded_at: 2024-01-01T00:00:00Z}
  - id: acme-unpriced
    name: Acme Unpriced
    mode: chat
    modalities: {input: [text], output: [text]}
"""


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[TestClient]:
    root = tmp_path / "catalog"
    (root / "providers").mkdir(parents=True)
    for name in ("units.yaml", "capabilities.yaml"):
        shutil.copy(BUNDLED_CATALOG / name, root / name)
    (root / "providers" / "acme.yaml").write_text(PROVIDER)
    catalog, con = open_catalog(root, tmp_path / "snapshots")
    app = Litestar(route_handlers=[console_router()], template_config=template_config())
    app.state[STATE_KEY] = CatalogViews(catalog, con)
    with TestClient(app) as test_client:
        yield test_client


def test_model_page_charts_the_price_history_with_exact_amounts(client: TestClient) -> None:
    page = client.get("/console/catalog/acme/acme-large")
    assert page.status_code == 200
    charts = re.findall(r"<svg.*?</svg>", page.text, flags=re.S)
    assert len(charts) == 1, "only input_tokens has a price change, so only it is charted"
    assert "$3 from 2024-01-01" in charts[0] and "$2.5 from 2025-03-01" in charts[0]
    assert "standard, input &gt; 128,000 tokens" in page.text
    assert page.text.count('class="current"') == 3  # 2.5 standard, 6 long-context, 15 output


def test_catalog_filters_by_capability_and_sorts_by_request_cost(client: TestClient) -> None:
    vision = client.get("/console/catalog", params={"capability": "vision.single_image"})
    assert "Acme Large" in vision.text and "Acme Small" not in vision.text
    ranked = client.get("/console/catalog", params={"input_tokens": "1000", "output_tokens": "10"})
    order = re.findall(r'href="/console/catalog/acme/([a-z-]+)"', ranked.text)
    assert order == ["acme-small", "acme-large", "acme-unpriced"], "unpriced sorts last"


def test_bad_filter_input_is_explained_not_a_server_error(client: TestClient) -> None:
    page = client.get("/console/catalog", params={"max_input_price": "cheap", "capability": "x.y"})
    assert page.status_code == 200
    assert "max_input_price: &#39;cheap&#39; is not a non-negative number" in page.text
    assert "capability: &#39;x.y&#39; is not in the taxonomy" in page.text
    assert client.get("/console/catalog/acme/nope").status_code == 404


def test_unpriced_model_says_it_cannot_be_quoted(client: TestClient) -> None:
    assert "cannot be quoted" in client.get("/console/catalog/acme/acme-unpriced").text


def test_step_chart_draws_one_step_per_price() -> None:
    t = [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC)]
    svg = step_chart("x", [Series("std", [(t[0], Decimal("3")), (t[1], Decimal("1.5"))])], t[1])
    assert svg.count("<circle") == 2
    path = re.search(r'<path d="([^"]+)"', svg)
    assert path is not None and path.group(1).count("H") == 2


def test_conditions_label_states_inclusivity() -> None:
    row = {"conditions_key": '{"long_context":{"inclusive":true,"threshold":200000}}'}
    assert conditions_label(row) == "standard, input ≥ 200,000 tokens"
