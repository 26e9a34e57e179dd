"""Load a Parquet snapshot into DuckDB with the table and view definitions in ``sql/catalog``."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from ..paths import BUNDLED_CATALOG, data_dir, sql_text
from .build import SCHEMAS, Snapshot, write_snapshot
from .load import Catalog, load_catalog
from .yamlio import InputError, Problem


def load_snapshot(con: duckdb.DuckDBPyConnection, snapshot_dir: Path) -> str:
    """Create the catalog tables in ``con`` and fill them from ``snapshot_dir``.

    Every file is checked against the manifest's hash first, so a torn or edited snapshot is
    refused rather than half-loaded. Returns the catalog version.
    """
    manifest = json.loads((snapshot_dir / "manifest.json").read_text())
    _verify(snapshot_dir, manifest)
    con.execute("BEGIN")
    try:
        con.execute(sql_text("catalog/schema.sql"))
        for name in SCHEMAS:
            path = snapshot_dir / manifest["tables"][name]["file"]
            con.execute(f"INSERT INTO {name} SELECT * FROM read_parquet(?)", [str(path)])
        con.execute("INSERT INTO catalog_meta VALUES (?)", [manifest["catalog_version"]])
        con.execute(sql_text("catalog/views.sql"))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return str(manifest["catalog_version"])


def _verify(snapshot_dir: Path, manifest: dict) -> None:
    import hashlib

    for name, entry in manifest["tables"].items():
        path = snapshot_dir / entry["file"]
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
        if digest != entry["sha256"]:
            raise InputError(
                [Problem(str(path), 1, 1, name, "snapshot file does not match its manifest")]
            )


def snapshot_cache() -> Path:
    return data_dir() / "snapshots"


def build(catalog_dir: Path | None = None, out_dir: Path | None = None) -> tuple[Catalog, Snapshot]:
    """Validate ``catalog_dir`` (default: the bundled catalog) and write its snapshot."""
    catalog = load_catalog(catalog_dir or BUNDLED_CATALOG)
    return catalog, write_snapshot(catalog, out_dir or snapshot_cache())


def open_catalog(
    catalog_dir: Path | None = None, out_dir: Path | None = None
) -> tuple[Catalog, duckdb.DuckDBPyConnection]:
    """The validated catalog and an in-memory DuckDB holding its snapshot, ready to query."""
    catalog, snapshot = build(catalog_dir, out_dir)
    con = duckdb.connect(":memory:")
    load_snapshot(con, snapshot.path)
    return catalog, con
