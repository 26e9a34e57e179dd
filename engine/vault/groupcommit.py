"""Group commit for the vault's audit rows (access events, resolutions).

Each audit row used to be its own synced DuckDB commit (~1-3 ms, serialized). Here callers on
any thread ``submit`` a row and get a Future; one writer thread drains the queue and writes
everything queued in ONE transaction, then resolves the futures. While a commit is in flight the
next batch queues up, so the cost per row falls as load rises, with no timer (no added linger).

A caller that waits on its Future knows its row is durable: "no audit row, no secret" still
holds. If a batch fails, each row is retried alone so that one bad row (e.g. a reused call id)
fails only its own caller.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# write(rows) writes every row of one batch inside the caller's transaction.
BatchWriter = Callable[[Sequence["AuditRow"]], None]


@dataclass(frozen=True, slots=True)
class AuditRow:
    table: str  # a key the writer understands ("access", "resolution")
    values: tuple[Any, ...]
    future: Future[None] = field(default_factory=Future, compare=False)


_STOP = object()


class GroupCommitter:
    """One writer thread; ``commit(rows)`` is called with each batch and must be atomic."""

    def __init__(self, commit: BatchWriter, *, max_batch: int = 1024, name: str = "audit") -> None:
        self._commit = commit
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._closing = threading.Lock()
        self._closed = False
        self.batches = 0  # commits made (for tests and metrics)
        self._thread = threading.Thread(target=self._run, name=f"{name}-writer", daemon=True)
        self._thread.start()

    def submit(self, table: str, values: tuple[Any, ...]) -> Future[None]:
        row = AuditRow(table, values)
        with self._closing:
            if self._closed:
                raise RuntimeError("the audit writer is closed")
            self._queue.put(row)
        return row.future

    def close(self) -> None:
        """Commit everything queued (every future resolves), then stop the thread."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        while True:
            batch, stop = self._next_batch()
            if batch:
                self._write(batch)
            if stop:
                return

    def _next_batch(self) -> tuple[list[AuditRow], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True  # type: ignore[return-value]
            batch.append(item)
        return batch, False  # type: ignore[return-value]

    def _write(self, batch: list[AuditRow]) -> None:
        try:
            self._commit(batch)
        except Exception as exc:
            if len(batch) > 1:
                for row in batch:  # isolate the bad row: the others still commit
                    self._write([row])
                return
            log.error("audit write failed (%s): %s", batch[0].table, type(exc).__name__)
            batch[0].future.set_exception(exc)
            return
        self.batches += 1
        for row in batch:
            row.future.set_result(None)
