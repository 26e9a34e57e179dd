"""The SQL pricing twin: ``sql/pricing/twin.sql`` prices a whole table of usages in DuckDB with
the same rules as :func:`.cost.price_usage` (a property test checks they agree exactly).

Use it on a connection holding the catalog tables (``open_catalog``)::

    install(con)                       # usage_input table, vocabulary tables, pricing_* views
    con.execute("INSERT INTO usage_input BY NAME SELECT ...")   # or load_usages(con, frame)
    con.sql("SELECT * FROM pricing_totals")
"""

from __future__ import annotations

import duckdb
import polars as pl

from ..paths import sql_text
from .cost import ROOT_KEYS
from .sqlrender import render_sql
from .usage import FALLS_BACK_TO_WHOLE, PARTS, USAGE_KEYS, depth, strict_parts

MAX_DEPTH = 3  # the leaf views in twin.sql compute three levels


def vocabulary_frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    """usage.py's vocabulary as the two tables twin.sql reads (one definition, two languages)."""
    leaf_order = sorted(USAGE_KEYS, key=lambda k: (-depth(k), k))
    keys = pl.DataFrame(
        {
            "usage_key": list(USAGE_KEYS),
            "key_order": list(range(len(USAGE_KEYS))),
            "leaf_order": [leaf_order.index(k) for k in USAGE_KEYS],
            "depth": [depth(k) for k in USAGE_KEYS],
            "is_part": [k in PARTS for k in USAGE_KEYS],
            "is_root": [k in ROOT_KEYS for k in USAGE_KEYS],
            "falls_back": [k in FALLS_BACK_TO_WHOLE for k in USAGE_KEYS],
        }
    )
    pairs = [(whole, part) for whole in USAGE_KEYS for part in strict_parts(whole)]
    parts = pl.DataFrame(
        {"whole": [w for w, _ in pairs], "part": [p for _, p in pairs]},
        schema={"whole": pl.String, "part": pl.String},
    )
    if max(depth(k) for k in USAGE_KEYS) > MAX_DEPTH:
        raise AssertionError("usage vocabulary deeper than twin.sql computes")
    return keys, parts


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``usage_input`` (if absent), the vocabulary tables and the ``pricing_*`` views."""
    for name, frame in zip(
        ("pricing_usage_keys", "pricing_usage_parts"), vocabulary_frames(), strict=True
    ):
        con.register("_vocabulary", frame)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _vocabulary")
        finally:
            con.unregister("_vocabulary")
    con.execute(sql_text("pricing/usage_input.sql"))
    con.execute(sql_text("pricing/ranked_prices.sql"))
    con.execute(rendered_sql())


def rendered_sql() -> str:
    """The row twin's SQL as :func:`install` runs it: twin.sql with the selection rules of
    rules.sql written in (what a finance user reads to see every rule in one query)."""
    return render_sql("pricing/twin.sql")


def load_usages(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, replace: bool = True) -> None:
    """Bulk-load usage rows (columns named as usage_input's; absent ones take their defaults)."""
    if replace:
        con.execute("DELETE FROM usage_input")
    con.register("_usage_frame", frame)
    try:
        con.execute("INSERT INTO usage_input BY NAME SELECT * FROM _usage_frame")
    finally:
        con.unregister("_usage_frame")
