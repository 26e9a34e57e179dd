"""The committed JSON Schema is what the pydantic models generate, and every file names it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from byokvault.engine.catalog.schema import (
    DOCUMENTS,
    REGENERATE,
    SCHEMA_DIR,
    files_without_schema_comment,
    schema_file,
    schema_text,
    write_schemas,
)
from byokvault.engine.cli import main


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_committed_schema_is_generated(bundled_catalog: Path, name: str) -> None:
    path = bundled_catalog / SCHEMA_DIR / schema_file(name)
    committed = path.read_text(encoding="utf-8") if path.is_file() else "(missing)"
    assert committed == schema_text(name), f"{path} is stale: regenerate it with `{REGENERATE}`"


def test_every_bundled_file_names_its_schema(bundled_catalog: Path) -> None:
    missing = files_without_schema_comment(bundled_catalog)
    assert missing == [], (
        "first line must be `# yaml-language-server: $schema=...` "
        f"(`{REGENERATE}` prints the expected line): {missing}"
    )


def test_schema_forbids_unknown_keys_and_describes_prices() -> None:
    provider = json.loads(schema_text("provider"))
    assert provider["additionalProperties"] is False
    price_row = provider["$defs"]["PriceRow"]
    assert price_row["additionalProperties"] is False
    assert set(price_row["required"]) == {"dimension", "amount", "effective_from", "provenance"}


def test_schema_command_writes_files_and_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = tmp_path / "catalog"
    (catalog / "providers").mkdir(parents=True)
    (catalog / "units.yaml").write_text(
        "# yaml-language-server: $schema=schema/units.schema.json\n"
    )
    (catalog / "capabilities.yaml").write_text("classes: []\n")
    (catalog / "providers" / "acme.yaml").write_text(
        "# yaml-language-server: $schema=../schema/provider.schema.json\nid: acme\n"
    )
    assert main(["catalog", "schema", "--catalog", str(catalog)]) == 0
    err = capsys.readouterr().err
    assert err == (
        "warning: capabilities.yaml: first line should be "
        "`# yaml-language-server: $schema=schema/capabilities.schema.json`\n"
    )
    assert sorted(p.name for p in (catalog / SCHEMA_DIR).iterdir()) == [
        "capabilities.schema.json",
        "provider.schema.json",
        "units.schema.json",
    ]
    assert write_schemas(catalog)[0].read_text() == schema_text("provider")
