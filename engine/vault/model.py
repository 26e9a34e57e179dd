"""The vault's records. None of them can hold a secret: only ``Secret`` does, and only the
audited decrypt path creates one from storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# Platform keys are stored as credentials of this reserved tenant.
PLATFORM_TENANT = "__platform__"


class Status(StrEnum):
    active = "active"
    revoked = "revoked"
    rate_limited = "rate_limited"
    provider_outage = "provider_outage"
    unknown = "unknown"


class FundSource(StrEnum):
    byok = "byok"
    platform = "platform"
    local = "local"
    none = "none"


class AccessResult(StrEnum):
    opened = "opened"  # written BEFORE the decrypt; the decrypt runs only if this write succeeds
    denied = "denied"  # refused before touching key material
    failed = "failed"  # the decrypt itself failed (tampered, moved, KEK missing)


@dataclass(frozen=True, slots=True)
class Credential:
    """A credential's metadata. The secret is write-only and is not part of this record."""

    credential_id: str
    tenant_id: str
    provider_id: str
    base_url: str | None
    label: str
    fingerprint: str | None
    status: Status
    status_reason: str | None
    secret_version: int
    dk_version: int | None
    has_secret: bool
    created_at: datetime
    updated_at: datetime
    status_changed_at: datetime
    last_checked_at: datetime | None

    @classmethod
    def from_row(cls, row: tuple) -> Credential:
        values = list(row)
        values[6] = Status(values[6])
        return cls(*values)

    def public(self) -> dict[str, object]:
        """JSON-ready view for CLIs and APIs."""
        return {
            "credential_id": self.credential_id,
            "tenant_id": self.tenant_id,
            "provider_id": self.provider_id,
            "base_url": self.base_url,
            "label": self.label,
            "fingerprint": f"…{self.fingerprint}" if self.fingerprint else None,  # last 4 only
            "status": str(self.status),
            "status_reason": self.status_reason,
            "secret_version": self.secret_version,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "status_changed_at": self.status_changed_at.isoformat(),
            "last_checked_at": self.last_checked_at.isoformat() if self.last_checked_at else None,
        }


@dataclass(frozen=True, slots=True)
class AccessEvent:
    event_id: str
    at: datetime
    actor: str
    tenant_id: str
    credential_id: str
    purpose: str | None
    call_id: str | None
    result: AccessResult
    detail: str | None


@dataclass(frozen=True, slots=True)
class TierAttempt:
    tier: str  # "tenant", "platform" or "local"
    credential_id: str | None
    outcome: str  # "used" or "skipped"
    reason: str


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: str
    at: datetime
    rule_id: str
    severity: str
    tenant_id: str
    credential_id: str | None
    call_id: str | None
    message: str


@dataclass(frozen=True, slots=True)
class HealthEvent:
    at: datetime
    source: str
    http_status: int | None
    outcome: str
    status: Status
    latency_ms: float | None
    detail: str | None


@dataclass(slots=True)
class ResolutionRecord:
    """One row per call, joined by the ledger on ``call_id``. Never holds the secret."""

    call_id: str
    at: datetime
    tenant_id: str
    provider_id: str
    credential_id: str | None
    fund_source: FundSource
    tiers: list[TierAttempt] = field(default_factory=list)
