"""Idempotency-Key handling for gateway calls: a retried request is answered once.

The first request with a key runs; concurrent retries wait for it; later retries get the stored
answer replayed (status, headers, body — a stream is replayed as the same bytes). A key reused
with a different body is a 409. Answers are kept in memory for ``ttl_s`` (bounded LRU); the
ledger's own idempotency key is the durable guarantee that a call bills once even across a
restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from .problems import ApiProblem

MAX_KEY_LENGTH = 255


@dataclass
class StoredAnswer:
    status: int
    headers: dict[str, str]
    chunks: list[bytes]
    media_type: str
    stored_at: float


@dataclass
class _Entry:
    fingerprint: str
    lock: asyncio.Lock
    answer: StoredAnswer | None = None


class IdempotencyStore:
    def __init__(self, max_entries: int = 10_000, ttl_s: float = 24 * 3600) -> None:
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self.max_entries = max_entries
        self.ttl_s = ttl_s

    @staticmethod
    def fingerprint(endpoint: str, body: bytes) -> str:
        return hashlib.sha256(endpoint.encode() + b"\0" + body).hexdigest()

    @asynccontextmanager
    async def claim(self, tenant_id: str, key: str, fingerprint: str) -> AsyncIterator[_Entry]:
        """Hold the key while the call runs; on exit the entry has an answer or is released."""
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ApiProblem(
                "validation_error",
                f"Idempotency-Key: must be 1-{MAX_KEY_LENGTH} characters",
                errors=[{"field": "Idempotency-Key", "message": "bad length"}],
            )
        entry = self._entry(tenant_id, key, fingerprint)
        if entry.fingerprint != fingerprint:
            raise ApiProblem(
                "idempotency_conflict",
                "this Idempotency-Key was used with a different request body",
            )
        async with entry.lock:
            yield entry

    def _entry(self, tenant_id: str, key: str, fingerprint: str) -> _Entry:
        now = time.monotonic()
        ident = (tenant_id, key)
        entry = self._entries.get(ident)
        if entry and entry.answer and now - entry.answer.stored_at > self.ttl_s:
            entry = None
        if entry is None:
            entry = _Entry(fingerprint, asyncio.Lock())
            self._entries[ident] = entry
        self._entries.move_to_end(ident)
        while len(self._entries) > self.max_entries:
            oldest_key, oldest = next(iter(self._entries.items()))
            if oldest.lock.locked():
                break
            del self._entries[oldest_key]
        return entry
