"""JSON Schema for the catalog files, generated from the pydantic models in ``model.py``.

The generated files are committed under ``catalog/schema/`` and every YAML file names its schema
in a first-line comment (``# yaml-language-server: $schema=...``), so editors complete keys and
flag mistakes while a price change is being written. A test keeps the committed files equal to
what ``byokvault catalog schema`` generates.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from .load import CAPABILITIES_FILE, PROVIDERS_DIR, UNITS_FILE
from .model import CapabilityTaxonomy, Provider, UnitRegistry

SCHEMA_DIR = "schema"
REGENERATE = "byokvault catalog schema"

# schema name -> (model, title)
DOCUMENTS: dict[str, tuple[type[BaseModel], str]] = {
    "provider": (Provider, "ByokVault catalog provider file (catalog/providers/<id>.yaml)"),
    "units": (UnitRegistry, "ByokVault unit registry (catalog/units.yaml)"),
    "capabilities": (
        CapabilityTaxonomy,
        "ByokVault capability taxonomy (catalog/capabilities.yaml)",
    ),
}


def schema_file(name: str) -> str:
    return f"{name}.schema.json"


def schema_text(name: str) -> str:
    """The JSON Schema document ``name`` as committed (stable key order, trailing newline)."""
    model, title = DOCUMENTS[name]
    schema = model.model_json_schema(by_alias=True, mode="validation")
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": f"Generated from engine/catalog/model.py by `{REGENERATE}`; do not edit.",
        **schema,
        "title": title,
    }
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schemas(catalog_dir: Path) -> list[Path]:
    """Write every schema document under ``catalog_dir/schema``; return the paths written."""
    out_dir = catalog_dir / SCHEMA_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in DOCUMENTS:
        path = out_dir / schema_file(name)
        path.write_text(schema_text(name), encoding="utf-8")
        written.append(path)
    return written


def expected_comment(relative: str) -> str:
    """The first line a catalog file should carry, for a path relative to the catalog dir."""
    if relative.startswith(f"{PROVIDERS_DIR}/"):
        target = f"../{SCHEMA_DIR}/{schema_file('provider')}"
    elif relative == UNITS_FILE:
        target = f"{SCHEMA_DIR}/{schema_file('units')}"
    elif relative == CAPABILITIES_FILE:
        target = f"{SCHEMA_DIR}/{schema_file('capabilities')}"
    else:
        raise ValueError(f"not a catalog file: {relative}")
    return f"# yaml-language-server: $schema={target}"


def files_without_schema_comment(catalog_dir: Path) -> list[str]:
    """Catalog files (relative paths) whose first line does not name their schema."""
    files = [catalog_dir / UNITS_FILE, catalog_dir / CAPABILITIES_FILE]
    files += sorted((catalog_dir / PROVIDERS_DIR).glob("*.yaml"))
    missing = []
    for path in files:
        relative = path.relative_to(catalog_dir).as_posix()
        first = path.read_text(encoding="utf-8").partition("\n")[0].strip()
        if first != expected_comment(relative):
            missing.append(relative)
    return missing
