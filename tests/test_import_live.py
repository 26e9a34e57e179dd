"""Live sync without a server: atomic swaps, failures change nothing, off by default."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from byokvault.engine.catalog.load import Catalog, load_catalog
from byokvault.engine.importers.genai_prices import import_genai_prices
from byokvault.engine.importers.live import CatalogHolder, CatalogSyncer, interval_from_env
from byokvault.engine.importers.run import apply_imports

FIXTURE = Path(__file__).parent / "fixtures" / "import" / "genai_prices_small.json"


def _input_price(catalog: Catalog) -> Decimal:
    model = catalog.provider("xai").models[0]
    rows = [r for r in model.prices if r.dimension == "input_tokens"]
    return max(rows, key=lambda r: r.effective_from).amount


@pytest.fixture()
def setup(tmp_path: Path):
    catalog_dir = tmp_path / "catalog"
    apply_imports(catalog_dir, [import_genai_prices(FIXTURE)])
    source = tmp_path / "genai.json"
    source.write_text(FIXTURE.read_text())
    holder = CatalogHolder(load_catalog(catalog_dir))
    return catalog_dir, source, holder


def _reprice(source: Path, amount: float) -> None:
    data = json.loads(source.read_text())
    data[2]["models"][0]["prices"]["input_mtok"] = amount
    source.write_text(json.dumps(data))


def test_sync_swaps_new_version_and_old_readers_keep_theirs(setup) -> None:
    catalog_dir, source, holder = setup
    quote_catalog = holder.get()  # a quote issued before the sync holds this version
    syncer = CatalogSyncer(
        catalog_dir,
        lambda d: holder.swap(load_catalog(d)),
        locations={"genai-prices": str(source)},
    )
    _reprice(source, 0.25)
    run = syncer.sync_once()
    assert run.ok and run.changed == {"xai"}
    assert holder.swaps == 1
    assert _input_price(holder.get()) == Decimal("0.25")
    assert _input_price(quote_catalog) == Decimal("0.2")  # unchanged for the earlier quote
    assert holder.get().version != quote_catalog.version


def test_unchanged_source_does_not_swap(setup) -> None:
    catalog_dir, source, holder = setup
    syncer = CatalogSyncer(
        catalog_dir, lambda d: holder.swap(load_catalog(d)), locations={"genai-prices": str(source)}
    )
    assert syncer.sync_once().ok
    assert holder.swaps == 0


def test_failed_fetch_changes_nothing(setup) -> None:
    catalog_dir, source, holder = setup
    before = {p.name: p.read_bytes() for p in (catalog_dir / "providers").iterdir()}
    source.write_text("{not json")
    syncer = CatalogSyncer(
        catalog_dir, lambda d: holder.swap(load_catalog(d)), locations={"genai-prices": str(source)}
    )
    run = syncer.sync_once()
    assert not run.ok and "genai-prices" in (run.error or "")
    assert holder.swaps == 0
    assert {p.name: p.read_bytes() for p in (catalog_dir / "providers").iterdir()} == before


def test_schedule_is_off_by_default_and_runs_when_set(setup, monkeypatch) -> None:
    catalog_dir, source, holder = setup
    monkeypatch.delenv("BYOKVAULT_CATALOG_SYNC_INTERVAL", raising=False)
    assert interval_from_env() is None
    off = CatalogSyncer(catalog_dir, holder.swap, locations={"genai-prices": str(source)})
    assert off.start() is False
    monkeypatch.setenv("BYOKVAULT_CATALOG_SYNC_INTERVAL", "0.05")
    swapped = threading.Event()

    def on_change(d: Path) -> None:
        holder.swap(load_catalog(d))
        swapped.set()

    on = CatalogSyncer(
        catalog_dir,
        on_change,
        locations={"genai-prices": str(source)},
        interval=interval_from_env(),
    )
    _reprice(source, 0.3)
    assert on.start() is True
    try:
        assert swapped.wait(20)
        deadline = time.monotonic() + 20
        while len(on.runs) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        on.stop()
    assert len(on.runs) >= 2 and all(r.ok for r in on.runs)
    assert _input_price(holder.get()) == Decimal("0.3")
