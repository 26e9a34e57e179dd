"""Shared fixtures. Tests never touch the network and never write outside tmp paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from byokvault.engine.paths import BUNDLED_CATALOG

# CI runs derandomized: the same examples every run, so a red build is reproducible and a green
# one is not luck. Locally, examples stay random to keep finding new cases.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

SHARED_UPSTREAM = Path(__file__).resolve().parents[2] / "shared" / "upstream"


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own data dir, so no test sees another's DuckDB files."""
    monkeypatch.setenv("BYOKVAULT_DATA", str(tmp_path / "data"))


@pytest.fixture()
def bundled_catalog() -> Path:
    return BUNDLED_CATALOG
