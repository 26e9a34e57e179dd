"""The review diff: ``diff_catalogs`` and ``byokvault catalog diff``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from catalog_kit import ACME, commit_all, init_repo, write_catalog

from byokvault.engine.catalog.diff import PriceChange, diff_catalogs
from byokvault.engine.catalog.load import load_catalog
from byokvault.engine.cli import main

PRICE_CUT = """\
      - dimension: input_tokens
        amount: 1
        effective_from: 2025-06-01T00:00:00Z
        provenance: {source: https://acme.test/pricing, recorded_at: 2025-06-01T00:00:00Z}
"""
GAMMA = """\
  - id: gamma
    name: Gamma | G
    mode: chat
    modalities: {input: [text], output: [text]}
    prices:
      - dimension: input_tokens
        amount: 0
        effective_from: 2025-01-01T00:00:00Z
        provenance: {source: https://acme.test/pricing, recorded_at: 2025-01-02T00:00:00Z}
"""


def _head_text() -> str:
    text = ACME.replace("  - id: beta\n", PRICE_CUT + "  - id: beta\n")
    text = text.replace("capabilities: [text.chat]", "capabilities: [vision.multi_image]")
    return text + GAMMA


def _catalogs(tmp_path: Path) -> tuple[Path, Path]:
    return write_catalog(tmp_path / "base"), write_catalog(
        tmp_path / "head", {"acme": _head_text()}
    )


def test_diff_lists_price_model_and_capability_changes(tmp_path: Path) -> None:
    base, head = _catalogs(tmp_path)
    diff = diff_catalogs(load_catalog(base), load_catalog(head))
    cut = datetime(2025, 6, 1, tzinfo=UTC)
    jan = datetime(2025, 1, 1, tzinfo=UTC)
    assert diff.prices == (
        PriceChange(
            "added", "acme", "alpha", "input_tokens", "{}", cut, Decimal("1.25"), Decimal(1)
        ),
        PriceChange("added", "acme", "gamma", "input_tokens", "{}", jan, None, Decimal(0)),
    )
    assert diff.prices[0].percent == Decimal("-20.00")
    assert [(m.kind, m.model_id, m.name) for m in diff.models] == [("added", "gamma", "Gamma | G")]
    [cap] = diff.capabilities
    assert (cap.model_id, cap.added, cap.removed) == (
        "alpha",
        ("vision.multi_image",),
        ("text.chat",),
    )


def test_reverse_diff_shows_removals(tmp_path: Path) -> None:
    base, head = _catalogs(tmp_path)
    diff = diff_catalogs(load_catalog(head), load_catalog(base))
    assert [(p.kind, p.model_id, p.old, p.new) for p in diff.prices] == [
        ("removed", "alpha", Decimal(1), None),
        ("removed", "gamma", Decimal(0), None),
    ]
    assert [m.kind for m in diff.models] == ["removed"]


def test_rewritten_row_shows_as_rewritten(tmp_path: Path) -> None:
    base = load_catalog(write_catalog(tmp_path / "base"))
    head = load_catalog(
        write_catalog(tmp_path / "head", {"acme": ACME.replace("amount: 0.04", "amount: 0.05")})
    )
    [change] = diff_catalogs(base, head).prices
    assert (change.kind, change.old, change.new, change.percent) == (
        "rewritten",
        Decimal("0.04"),
        Decimal("0.05"),
        Decimal("25.00"),
    )
    assert change.conditions == '{"image_quality": "hd", "image_size": "1024x1024"}'


def test_markdown_table(tmp_path: Path) -> None:
    base, head = _catalogs(tmp_path)
    text = diff_catalogs(load_catalog(base), load_catalog(head)).to_markdown()
    assert (
        "| acme | `alpha` | input_tokens (USD per 1M tokens) |  | 2025-06-01T00:00:00Z "
        "| 1.25 | 1 | -20.00% |"
    ) in text.splitlines()
    assert "| added | acme | `gamma` | Gamma \\| G |" in text.splitlines()
    assert "| acme | `alpha` | `vision.multi_image` | `text.chat` |" in text.splitlines()
    # Prices of added models are folded away after the changes to existing ones.
    folded = text.split("<summary>Prices of added models (1 rows)</summary>")[1]
    assert "| acme | `gamma` | input_tokens (USD per 1M tokens) |" in folded
    assert "`gamma`" not in text.split("### Models")[0]


def test_empty_diff(tmp_path: Path) -> None:
    base = load_catalog(write_catalog(tmp_path / "base"))
    diff = diff_catalogs(base, base)
    assert diff.is_empty()
    assert "No price, model or capability changes." in diff.to_markdown()


def test_json_amounts_are_decimal_strings(tmp_path: Path) -> None:
    base, head = _catalogs(tmp_path)
    data = json.loads(diff_catalogs(load_catalog(base), load_catalog(head)).to_json())
    first = data["prices"][0]
    assert first == {
        "kind": "added",
        "provider_id": "acme",
        "model_id": "alpha",
        "dimension": "input_tokens",
        "conditions": {},
        "effective_from": "2025-06-01T00:00:00Z",
        "old": "1.25",
        "new": "1",
        "percent": "-20.00",
    }
    assert data["capabilities"][0]["removed"] == ["text.chat"]


def test_cli_diff_against_git_ref(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    init_repo(repo)
    catalog = write_catalog(repo / "catalog")
    commit_all(repo)
    (catalog / "providers" / "acme.yaml").write_text(_head_text())
    assert main(["catalog", "diff", "main", "--catalog", str(catalog)]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("## Catalog diff `")
    assert "| 1.25 | 1 | -20.00% |" in markdown
    commit_all(repo, "cut")
    assert main(["catalog", "diff", "HEAD~1", "HEAD", "--catalog", str(catalog), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["model_id"] for p in data["prices"]] == ["alpha", "gamma"]
    assert main(["catalog", "diff", "nope", "--catalog", str(catalog)]) == 2
    assert "nope: not a directory, and not a git ref" in capsys.readouterr().err


def test_cli_diff_names_problems_of_the_base_by_its_ref(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write_catalog(tmp_path / "base", {"acme": ACME.replace("mode: chat", "mode: chatty")})
    head = write_catalog(tmp_path / "head")
    assert main(["catalog", "diff", str(base), "--catalog", str(head)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {base}:base/providers/acme.yaml:10:11: models.0.mode: ")
