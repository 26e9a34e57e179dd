"""Credential resolution: for one call, walk the tiers in order — the tenant's own key, then
the platform key where the caller's policy allows it, then a local endpoint (no key) — and
record one resolution row per call (tiers tried, credential used, why others were skipped, fund
source). The ledger joins on ``call_id``. Policy is the caller's: this module reads no rules.

The resolution row goes through the audit group commit (durable once in the audit log,
``auditlog.py``). ``resolve(wait=False)`` returns before it is durable (the access event of an
opened key is always durable first, in ``decrypt_for_call``): a caller such as the gateway then
waits on ``Resolution.durable`` before it bills, so the row's write overlaps the provider call
instead of delaying it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import duckdb

from .clock import now
from .errors import DecryptFailed, NoCredential, VaultInputError
from .model import (
    PLATFORM_TENANT,
    Credential,
    FundSource,
    ResolutionRecord,
    Status,
    TierAttempt,
)
from .secret import Secret
from .vault import Vault, check_id

# A key never checked yet is worth trying; one the last check found broken is not.
USABLE = (Status.active, Status.unknown)


@dataclass(frozen=True, slots=True)
class Resolution:
    """The answer for one call. ``secret`` is None for a local endpoint or when nothing
    resolved; ``base_url`` is the credential's own endpoint (None: use the catalog's)."""

    record: ResolutionRecord
    secret: Secret | None
    base_url: str | None
    durable: Future[None] = field(default_factory=Future, compare=False, repr=False)

    def wait_durable(self, timeout: float | None = 30.0) -> None:
        """Block until the resolution row is committed (raises what the commit raised)."""
        try:
            self.durable.result(timeout)
        except duckdb.ConstraintException:
            raise VaultInputError(
                "call_id", f"{self.record.call_id!r} was already resolved"
            ) from None

    @property
    def credential_id(self) -> str | None:
        return self.record.credential_id

    @property
    def fund_source(self) -> FundSource:
        return self.record.fund_source


def ordered_candidates(credentials: Iterable[Credential]) -> list[Credential]:
    """Usable first (active before unknown), newest first within each; unusable last."""
    rank = {Status.active: 0, Status.unknown: 1}
    return sorted(
        credentials,
        key=lambda c: (rank.get(c.status, 2), -c.created_at.timestamp(), c.credential_id),
    )


def skip_reason(credential: Credential) -> str | None:
    if credential.status not in USABLE:
        detail = f": {credential.status_reason}" if credential.status_reason else ""
        return f"status {credential.status}{detail}"
    return None


def resolve(
    vault: Vault,
    tenant_id: str,
    provider_id: str,
    call_id: str,
    *,
    allow_platform_fallback: bool,
    provider_kind: str = "cloud",
    actor: str = "resolver",
    wait: bool = True,
) -> Resolution:
    """Resolve the credential for one call and record the resolution row (committed before
    returning unless ``wait`` is False: then see ``Resolution.durable``).

    Raises ``NoCredential`` (after committing a row with fund source ``none``) when no tier can
    serve the call.
    """
    check_id("tenant_id", tenant_id)  # the platform tenant never makes calls of its own
    check_id("provider_id", provider_id)
    check_id("call_id", call_id)
    already, own, platform = vault.repo.resolution_candidates(tenant_id, provider_id, call_id)
    if already:
        raise VaultInputError("call_id", f"{call_id!r} was already resolved")
    attempts: list[TierAttempt] = []
    tiers: list[tuple[str, Sequence[Credential] | None, str]] = [
        ("tenant", own, "tenant has no credential"),
        ("platform", platform if allow_platform_fallback else None, "platform has no credential"),
    ]
    for tier, credentials, empty_reason in tiers:
        if credentials is None:
            attempts.append(TierAttempt(tier, None, "skipped", "policy disallows platform key"))
            continue
        found = _try_tier(vault, tier, credentials, empty_reason, call_id, actor, attempts)
        if found is not None:
            credential, secret = found
            source = _fund_source(tier, credential)
            found_at = _record(
                vault, tenant_id, provider_id, call_id, credential, source, attempts, secret
            )
            return _waited(found_at, wait)
    if provider_kind == "local":
        attempts.append(TierAttempt("local", None, "used", "local provider needs no key"))
        local = _record(
            vault, tenant_id, provider_id, call_id, None, FundSource.local, attempts, None
        )
        return _waited(local, wait)
    _record(
        vault, tenant_id, provider_id, call_id, None, FundSource.none, attempts, None
    ).wait_durable()
    reasons = "; ".join(f"{a.tier}: {a.reason}" for a in attempts)
    raise NoCredential(f"no credential for {provider_id} (call {call_id}): {reasons}")


def _try_tier(
    vault: Vault,
    tier: str,
    credentials: Sequence[Credential],
    empty_reason: str,
    call_id: str,
    actor: str,
    attempts: list[TierAttempt],
) -> tuple[Credential, Secret | None] | None:
    if not credentials:
        attempts.append(TierAttempt(tier, None, "skipped", empty_reason))
        return None
    for credential in ordered_candidates(credentials):
        reason = skip_reason(credential)
        if reason is not None:
            attempts.append(TierAttempt(tier, credential.credential_id, "skipped", reason))
            continue
        if not credential.has_secret:
            attempts.append(
                TierAttempt(tier, credential.credential_id, "used", "local endpoint, no key")
            )
            return credential, None
        try:
            secret = vault.decrypt_for_call(
                credential.tenant_id,
                credential.credential_id,
                purpose="call",
                call_id=call_id,
                actor=actor,
            )
        except DecryptFailed:
            attempts.append(
                TierAttempt(tier, credential.credential_id, "skipped", "decrypt failed")
            )
            continue
        attempts.append(
            TierAttempt(tier, credential.credential_id, "used", f"status {credential.status}")
        )
        return credential, secret
    return None


def _fund_source(tier: str, credential: Credential) -> FundSource:
    if not credential.has_secret:
        return FundSource.local
    return FundSource.platform if tier == "platform" else FundSource.byok


def _record(
    vault: Vault,
    tenant_id: str,
    provider_id: str,
    call_id: str,
    credential: Credential | None,
    fund_source: FundSource,
    attempts: list[TierAttempt],
    secret: Secret | None,
) -> Resolution:
    record = ResolutionRecord(
        call_id,
        now(),
        tenant_id,
        provider_id,
        credential.credential_id if credential else None,
        fund_source,
        attempts,
    )
    durable = vault.repo.submit_resolution(record)
    return Resolution(record, secret, credential.base_url if credential else None, durable)


def _waited(resolution: Resolution, wait: bool) -> Resolution:
    if wait:
        resolution.wait_durable()
    return resolution


def fund_sources(vault: Vault, tenant_id: str) -> dict[str, frozenset[str]]:
    """Providers each fund source could pay for, for routing's ``FundSources``: ``byok`` where
    the tenant has a usable key, ``platform`` where the platform has one, ``local`` where the
    tenant configured a local endpoint. Policy (whether platform may pay) stays the caller's."""
    check_id("tenant_id", tenant_id)
    return _funds(vault.repo.credentials(tenant_id), vault.repo.credentials(PLATFORM_TENANT))


def cached_fund_sources(vault: Vault, tenant_id: str) -> dict[str, frozenset[str]] | None:
    """``fund_sources`` from the vault's cache alone, or None when it would need a query."""
    check_id("tenant_id", tenant_id)
    own = vault.repo.credentials_if_cached(tenant_id)
    platform = vault.repo.credentials_if_cached(PLATFORM_TENANT)
    return None if own is None or platform is None else _funds(own, platform)


def _funds(
    tenant_credentials: list[Credential], platform_credentials: list[Credential]
) -> dict[str, frozenset[str]]:
    own = [c for c in tenant_credentials if c.status in USABLE]
    platform = [c for c in platform_credentials if c.status in USABLE]
    return {
        "byok": frozenset(c.provider_id for c in own if c.has_secret),
        "platform": frozenset(c.provider_id for c in platform if c.has_secret),
        "local": frozenset(c.provider_id for c in own if not c.has_secret),
    }
