"""Shared fixtures. Tests never touch the network and never write outside tmp paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from byokvault.engine.paths import BUNDLED_CATALOG

SHARED_UPSTREAM = Path(__file__).resolve().parents[2] / "shared" / "upstream"


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own data dir, so no test sees another's DuckDB files."""
    monkeypatch.setenv("BYOKVAULT_DATA", str(tmp_path / "data"))


@pytest.fixture()
def bundled_catalog() -> Path:
    return BUNDLED_CATALOG
