import json
from decimal import Decimal
from pathlib import Path

from test_pricing_support import ACME, HOMELAB, write_catalog

from byokvault.engine.cli import main
from byokvault.engine.pricing.rules import load_rules


def run_price(tmp_path: Path, lines: list[str]) -> list[dict]:
    catalog = write_catalog(tmp_path / "catalog", {"acme": ACME, "homelab": HOMELAB})
    src, out = tmp_path / "usage.jsonl", tmp_path / "priced.jsonl"
    src.write_text("\n".join(lines) + "\n")
    assert (
        main(["price", "--catalog", str(catalog), "--input", str(src), "--output", str(out)]) == 0
    )
    return [json.loads(line, parse_float=Decimal) for line in out.read_text().splitlines()]


def test_price_batch_keeps_order_and_reports_bad_lines(tmp_path: Path) -> None:
    good = {
        "provider": "acme",
        "model": "chat-2024",  # an alias
        "at": "2025-01-01T00:00:00Z",
        "usage": {"input_tokens": 1000, "cache_read_tokens": 400, "output_tokens": 10},
        "context": {"service_tier": "flex"},
    }
    lines = [
        json.dumps(good),
        json.dumps({**good, "model": "missing"}),
        "{broken",
        json.dumps({**good, "usage": {"input_tokens": -5}}),
        json.dumps({**good, "usage": {"output_images": 2}}),
        json.dumps({**good, "context": {"tier": "flex"}}),
        json.dumps({**good, "at": "yesterday"}),
        json.dumps({**good, "context": {}, "model": "chat"}),
    ]
    out = run_price(tmp_path, lines)
    assert len(out) == len(lines)
    first = out[0]
    assert first["error"] is None and first["currency"] == "USD" and first["model"] == "chat"
    # flex input 0.5/M on 600 uncached, standard cache read 0.1/M on 400, flex output 2/M on 10
    assert Decimal(first["total"]) == (600 * Decimal("0.5") + 400 * Decimal("0.1") + 20) / 10**6
    assert [i["dimension"] for i in first["line_items"]] == [
        "input_tokens",
        "cache_read_tokens",
        "output_tokens",
    ]
    assert sum(Decimal(i["amount"]) for i in first["line_items"]) == Decimal(first["total"])
    assert first["line_items"][0]["conditions"] == {"service_tier": "flex"}
    errors = [o["error"] for o in out[1:7]]
    assert all(o["total"] is None for o in out[1:7])
    assert "line 2: unknown model 'missing'" in errors[0]
    assert errors[1].startswith("line 3: not JSON")
    assert "input_tokens is negative" in errors[2]
    assert "output_images is unpriced" in errors[3]
    assert "context" in errors[4]
    assert "ISO-8601" in errors[5]
    assert out[7]["error"] is None  # the batch went on


def test_rules_show_prints_the_margin_table(capsys) -> None:
    assert main(["rules", "show"]) == 0
    text = capsys.readouterr().out
    rules = load_rules()
    for cls, factor in rules.margins.items():
        line = next(x for x in text.splitlines() if x.startswith(cls + " "))
        assert f"{factor}x" in line and f"{factor - 1}" in line
    assert rules.version in text and "BYOK" in text
