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
import time
from collections import OrderedDict
from pathlib import Path

from byokvault.engine.pricing.quote import DuckDBQuoteStore, Quote

_STOP = object()


class WriteBehindQuoteStore:
    """``recent``: how many of the newest quotes stay in memory once committed. Older ones are
    read back from DuckDB (its callers run in worker threads). Keeping every live quote in
    memory (up to 15 minutes of them: ~900k at 1,000/s, ~10 tracked objects each) made each full
    garbage collection scan them all, a pause of tens to hundreds of milliseconds."""

    def __init__(
        self, path: Path, max_batch: int = 1000, recent: int = 2048, linger_s: float = 0.05
    ) -> None:
        self._memory: OrderedDict[str, Quote] = OrderedDict()  # the newest, oldest first
        self._memory_lock = threading.Lock()
        self._recent = recent
        self._linger_s = linger_s
        self._puts = 0  # quotes put so far
        self._committed = 0  # of which committed (the writer commits in put order)
        self.durable = DuckDBQuoteStore(path)
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._max_batch = max_batch
        self._thread = threading.Thread(target=self._run, name="quote-writer", daemon=True)
        self._thread.start()

    def put(self, quote: Quote) -> None:
        with self._memory_lock:
            self._memory[quote.id] = quote
            self._puts += 1
            self._evict()
        self._queue.put(quote)

    def _evict(self) -> None:
        """Drop the oldest quotes beyond ``recent`` that are committed (an uncommitted quote
        stays: memory is its only copy). Called with the lock held."""
        memory = self._memory
        while len(memory) > self._recent and self._puts - len(memory) < self._committed:
            memory.popitem(last=False)

    def get(self, quote_id: str) -> Quote | None:
        with self._memory_lock:
            found = self._memory.get(quote_id)
        return found or self.durable.get(quote_id)

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            stop = _STOP in batch
            quotes = [q for q in batch if isinstance(q, Quote)]
            if quotes:
                self.durable.put_many(quotes)  # one transaction for the batch: one commit
                with self._memory_lock:
                    self._committed += len(quotes)
            if stop:
                return

    def _next_batch(self) -> list[object]:
        """The quotes queued within ``linger_s`` of the first (or ``max_batch`` of them): a
        DuckDB commit costs ~3-4 ms of CPU whatever its size, so committing whatever happens
        to be queued (a handful at 1,000 quotes/s) kept half a core busy beside the server."""
        batch = [self._queue.get()]
        deadline = time.monotonic() + self._linger_s
        while len(batch) < self._max_batch and batch[-1] is not _STOP:
            remaining = deadline - time.monotonic()
            try:
                if remaining > 0:
                    batch.append(self._queue.get(timeout=remaining))
                else:
                    batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every quote put so far is committed."""
        deadline = time.monotonic() + timeout
        while self._committed < self._puts and time.monotonic() < deadline:
            time.sleep(0.001)

    def close(self) -> None:
        """Commit every queued quote, then close."""
        self._queue.put(_STOP)
        self._thread.join(timeout=30)
        self.durable.close()
