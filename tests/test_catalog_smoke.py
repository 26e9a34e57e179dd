from pathlib import Path

from byokvault.engine.catalog.store import open_catalog


def test_bundled_catalog_loads_into_duckdb(bundled_catalog: Path, tmp_path: Path) -> None:
    catalog, con = open_catalog(bundled_catalog, tmp_path / "snaps")
    models = sum(1 for _ in catalog.models())
    assert con.sql("select count(*) from models").fetchone() == (models,)
    assert con.sql("select catalog_version from catalog_meta").fetchone() == (catalog.version,)
