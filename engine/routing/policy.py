"""Tenant routing policy: ``rules/policy.yaml`` — defaults plus per-tenant overrides.

Each tenant's policy is the defaults with that tenant's fields laid over them (field by field:
a tenant that only sets ``local_first`` keeps every other default). Validated strictly like the
catalog; every problem is reported at ``file:line:column``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..catalog.model import ID_PATTERN
from ..catalog.yamlio import (
    InputError,
    Problem,
    problem_at,
    problems_from_validation,
    read_yaml,
    to_plain,
)
from ..paths import BUNDLED_RULES

POLICY_FILE = "policy.yaml"
ProviderId = Annotated[str, Field(pattern=ID_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyFields(_Strict):
    """What a tenant may override; ``None`` in an override means 'keep the default'."""

    byok_only: bool | None = Field(
        default=None,
        description="Only the tenant's own keys pay (no platform-key fallback).",
    )
    allowed_providers: list[ProviderId] | None = Field(
        default=None, description="If set, only these providers are routed to."
    )
    blocked_providers: list[ProviderId] | None = Field(
        default=None, description="Never routed to (wins over allowed_providers)."
    )
    local_first: bool | None = Field(
        default=None, description="Rank usable local endpoints before any cloud model."
    )
    max_price_per_call: (
        Annotated[Decimal, Field(ge=0, allow_inf_nan=False, decimal_places=18)] | None
    ) = Field(
        default=None, description="USD; a candidate whose estimated cost is above is excluded."
    )
    allow_deprecated: bool | None = Field(
        default=None, description="Route to models past their deprecation date (never retired)."
    )


class PolicyFile(_Strict):
    schema_: str | None = Field(default=None, alias="$schema")
    defaults: PolicyFields = PolicyFields()
    # Unset default fields fall back to BUILTIN (what users expect when nothing is said), so
    # the file states only what it changes.
    tenants: dict[Annotated[str, Field(pattern=ID_PATTERN)], PolicyFields] = {}


@dataclass(frozen=True)
class TenantPolicy:
    """The effective policy of one tenant. Hashable: part of the fast path's cache key."""

    byok_only: bool = False
    allowed_providers: frozenset[str] | None = None
    blocked_providers: frozenset[str] = frozenset()
    local_first: bool = False
    max_price_per_call: Decimal | None = None
    allow_deprecated: bool = False

    def allows_provider(self, provider_id: str) -> bool:
        if provider_id in self.blocked_providers:
            return False
        return self.allowed_providers is None or provider_id in self.allowed_providers

    def key(self) -> str:
        data = {
            "byok_only": self.byok_only,
            "allowed": sorted(self.allowed_providers) if self.allowed_providers else None,
            "blocked": sorted(self.blocked_providers),
            "local_first": self.local_first,
            "max": str(self.max_price_per_call) if self.max_price_per_call is not None else None,
            "deprecated": self.allow_deprecated,
        }
        return json.dumps(data, sort_keys=True)


BUILTIN = TenantPolicy()


def _apply(base: TenantPolicy, fields: PolicyFields) -> TenantPolicy:
    return TenantPolicy(
        byok_only=base.byok_only if fields.byok_only is None else fields.byok_only,
        allowed_providers=base.allowed_providers
        if fields.allowed_providers is None
        else frozenset(fields.allowed_providers),
        blocked_providers=base.blocked_providers
        if fields.blocked_providers is None
        else frozenset(fields.blocked_providers),
        local_first=base.local_first if fields.local_first is None else fields.local_first,
        max_price_per_call=base.max_price_per_call
        if fields.max_price_per_call is None
        else fields.max_price_per_call,
        allow_deprecated=base.allow_deprecated
        if fields.allow_deprecated is None
        else fields.allow_deprecated,
    )


@dataclass(frozen=True)
class Policies:
    defaults: TenantPolicy
    tenants: dict[str, TenantPolicy]
    version: str

    def for_tenant(self, tenant: str | None) -> TenantPolicy:
        """A tenant without overrides gets the defaults."""
        return self.tenants.get(tenant, self.defaults) if tenant else self.defaults


def parse_policy(doc: Any, file: str, known_providers: set[str] | None = None) -> Policies:
    """Validate a parsed policy document; with ``known_providers``, provider ids are checked."""
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise InputError([Problem(file, 1, 1, "", "the file must hold a mapping at the top level")])
    try:
        parsed = PolicyFile.model_validate(to_plain(doc))
    except ValidationError as exc:
        raise InputError(problems_from_validation(exc, doc, file)) from None
    if known_providers is not None:
        problems = _unknown_providers(parsed, doc, file, known_providers)
        if problems:
            raise InputError(problems)
    defaults = _apply(BUILTIN, parsed.defaults)
    tenants = {name: _apply(defaults, fields) for name, fields in parsed.tenants.items()}
    canonical = json.dumps(parsed.model_dump(mode="json", exclude={"schema_"}), sort_keys=True)
    version = "pol_" + hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return Policies(defaults, tenants, version)


def _unknown_providers(parsed: PolicyFile, doc: Any, file: str, known: set[str]) -> list[Problem]:
    problems = []
    sections: list[tuple[list[str | int], PolicyFields]] = [(["defaults"], parsed.defaults)]
    sections += [(["tenants", name], fields) for name, fields in parsed.tenants.items()]
    for loc, fields in sections:
        for key in ("allowed_providers", "blocked_providers"):
            for i, provider in enumerate(getattr(fields, key) or []):
                if provider not in known:
                    msg = f"unknown provider {provider!r} (not in the catalog)"
                    problems.append(problem_at(doc, [*loc, key, i], file, msg))
    return problems


def load_policy(path: Path | None = None, known_providers: set[str] | None = None) -> Policies:
    """Load ``rules/policy.yaml`` (or ``path``); a missing file means the built-in defaults."""
    path = path or BUNDLED_RULES / POLICY_FILE
    if not path.is_file():
        return Policies(BUILTIN, {}, "pol_builtin")
    return parse_policy(read_yaml(path, str(path)), str(path), known_providers)
