"""Load a Parquet snapshot into DuckDB with the table and view definitions in ``sql/catalog``."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import duckdb

from ..paths import BUNDLED_CATALOG, data_dir, sql_text
from .build import SCHEMAS, Snapshot, read_snapshot, write_snapshot
from .load import CAPABILITIES_FILE, PROVIDERS_DIR, UNITS_FILE, Catalog, lazy_catalog, load_catalog
from .yamlio import InputError, Problem

# In a snapshot directory: source hash -> catalog version of the snapshots built there.
SOURCE_INDEX = "sources.json"
INDEX_LIMIT = 64


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
    """Validate ``catalog_dir`` (default: the bundled catalog) and write its snapshot.

    When the catalog files (and this package's code) are byte for byte those of a snapshot
    already built in ``out_dir``, validation is skipped: the snapshot is reused and the
    catalog's providers are loaded only if used.
    """
    catalog_dir = (catalog_dir or BUNDLED_CATALOG).resolve()
    out_dir = out_dir or snapshot_cache()
    key = source_hash(catalog_dir)
    version = _read_index(out_dir).get(key)
    if version is not None and (out_dir / version / "manifest.json").is_file():
        return lazy_catalog(catalog_dir, version), read_snapshot(out_dir / version)
    catalog = load_catalog(catalog_dir)
    snapshot = write_snapshot(catalog, out_dir)
    _remember(out_dir, key, snapshot.version)
    return catalog, snapshot


def source_hash(catalog_dir: Path) -> str:
    """Hash of the raw bytes of every catalog file and of the code that validates them."""
    digest = hashlib.sha256()
    code = sorted(Path(__file__).parent.glob("*.py"))
    files = [catalog_dir / UNITS_FILE, catalog_dir / CAPABILITIES_FILE]
    files += sorted((catalog_dir / PROVIDERS_DIR).glob("*.yaml"))
    for label, path in [
        *((f"code:{p.name}", p) for p in code),
        *((str(p.relative_to(catalog_dir)), p) for p in files),
    ]:
        data = path.read_bytes() if path.is_file() else b"(missing)"
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def _read_index(out_dir: Path) -> dict[str, str]:
    try:
        index = json.loads((out_dir / SOURCE_INDEX).read_text())
    except (OSError, ValueError):
        return {}
    return index if isinstance(index, dict) else {}


def _remember(out_dir: Path, key: str, version: str) -> None:
    """Record source hash -> version (newest last, bounded); written atomically."""
    index = _read_index(out_dir)
    index.pop(key, None)
    index[key] = version
    kept = dict(list(index.items())[-INDEX_LIMIT:])
    fd, tmp = tempfile.mkstemp(prefix=".sources-", dir=out_dir)
    with os.fdopen(fd, "w") as fh:
        json.dump(kept, fh, indent=1)
    Path(tmp).replace(out_dir / SOURCE_INDEX)


def open_catalog(
    catalog_dir: Path | None = None, out_dir: Path | None = None
) -> tuple[Catalog, duckdb.DuckDBPyConnection]:
    """The validated catalog and an in-memory DuckDB holding its snapshot, ready to query."""
    catalog, snapshot = build(catalog_dir, out_dir)
    con = duckdb.connect(":memory:")
    load_snapshot(con, snapshot.path)
    return catalog, con
