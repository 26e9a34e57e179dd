"""Group commit: many callers, one writer thread, one durable write per batch.

Callers on any thread ``submit`` an item and get a Future. One writer thread takes everything
queued (up to ``max_batch``) and hands it to ``commit`` as one batch; while that write is in
flight the next batch queues up, so the cost per item falls as load rises, with no timer (no
added linger for a lone item).

``commit(items)`` must be durable when it returns, and returns one outcome per item, in order:
the value the item's Future resolves with, or an exception that fails only that item (e.g. an
idempotency conflict). Futures are answered only after ``commit`` returns; if it raises, every
item of the batch fails with that exception and the writer goes on with the next batch.

Used by the ledger writer (engine/ledger/writer.py), the vault's audit rows
(engine/vault/groupcommit.py) and the API's write-behind quote store (api/quotestore.py).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")  # what callers submit
R = TypeVar("R")  # what their Futures resolve with

CommitBatch = Callable[[list[T]], Sequence["R | BaseException"]]

_STOP = object()


class GroupCommit(Generic[T, R]):
    """A single writer thread draining a queue into batches of at most ``max_batch`` items."""

    def __init__(
        self,
        commit: CommitBatch,
        *,
        max_batch: int,
        name: str,
        linger_s: float = 0.0,
        size: Callable[[T], int] | None = None,
    ) -> None:
        self._commit = commit
        self._max_batch = max_batch
        # what an item counts for against max_batch (default 1): an item may carry several
        # records under one Future (the ledger's submit_many)
        self._size = size
        # 0: take only what is already queued (no added latency for a lone item); > 0: wait up
        # to this long after a batch's first item for more (for writers whose callers do not
        # wait, where one commit per batch is what matters)
        self._linger_s = linger_s
        self.name = name
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._closing = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"{name}-writer", daemon=True)
        self._thread.start()

    def submit(self, item: T) -> Future[R]:
        """Queue ``item``; the Future resolves once its batch is durable."""
        future: Future[R] = Future()
        with self._closing:
            if self._closed:
                raise RuntimeError(f"the {self.name} writer is closed")
            self._queue.put((item, future))
        return future

    def close(self) -> None:
        """Commit everything queued (every Future resolves), then stop the writer thread."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()

    # ---- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch, stop = self._next_batch()
            if batch:
                self._write(batch)
            if stop:
                return

    def _next_batch(self) -> tuple[list[tuple[T, Future[R]]], bool]:
        """Block for the first job, then take whatever else is queued (within the linger)."""
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch = [first]
        size = self._size
        total = 1 if size is None else size(first[0])  # type: ignore[index]
        deadline = time.monotonic() + self._linger_s
        while total < self._max_batch:
            remaining = deadline - time.monotonic()
            try:
                job = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if job is _STOP:
                return batch, True  # type: ignore[return-value]
            batch.append(job)
            total += 1 if size is None else size(job[0])  # type: ignore[index]
        return batch, False  # type: ignore[return-value]

    def _write(self, batch: list[tuple[T, Future[R]]]) -> None:
        try:
            outcomes = self._commit([item for item, _ in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{self.name}: commit gave {len(outcomes)} outcomes")
        except BaseException as exc:  # a failed batch fails its callers, not the writer
            outcomes = [exc] * len(batch)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
