"""The API's quote store: quotes answered from memory, made durable by a background writer.

A quote is a promise to honor prices until it expires (15 minutes). Writing each one to DuckDB
before answering costs a synced commit (~5 ms) per quote; here the answer returns at once and a
writer thread commits queued quotes in batches (one transaction per batch). After a restart,
quotes are read back from DuckDB; a quote lost in a crash before its batch committed is unknown,
so a call naming it is refused (``quote_not_found``) before the provider is paid: fail closed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

from byokvault.engine.groupcommit import GroupCommit
from byokvault.engine.pricing.quote import DuckDBQuoteStore, Quote

log = logging.getLogger(__name__)


class WriteBehindQuoteStore:
    """``recent``: how many of the newest quotes stay in memory once committed. Older ones are
    read back from DuckDB (its callers run in worker threads). Keeping every live quote in
    memory (up to 15 minutes of them: ~900k at 1,000/s, ~10 tracked objects each) made each full
    garbage collection scan them all, a pause of tens to hundreds of milliseconds."""

    def __init__(
        self, path: Path, max_batch: int = 1000, recent: int = 2048, linger_s: float = 0.05
    ) -> None:
        self._memory: OrderedDict[str, Quote] = OrderedDict()  # the newest, oldest first
        self._committed: set[str] = set()  # ids in memory whose batch committed
        self._memory_lock = threading.Lock()
        self._recent = recent
        self._last: Future[None] | None = None  # the newest put's commit (batches go in order)
        # quotes whose batch failed (memory is their only copy), and when the last expires
        self._not_committed = 0
        self._not_committed_until: datetime | None = None
        self.durable = DuckDBQuoteStore(path)
        # A DuckDB commit costs ~3-4 ms of CPU whatever its size: committing whatever happens to
        # be queued (a handful at 1,000 quotes/s) kept half a core busy beside the server, so a
        # batch gathers what ``linger_s`` brings.
        self._writer: GroupCommit[Quote, None] = GroupCommit(
            self._commit_batch, max_batch=max_batch, name="quote", linger_s=linger_s
        )

    def put(self, quote: Quote) -> None:
        with self._memory_lock:
            self._memory[quote.id] = quote
            self._evict()
        self._last = self._writer.submit(quote)

    def _evict(self) -> None:
        """Drop the oldest committed quotes beyond ``recent`` (an uncommitted one stays, pending
        or failed: memory is its only copy). Called with the lock held."""
        excess = len(self._memory) - self._recent
        if excess <= 0:
            return
        drop = []
        for quote_id in self._memory:  # oldest first; usually the first ones are committed
            if quote_id in self._committed:
                drop.append(quote_id)
                if len(drop) == excess:
                    break
        for quote_id in drop:
            del self._memory[quote_id]
            self._committed.discard(quote_id)

    def get(self, quote_id: str) -> Quote | None:
        with self._memory_lock:
            found = self._memory.get(quote_id)
        return found or self.durable.get(quote_id)

    def _commit_batch(self, quotes: list[Quote]) -> list[None]:
        try:
            self.durable.put_many(quotes)  # one transaction for the batch: one commit
        except Exception as exc:  # they stay in memory (honored until then), never evicted
            log.error("%d quotes not committed: %s", len(quotes), type(exc).__name__)
            last_expiry = max(q.expires_at for q in quotes)
            with self._memory_lock:
                self._not_committed += len(quotes)
                if self._not_committed_until is None or last_expiry > self._not_committed_until:
                    self._not_committed_until = last_expiry
            raise
        with self._memory_lock:
            self._committed.update(q.id for q in quotes if q.id in self._memory)
            self._evict()
        return [None] * len(quotes)

    def health(self, now: datetime | None = None) -> str:
        """Either "ok" or how many live quotes only memory holds (a restart would forget them);
        "ok" again once the last of them has expired (then nothing is owed)."""
        with self._memory_lock:
            lost, until = self._not_committed, self._not_committed_until
        if until is None or (now or datetime.now(UTC)) >= until:
            return "ok"
        return (
            f"{lost} quotes not committed (honored from memory until they expire, the last at "
            f"{until.isoformat()}; a restart forgets them)"
        )

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every quote put so far is committed (or its commit failed)."""
        last = self._last
        if last is not None:
            with contextlib.suppress(Exception):
                last.result(timeout)

    def close(self) -> None:
        """Commit every queued quote, then close."""
        self._writer.close()
        self.durable.close()
