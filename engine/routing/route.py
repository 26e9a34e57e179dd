"""The route as SQL: the definition every faster path must agree with.

``Router`` holds one catalog's DuckDB connection with the routing tables derived
(``sql/routing/setup.sql``). ``filter_rows`` runs ``sql/routing/filter.sql``: every model with the
non-price reasons it cannot serve a request and the fund source that would pay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from ..catalog.load import Catalog
from ..catalog.store import open_catalog
from ..paths import sql_text
from .decision import FundSources
from .policy import TenantPolicy
from .requirements import MODE_CAPABILITIES, Requirements


@dataclass(frozen=True)
class FilterRow:
    provider_id: str
    model_id: str
    provider_kind: str
    fund_source: str | None
    reasons: tuple[str, ...]


class Router:
    """Routing over one loaded catalog. Use one per thread (``cursor()`` shares the tables)."""

    def __init__(self, catalog: Catalog, con: duckdb.DuckDBPyConnection) -> None:
        self.catalog = catalog
        self.con = con
        self._prepare()

    @classmethod
    def open(cls, catalog_dir: Path | None = None, out_dir: Path | None = None) -> Router:
        catalog, con = open_catalog(catalog_dir, out_dir)
        return cls(catalog, con)

    def _prepare(self) -> None:
        modes = pl.DataFrame(
            [{"mode": m, "capability": c} for m, caps in MODE_CAPABILITIES.items() for c in caps],
            schema={"mode": pl.String, "capability": pl.String},
        )
        self.con.register("routing_mode_capabilities_df", modes)
        self.con.execute(
            "CREATE OR REPLACE TABLE routing_mode_capabilities AS "
            "SELECT * FROM routing_mode_capabilities_df"
        )
        self.con.unregister("routing_mode_capabilities_df")
        self.con.execute(sql_text("routing/setup.sql"))

    def filter_params(
        self, req: Requirements, policy: TenantPolicy, funds: FundSources, at: datetime
    ) -> dict[str, Any]:
        return {
            "caps": sorted(req.capabilities),
            "input_tokens": req.input_tokens,
            "output_tokens": req.output_tokens,
            "images": req.images,
            "at": at,
            "byok": sorted(funds.byok),
            "platform": sorted(funds.platform),
            "local": sorted(funds.local),
            "byok_only": policy.byok_only,
            "allowed": sorted(policy.allowed_providers)
            if policy.allowed_providers is not None
            else None,
            "blocked": sorted(policy.blocked_providers),
            "allow_deprecated": policy.allow_deprecated,
        }

    def filter_rows(
        self, req: Requirements, policy: TenantPolicy, funds: FundSources, at: datetime
    ) -> list[FilterRow]:
        """Every model, in (provider_id, model_id) order, with its non-price exclusion reasons."""
        _require_aware(at)
        rows = self.con.execute(
            sql_text("routing/filter.sql"), self.filter_params(req, policy, funds, at)
        ).fetchall()
        return [FilterRow(p, m, k, f, tuple(r)) for p, m, k, f, r in rows]


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("the routing time must carry a timezone (UTC)")
