"""The route as SQL: the definition every faster path must agree with.

``Router`` holds one catalog's DuckDB connection with the routing tables derived
(``sql/routing/setup.sql``) and the pricing engine's SQL twin installed. ``route_sql`` runs
``sql/routing/request.sql`` (the request as a one-row table) and ``sql/routing/route.sql`` (the
filters, the twin's prices of each eligible model's estimated usage, the ranking) and turns the
rows into a :class:`RouteDecision`: ranked candidates and exclusions with reason codes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from ..catalog.load import Catalog
from ..catalog.store import open_catalog
from ..paths import sql_text
from ..pricing import twin
from ..pricing.usage import USAGE_KEYS
from .decision import Candidate, Exclusion, FundSources, LineItem, RouteDecision
from .policy import Policies, TenantPolicy, load_policy
from .requirements import MODE_CAPABILITIES, Requirements, requirements_for

Request = Mapping[str, Any] | Requirements


def quantity(value: Decimal) -> int | Decimal:
    """The twin's DECIMAL(18, 6) quantity as an int when whole (token and image counts)."""
    return int(value) if value == value.to_integral_value() else value.normalize()


def usage_columns() -> str:
    """One column per usage key of pricing's vocabulary, from the request's usage map."""
    return ",\n       ".join(
        f"coalesce(p.usage['{key}'], {1 if key == 'requests' else 0}) AS {key}"
        for key in USAGE_KEYS
    )


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
        self._request_sql = sql_text("routing/request.sql")
        self._route_sql = sql_text("routing/route.sql").replace("{usage_columns}", usage_columns())
        self._rates_sql = sql_text("routing/rates.sql").replace("{usage_columns}", usage_columns())
        self._prepare()
        self._temp_tables()

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
        self.con.execute(sql_text("routing/setup.sql"))
        twin.install(self.con)
        self.con.execute(sql_text("routing/priced.sql"))

    def _temp_tables(self) -> None:
        # This connection's own usage table: it shadows the shared one in the twin's views.
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE usage_input AS SELECT * FROM main.usage_input LIMIT 0"
        )

    def cursor(self) -> Router:
        """The same router on a new DuckDB cursor: one per thread (a connection serializes)."""
        other = object.__new__(Router)
        other.__dict__.update(self.__dict__)
        other.con = self.con.cursor()
        other._temp_tables()
        return other

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
        self,
        req: Requirements,
        policy: TenantPolicy,
        funds: FundSources,
        at: datetime,
        only: list[str] | None = None,
    ) -> list[tuple]:
        """route.sql's rows; ``only`` ('provider/model') limits which models are priced."""
        param = route_param(req, policy, funds, at, only)
        self.con.execute(self._request_sql, {"request": param})
        return self.con.execute(self._route_sql).fetchall()

    def rate_rows(
        self, usage_keys: tuple[str, ...], context: tuple[tuple[str, str], ...], at: datetime
    ) -> list[tuple]:
        """rates.sql's rows: every model priced by the twin at a unit usage of ``usage_keys``,
        once per long-context tier (provider_id, model_id, rep, price_problem, line_items)."""
        probe = Requirements(frozenset(), 0, None, 0, tuple((k, 1) for k in usage_keys), context)
        param = route_param(probe, TenantPolicy(), FundSources(), at)
        self.con.execute(self._request_sql, {"request": param})
        return self.con.execute(self._rates_sql).fetchall()

    def decision(self, rows: list[tuple]) -> RouteDecision:
        candidates: list[Candidate] = []
        exclusions: list[Exclusion] = []
        for provider_id, model_id, kind, fund, reasons, cost, items in rows:
            if reasons:
                exclusions.append(Exclusion(provider_id, model_id, tuple(reasons)))
                continue
            lines = tuple(
                LineItem(
                    i["dimension"],
                    quantity(i["quantity"]),
                    i["unit_price"],
                    i["per"],
                    i["amount"],
                    i["price_id"],
                )
                for i in items
            )
            rank = len(candidates) + 1
            candidates.append(Candidate(rank, provider_id, model_id, kind, fund, cost, lines))
        return RouteDecision(
            self.catalog_version, self.policies.version, tuple(candidates), tuple(exclusions)
        )


def sql_cap(max_price: Decimal | None) -> Decimal | None:
    """The price cap as request.sql reads it: DECIMAL(38, 18), rounded half away from zero
    (DuckDB's cast), so a cap with more than 18 decimals acts rounded on every path."""
    if max_price is None:
        return None
    return max_price.quantize(Decimal("1e-18"), rounding=ROUND_HALF_UP)


def route_param(
    req: Requirements,
    policy: TenantPolicy,
    funds: FundSources,
    at: datetime,
    only: list[str] | None = None,
) -> str:
    """The single JSON parameter of request.sql (see the header of that file)."""
    max_price = policy.max_price_per_call
    context = req.context_dict()
    return json.dumps(
        {
            "caps": sorted(req.capabilities),
            "input_tokens": req.input_tokens,
            "output_tokens": req.output_tokens,
            "images": req.images,
            "at": at.isoformat(),
            "usage": dict(req.usage),
            "tier": context.get("service_tier", "standard"),
            "image_size": context.get("image_size"),
            "image_quality": context.get("image_quality"),
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
            "only": only,
        }
    )
