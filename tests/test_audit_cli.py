"""``byokvault audit NAME`` over sealed segments and the bundled catalog."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from byokvault.engine.cli import main
from byokvault.engine.ledger import Ledger
from byokvault.engine.ledger.segments import read_manifest, seal
from byokvault.engine.ledger.synthetic import make_record


@pytest.fixture()
def sealed(tmp_path: Path) -> Path:
    segs = tmp_path / "segments"
    with Ledger(tmp_path / "ledger.duckdb") as ledger:
        for i in range(6):
            ledger.append(make_record(i, tenant_id="acme" if i % 2 else "globex"))
        seal(ledger.store, segs, max_rows=4)
    return segs


def test_audit_report_as_json(sealed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["audit", "spend", "--format", "json", "--segments", str(sealed)])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {r["tenant_id"]: r["charges"] for r in rows} == {"acme": 3, "globex": 3}
    billed = sum(Decimal(r["billed_amount"]) for r in rows)
    expected = sum(make_record(i).pricing.billed_amount for i in range(6))
    assert billed == expected


def test_audit_filters_with_set(sealed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["audit", "receipts", "--format", "csv", "--segments", str(sealed)]
    assert main([*args, "--set", "tenant=acme", "--set", "month=2026-01-01"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("seq,record_id,tenant_id")
    assert [line.split(",")[2] for line in lines[1:]] == ["acme"] * 3


def test_a_failing_check_exits_nonzero(sealed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the synthetic records cite price rows the bundled catalog does not have
    assert main(["audit", "snapshot_consistency", "--segments", str(sealed)]) == 1
    captured = capsys.readouterr()
    assert "price row not in the catalog" in captured.out
    assert "problem(s)" in captured.err
    assert main(["audit", "duplicates", "--segments", str(sealed)]) == 0


def test_audit_refuses_an_altered_segment(sealed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    victim = sealed / read_manifest(sealed)[0].file
    data = bytearray(victim.read_bytes())
    data[100] ^= 0xFF
    victim.write_bytes(bytes(data))
    assert main(["audit", "spend", "--segments", str(sealed)]) == 1
    assert "refusing to audit" in capsys.readouterr().err
