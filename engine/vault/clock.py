"""The vault's clock (UTC, timezone-aware), in one place so tests can reason about windows."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
