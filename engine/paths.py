"""Where ByokVault finds its bundled files and keeps its data."""

from __future__ import annotations

import os
from pathlib import Path

# engine/ sits at the top of the source tree beside catalog/, rules/ and sql/.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_CATALOG = PROJECT_ROOT / "catalog"
BUNDLED_RULES = PROJECT_ROOT / "rules"
SQL_DIR = PROJECT_ROOT / "sql"


def data_dir() -> Path:
    """The embedded default's data directory: $BYOKVAULT_DATA or ./data."""
    return Path(os.environ.get("BYOKVAULT_DATA", "data")).resolve()


def sql_text(relative: str) -> str:
    """The text of one file under sql/ (the single definition of a query or schema)."""
    return (SQL_DIR / relative).read_text(encoding="utf-8")
