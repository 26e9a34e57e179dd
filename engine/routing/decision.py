"""The inputs and the answer of a route: fund sources in, ranked candidates and exclusions out.

msgspec Structs: the API returns them as they are (money as decimal strings), and building
thousands per decision must be cheap.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec


class FundSources(msgspec.Struct, frozen=True):
    """Who can pay for a call to each provider, for one tenant, as the vault sees it now.

    ``byok``: providers where the tenant has an active, healthy credential of its own;
    ``platform``: providers where the platform has a key (used only if policy allows);
    ``local``: local providers (catalog ``kind: local``) with an endpoint the tenant configured.
    Routing never reads the vault: the caller (the API, fed by the vault) passes this in.
    """

    byok: frozenset[str] = frozenset()
    platform: frozenset[str] = frozenset()
    local: frozenset[str] = frozenset()

    def key(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        return tuple(sorted(self.byok)), tuple(sorted(self.platform)), tuple(sorted(self.local))


class LineItem(msgspec.Struct, frozen=True):
    """One priced dimension of the estimated usage (from the pricing twin)."""

    dimension: str
    quantity: int | Decimal  # charged quantity (the twin's leaf: parts taken out of wholes)
    unit_price: Decimal  # USD per `per` units, as the price row states it
    per: int
    amount: Decimal  # exact, unrounded: quantity × unit_price / per
    price_id: str


class Candidate(msgspec.Struct, frozen=True):
    rank: int
    provider_id: str
    model_id: str
    provider_kind: str
    fund_source: str  # byok | platform | local
    cost: Decimal  # estimated raw provider cost of this request, USD, unrounded
    line_items: tuple[LineItem, ...]


class Exclusion(msgspec.Struct, frozen=True):
    """A model not routed to, with every reason code that applies (sorted by kind)."""

    provider_id: str
    model_id: str
    reasons: tuple[str, ...]


class RouteDecision(msgspec.Struct, frozen=True):
    catalog_version: str
    policy_version: str
    candidates: tuple[Candidate, ...]
    exclusions: tuple[Exclusion, ...]

    @property
    def chosen(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


# Reason codes, in the order a model's reasons are listed.
REASON_ORDER = (
    "missing_capability",
    "context_too_small",
    "output_too_small",
    "too_many_images",
    "retired",
    "deprecated",
    "policy_blocked",
    "no_usable_credential",
    "unpriced",
    "over_max_price",
)
