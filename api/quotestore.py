"""The API's quote store: quotes answered from memory, made durable by a background writer.

A quote is a promise to honor prices until it expires (15 minutes). Writing each one to DuckDB
before answering costs a synced commit (~5 ms) per quote; here the answer returns at once and a
writer thread commits queued quotes in batches (one transaction per batch). After a restart,
quotes are read back from DuckDB; a quote lost in a crash before its batch committed is unknown,
so a call naming it is refused (``quote_not_found``) before the provider is paid: fail closed.
"""

from __future__ import annotations

import queue
import threading
from datetime import UTC, datetime
from pathlib import Path

from byokvault.engine.pricing.quote import DuckDBQuoteStore, Quote

_STOP = object()


class WriteBehindQuoteStore:
    def __init__(self, path: Path, max_batch: int = 1000) -> None:
        self._memory: dict[str, Quote] = {}
        self._memory_lock = threading.Lock()
        self._puts = 0
        self.durable = DuckDBQuoteStore(path)
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._max_batch = max_batch
        self._thread = threading.Thread(target=self._run, name="quote-writer", daemon=True)
        self._thread.start()

    def put(self, quote: Quote) -> None:
        with self._memory_lock:
            self._memory[quote.id] = quote
            self._puts += 1
            if self._puts % 10_000 == 0:  # expired quotes leave memory (they stay on disk)
                now = datetime.now(UTC)
                self._memory = {k: q for k, q in self._memory.items() if q.expires_at > now}
        self._queue.put(quote)

    def get(self, quote_id: str) -> Quote | None:
        with self._memory_lock:
            found = self._memory.get(quote_id)
        return found or self.durable.get(quote_id)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = _STOP in batch
            quotes = [q for q in batch if isinstance(q, Quote)]
            if quotes:
                self.durable.put_many(quotes)  # one transaction for the batch: one commit
            if stop:
                return

    def close(self) -> None:
        """Commit every queued quote, then close."""
        self._queue.put(_STOP)
        self._thread.join(timeout=30)
        self.durable.close()
