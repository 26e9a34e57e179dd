"""Writing imported catalogs: complete directories, append-only rows, curated text kept,
all-or-nothing writes, YAML that reads back exactly."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from byokvault.engine.catalog.load import load_catalog
from byokvault.engine.catalog.yamlio import parse_yaml
from byokvault.engine.cli import main
from byokvault.engine.importers.genai_prices import import_genai_prices
from byokvault.engine.importers.run import apply_imports
from byokvault.engine.importers.writer import scalar
from byokvault.engine.paths import BUNDLED_CATALOG

FIXTURE = Path(__file__).parent / "fixtures" / "import" / "genai_prices_small.json"
CURATED = Path(__file__).parent / "fixtures" / "import" / "curated_openai.yaml"
T1 = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
T2 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def _files(catalog: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((catalog / "providers").glob("*.yaml"))}


def test_import_into_empty_dir_makes_a_complete_catalog(tmp_path: Path, capsys) -> None:
    dest = tmp_path / "new"
    code = main(["catalog", "import", "genai-prices", "--from", str(FIXTURE), "--into", str(dest)])
    assert code == 0
    for name in ("units.yaml", "capabilities.yaml", "sources.yaml"):
        assert (dest / name).is_file()
    catalog = load_catalog(dest)
    assert {p.id for p in catalog.providers} == {"anthropic", "deepseek", "xai"}
    assert main(["catalog", "validate", "--catalog", str(dest)]) == 0
    assert "New models: 5" in capsys.readouterr().out


def test_reimport_of_same_data_changes_nothing(tmp_path: Path) -> None:
    apply_imports(tmp_path, [import_genai_prices(FIXTURE, recorded_at=T1)], now=T1)
    before = _files(tmp_path)
    outcome = apply_imports(tmp_path, [import_genai_prices(FIXTURE, recorded_at=T2)], now=T2)
    assert outcome.changed == set()
    assert _files(tmp_path) == before


def test_changed_current_price_appends_a_row(tmp_path: Path) -> None:
    apply_imports(tmp_path, [import_genai_prices(FIXTURE, recorded_at=T1)], now=T1)
    data = json.loads(FIXTURE.read_text())
    data[1]["models"][0]["prices"][0]["prices"]["output_mtok"] = 0.6  # deepseek off-peak output
    outcome = apply_imports(tmp_path, [import_genai_prices(data, recorded_at=T2)], now=T2)
    assert outcome.changed == {"deepseek"}
    model = load_catalog(tmp_path).provider("deepseek").models[0]
    output = [
        (r.effective_from, r.amount)
        for r in model.prices
        if r.dimension == "output_tokens" and r.conditions.time_window is None
    ]
    assert output == [(datetime(1970, 1, 1, tzinfo=UTC), Decimal("0.55")), (T2, Decimal("0.6"))]


def test_curated_entries_are_kept_byte_for_byte(tmp_path: Path) -> None:
    catalog = tmp_path / "cat"
    (catalog / "providers").mkdir(parents=True)
    for name in ("units.yaml", "capabilities.yaml", "sources.yaml"):
        shutil.copy(BUNDLED_CATALOG / name, catalog / name)
    curated_text = CURATED.read_text()
    (catalog / "providers" / "openai.yaml").write_text(curated_text)
    curated_model = load_catalog(catalog).provider("openai").models[0]
    data = [
        {
            "id": "openai",
            "name": "OpenAI",
            "pricing_urls": [],
            "api_pattern": "https://api\\.openai\\.com",
            "models": [
                {  # the curated model, priced differently by the source
                    "id": "gpt-4o-mini",
                    "match": {"equals": "gpt-4o-mini"},
                    "prices": {"input_mtok": 99, "output_mtok": 0.6},
                },
                {
                    "id": "a-new-model",
                    "match": {"equals": "a-new-model"},
                    "prices": {"input_mtok": 1},
                },
                {
                    "id": "zz-new-model",
                    "match": {"equals": "zz-new-model"},
                    "prices": {"input_mtok": 2},
                },
            ],
        }
    ]
    outcome = apply_imports(catalog, [import_genai_prices(data, recorded_at=T1)], now=T1)
    text = (catalog / "providers" / "openai.yaml").read_text()
    header, entry = curated_text.split("  # the curated entry")
    assert text.startswith(header)
    assert "  # the curated entry" + entry in text  # comments and all
    after = load_catalog(catalog).provider("openai")
    assert [m.id for m in after.models] == ["a-new-model", "gpt-4o-mini", "zz-new-model"]
    assert after.models[1] == curated_model
    (conflict,) = outcome.conflicts
    assert (conflict.winner, conflict.winner_amount, conflict.other, conflict.other_amount) == (
        "curated",
        Decimal("0.15"),
        "genai-prices",
        Decimal(99),
    )


def test_failed_source_changes_nothing(tmp_path: Path, capsys) -> None:
    apply_imports(tmp_path, [import_genai_prices(FIXTURE, recorded_at=T1)], now=T1)
    before = _files(tmp_path)
    bad = tmp_path / "broken.json"
    bad.write_text('[{"id": "x", "models": [')  # a truncated download
    code = main(
        [
            "catalog",
            "sync",
            "--catalog",
            str(tmp_path),
            "--from",
            f"genai-prices={FIXTURE}",
            "--from",
            f"litellm={bad}",
        ]
    )
    assert code == 1
    assert "catalog unchanged" in capsys.readouterr().out
    assert _files(tmp_path) == before


def test_validation_failure_before_swap_leaves_catalog(tmp_path: Path) -> None:
    apply_imports(tmp_path, [import_genai_prices(FIXTURE, recorded_at=T1)], now=T1)
    before = _files(tmp_path)
    from byokvault.engine.importers import writer

    def refuse(_: Path) -> None:
        raise RuntimeError("validation failed")

    outcome_data = json.loads(FIXTURE.read_text())
    outcome_data[2]["models"][0]["prices"]["input_mtok"] = 7
    from byokvault.engine.importers.reconcile import merge
    from byokvault.engine.importers.run import existing_providers
    from byokvault.engine.importers.sources import load_sources

    outcome = merge(
        existing_providers(tmp_path),
        [import_genai_prices(outcome_data, recorded_at=T2)],
        load_sources(),
        T2,
    )
    with pytest.raises(RuntimeError):
        writer.write_providers(
            tmp_path, outcome.providers, outcome.changed, outcome.curated, refuse
        )
    assert _files(tmp_path) == before
    assert not list(tmp_path.glob(".import-*"))


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_scalar_reads_back_as_the_same_string(text: str) -> None:
    doc = parse_yaml(f"a: {scalar(text)}\nb: [{scalar(text)}, x]\n", "t.yaml")
    assert doc["a"] == text
    assert doc["b"][0] == text


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=0, max_value=10**6, places=12, allow_nan=False))
def test_amounts_read_back_exactly(amount: Decimal) -> None:
    doc = parse_yaml(f"amount: {scalar(amount)}\n", "t.yaml")
    assert Decimal(doc["amount"]) == amount


def test_review_diff_is_the_catalog_diff_of_the_change(tmp_path: Path, capsys) -> None:
    """The printed review diff is ``diff_catalogs`` between the catalog before and after: a
    repriced model shows old → new and the change; nothing is rewritten."""
    from byokvault.engine.catalog.diff import diff_catalogs

    catalog = tmp_path / "cat"
    apply_imports(catalog, [import_genai_prices(FIXTURE, recorded_at=T1)], now=T1)
    base = load_catalog(catalog)
    data = json.loads(FIXTURE.read_text())
    data[1]["models"][0]["prices"][0]["prices"]["output_mtok"] = 0.66  # deepseek, was 0.55
    source = tmp_path / "repriced.json"
    source.write_text(json.dumps(data))
    capsys.readouterr()
    code = main(
        ["catalog", "import", "genai-prices", "--from", str(source), "--into", str(catalog)]
    )
    out = capsys.readouterr().out
    assert code == 0
    expected = diff_catalogs(base, load_catalog(catalog))
    assert [p.kind for p in expected.prices] == ["added"]
    assert expected.to_markdown() in out
    assert "price rows added: 1, rewritten: 0, removed: 0" in out
    assert "| 0.55 | 0.66 | +20.00% |" in out
