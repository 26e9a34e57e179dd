"""The append-only billing ledger: one BillingRecord per call with its frozen price snapshot,
written by one idempotent, group-committing writer into a hash chain."""

from .record import (
    BillingRecord,
    FundSource,
    Kind,
    LedgerEntry,
    PricedLine,
    PricingSnapshot,
    Rounding,
    Usage,
    usage_of,
)
from .validate import RecordError
from .verify import Break, ChainCheck
from .writer import IdempotencyConflict, Ledger, ReversalError, TenantUsage

__all__ = [
    "BillingRecord",
    "Break",
    "ChainCheck",
    "FundSource",
    "IdempotencyConflict",
    "Kind",
    "Ledger",
    "LedgerEntry",
    "PricedLine",
    "PricingSnapshot",
    "RecordError",
    "ReversalError",
    "Rounding",
    "TenantUsage",
    "Usage",
    "usage_of",
]
