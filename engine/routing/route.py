"""The route as SQL: the definition every faster path must agree with.

``Router`` holds one catalog's DuckDB connection with the routing tables and macros derived
(``sql/routing/setup.sql``). ``route_sql`` runs ``sql/routing/route.sql`` once and turns its
rows into a :class:`RouteDecision`: ranked candidates and exclusions with reason codes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Context, Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from ..catalog.load import Catalog
from ..catalog.store import open_catalog
from ..paths import sql_text
from .decision import Candidate, Exclusion, FundSources, LineItem, RouteDecision
from .policy import Policies, TenantPolicy, load_policy
from .requirements import MODE_CAPABILITIES, Requirements, requirements_for

E24 = -24  # route.sql carries money as exact integers of 1e-24 USD
PER_BASE = 1_000_000  # every unit's `per` must divide this (amount × 1e18 × q × 1e6 / per)

Request = Mapping[str, Any] | Requirements


WIDE = Context(prec=100)  # enough digits that scaling money never rounds


def from_e24(value: int) -> Decimal:
    return Decimal(value).scaleb(E24, context=WIDE)


def to_e24(value: Decimal) -> int:
    return int(value.scaleb(-E24, context=WIDE))


def require_aware(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("the routing time must carry a timezone (UTC)")


class Router:
    """Routing over one loaded catalog. One per thread: DuckDB connections serialize."""

    def __init__(
        self,
        catalog: Catalog | None,
        con: duckdb.DuckDBPyConnection,
        policies: Policies | None = None,
    ) -> None:
        self.catalog = catalog  # None for a synthetic catalog loaded straight into tables
        self.con = con
        self.policies = policies or load_policy()
        (self.catalog_version,) = con.execute("SELECT catalog_version FROM catalog_meta").fetchone()
        self._sql = sql_text("routing/route.sql")
        self._prepare()

    @classmethod
    def open(
        cls,
        catalog_dir: Path | None = None,
        out_dir: Path | None = None,
        policies: Policies | None = None,
    ) -> Router:
        catalog, con = open_catalog(catalog_dir, out_dir)
        return cls(catalog, con, policies)

    def _prepare(self) -> None:
        modes = pl.DataFrame(
            [{"mode": m, "capability": c} for m, caps in MODE_CAPABILITIES.items() for c in caps],
            schema={"mode": pl.String, "capability": pl.String},
        )
        self.con.register("routing_modes_df", modes)
        self.con.execute(
            "CREATE OR REPLACE TABLE routing_mode_capabilities AS SELECT * FROM routing_modes_df"
        )
        self.con.unregister("routing_modes_df")
        bad = self.con.execute(f"SELECT dimension FROM units WHERE {PER_BASE} % per <> 0")
        if rows := bad.fetchall():
            raise ValueError(f"routing needs every unit's per to divide {PER_BASE}: {rows}")
        self.con.execute(sql_text("routing/setup.sql"))

    def requirements(self, request: Request) -> Requirements:
        if isinstance(request, Requirements):
            return request
        if self.catalog is None:
            raise ValueError("this router has no taxonomy: pass Requirements")
        return requirements_for(request, self.catalog.taxonomy)

    def resolve(
        self,
        request: Request,
        tenant: str | None,
        funds: FundSources | None,
        at: datetime | None,
        policy: TenantPolicy | None,
    ) -> tuple[Requirements, TenantPolicy, FundSources, datetime]:
        at = at or datetime.now(UTC)
        require_aware(at)
        policy = policy or self.policies.for_tenant(tenant)
        return self.requirements(request), policy, funds or FundSources(), at

    def route_sql(
        self,
        request: Request,
        tenant: str | None = None,
        funds: FundSources | None = None,
        at: datetime | None = None,
        policy: TenantPolicy | None = None,
    ) -> RouteDecision:
        """The route, computed by the SQL definition (one DuckDB query)."""
        req, policy, funds, at = self.resolve(request, tenant, funds, at, policy)
        return self.decision(self.route_rows(req, policy, funds, at))

    def route_rows(
        self, req: Requirements, policy: TenantPolicy, funds: FundSources, at: datetime
    ) -> list[tuple]:
        param = route_param(req, policy, funds, at)
        return self.con.execute(self._sql, {"request": param}).fetchall()

    def decision(self, rows: list[tuple]) -> RouteDecision:
        candidates: list[Candidate] = []
        exclusions: list[Exclusion] = []
        for provider_id, model_id, kind, fund, reasons, cost_e24, items in rows:
            if reasons:
                exclusions.append(Exclusion(provider_id, model_id, tuple(reasons)))
                continue
            lines = tuple(
                LineItem(
                    i["dimension"],
                    i["quantity"],
                    i["unit_price"],
                    i["per"],
                    from_e24(i["amount_e24"]),
                    i["price_id"],
                )
                for i in items
            )
            rank = len(candidates) + 1
            candidates.append(
                Candidate(rank, provider_id, model_id, kind, fund, from_e24(cost_e24), lines)
            )
        return RouteDecision(
            self.catalog_version, self.policies.version, tuple(candidates), tuple(exclusions)
        )


def route_param(req: Requirements, policy: TenantPolicy, funds: FundSources, at: datetime) -> str:
    """The single JSON parameter of route.sql (see the header of that file)."""
    max_price = policy.max_price_per_call
    return json.dumps(
        {
            "caps": sorted(req.capabilities),
            "input_tokens": req.input_tokens,
            "output_tokens": req.output_tokens,
            "images": req.images,
            "at": at.isoformat(),
            "usage": [{"usage_key": k, "quantity": q} for k, q in req.usage],
            "tier": req.context_dict().get("service_tier", "standard"),
            "byok": sorted(funds.byok),
            "platform": sorted(funds.platform),
            "local": sorted(funds.local),
            "byok_only": policy.byok_only,
            "allowed": sorted(policy.allowed_providers)
            if policy.allowed_providers is not None
            else None,
            "blocked": sorted(policy.blocked_providers),
            "allow_deprecated": policy.allow_deprecated,
            "local_first": policy.local_first,
            "max_price": str(max_price) if max_price is not None else None,
        }
    )
