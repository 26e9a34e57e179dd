"""``byokvault route`` on a small catalog: text and JSON output, exit codes, errors."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from routing_support import model_yaml, provider_yaml, write_catalog

from byokvault.engine.cli import main


@pytest.fixture()
def catalog(tmp_path: Path) -> Path:
    return write_catalog(
        tmp_path / "cat",
        {
            "alpha": provider_yaml(
                "alpha",
                [
                    model_yaml("cheap", prices={"input_tokens": "0.1", "output_tokens": "0.2"}),
                    model_yaml("vision", caps=("text.chat", "vision.single_image")),
                ],
            )
        },
    )


def write(tmp_path: Path, payload: object) -> Path:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(payload))
    return path


BODY = {"messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 100}


def test_text_output(catalog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["route", "--catalog", str(catalog), "--request", str(write(tmp_path, BODY))]
    assert main([*args, "--byok", "alpha"]) == 0
    out = capsys.readouterr().out
    assert "needs: text.chat" in out
    assert "1. alpha/cheap  $0.00003  [byok]" in out  # 100 × 0.1/1M + 100 × 0.2/1M


def test_json_output_and_exclusions(
    catalog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = {"capabilities": ["image input"], "body": BODY}
    args = ["route", "--catalog", str(catalog), "--request", str(write(tmp_path, request))]
    assert main([*args, "--platform", "alpha", "--json"]) == 0
    out = json.loads(capsys.readouterr().out, parse_float=Decimal)
    assert out["requirements"]["capabilities"] == ["text.chat", "vision.single_image"]
    assert [c["model_id"] for c in out["candidates"]] == ["vision"]
    assert out["candidates"][0]["fund_source"] == "platform"
    assert Decimal(out["candidates"][0]["cost"]) == Decimal("0.0003")  # 100 × 1/1M + 100 × 2/1M
    assert out["exclusions"] == [
        {
            "provider_id": "alpha",
            "model_id": "cheap",
            "reasons": ["missing_capability:vision.single_image"],
        }
    ]


def test_no_candidate_exits_1(catalog: Path, tmp_path: Path, capsys) -> None:
    args = ["route", "--catalog", str(catalog), "--request", str(write(tmp_path, BODY))]
    assert main([*args, "--byok", ""]) == 1
    assert "no_usable_credential 2" in capsys.readouterr().out


def test_bad_request_names_the_field(catalog: Path, tmp_path: Path, capsys) -> None:
    path = write(tmp_path, {"capabilities": ["teleportation"]})
    assert main(["route", "--catalog", str(catalog), "--request", str(path)]) == 2
    assert "capabilities: unknown capability 'teleportation'" in capsys.readouterr().err
    path.write_text("{not json")
    assert main(["route", "--catalog", str(catalog), "--request", str(path)]) == 2
