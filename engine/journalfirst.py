"""Journal first, table after: a batch is acknowledged once its bytes are in an append-only
log, and one background thread then applies what was acknowledged to the table.

Shared by the ledger (``engine/ledger/store.py``) and the vault's audit rows
(``engine/vault/auditlog.py``). Acknowledgement is one gathered ``O_DSYNC`` write
(``engine/appendlog.py``, ~0.2 ms on an idle disk). A DuckDB statement and its commit cost
~2.5 ms of CPU and an fsync whatever their size: run after every call (a gateway's rhythm) they
loaded the whole 2-core machine and collided with the next call's synced log write. So the
applier gathers what is acknowledged for up to ``linger_s`` (or ``max_rows``) into one
``apply``. Every read of the table first calls ``settle``, which waits until the table holds
everything acknowledged before it (read-your-writes); a waiting reader cuts the gathering short.

A failed log write or apply fails closed: every later ``append`` and ``settle`` raises
``error()`` from the cause. The acknowledged rows stay in the log; reopening replays them. What
the log's bytes mean (frames, checks, replay) is the owner's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from .appendlog import AppendLog

B = TypeVar("B")  # one acknowledged batch, as the owner's apply takes it

log = logging.getLogger(__name__)


class JournalFirst(Generic[B]):
    """An open log (already replayed by its owner) and the thread that applies it."""

    def __init__(
        self,
        log_file: AppendLog,
        apply: Callable[[list[B]], None],
        *,
        rows: Callable[[B], int],
        error: Callable[[], Exception],
        name: str,
        reset_bytes: int,
        linger_s: float,
        max_rows: int,
    ) -> None:
        self._log = log_file
        self._apply = apply  # one transaction for the batches; must be atomic
        self._rows = rows
        self._error = error
        self._reset_bytes = reset_bytes  # empty the log once this big and fully applied
        self._linger_s = linger_s
        self._max_rows = max_rows
        self._log_lock = threading.Lock()  # appends vs a reset
        self._changed = threading.Condition()
        self._pending: list[B] = []
        self._journaled = self._applied = 0  # rows, counted since open
        self._readers = 0  # settling callers: the applier stops gathering for them
        self._failed: BaseException | None = None
        self._stopping = self._closed = False
        self._applier = threading.Thread(target=self._apply_loop, name=f"{name}-apply", daemon=True)
        self._applier.start()

    @property
    def applier_thread_id(self) -> int | None:
        """The native id of the thread that applies (for CPU accounting)."""
        return self._applier.native_id

    def append(self, batch: B, frames: Sequence[bytes]) -> None:
        """Durable when it returns: ``frames`` (the batch's bytes) are in the log."""
        with self._log_lock:
            self.check()
            if self._log.size > self._reset_bytes:  # rare: the table durably holds every frame
                self.settle()
                self._log.reset()
            try:
                self._log.write(frames)
            except BaseException as exc:  # a failed synced write leaves the file in doubt
                self._fail(exc)
                raise
        with self._changed:
            self._pending.append(batch)
            self._journaled += self._rows(batch)
            self._changed.notify_all()

    def settle(self) -> None:
        """Wait until the table holds every row acknowledged before this call."""
        with self._changed:
            target = self._journaled
            self._readers += 1
            self._changed.notify_all()
            try:
                while self._applied < target and self._failed is None:
                    self._changed.wait()
            finally:
                self._readers -= 1
        self.check()

    def health(self) -> str:
        """Either "ok" or what failed and what that means (for /healthz; no path, no secret)."""
        if self._failed is None:
            return "ok"
        return (
            f"failed ({type(self._failed).__name__}): writes and reads are refused; "
            "acknowledged rows are kept in the log and replayed at the next open"
        )

    def check(self) -> None:
        """Raise the owner's error if a write or an apply has failed."""
        if self._failed is not None:
            raise self._error() from self._failed

    def close(self) -> None:
        """Apply everything acknowledged, empty the log (unless something failed: then the
        log keeps it for the replay), close it."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._applier.join()
        with self._log_lock:
            if self._closed:
                return
            self._closed = True
            if self._failed is None and self._log.size:
                self._log.reset()
            self._log.close()

    def _apply_loop(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._stopping:
                    self._changed.wait()
                if not self._pending:
                    return
                self._linger()
                batches, self._pending = self._pending, []
            try:
                self._apply(batches)
            except BaseException as exc:  # the rows stay in the log; reads and writes now fail
                log.error("%s apply failed: %s", self._applier.name, type(exc).__name__)
                self._fail(exc)
                return
            with self._changed:
                self._applied += sum(map(self._rows, batches))
                self._changed.notify_all()

    def _linger(self) -> None:
        """Let more rows gather (called holding ``_changed``, with rows pending)."""
        deadline = time.monotonic() + self._linger_s
        while (
            not self._stopping
            and not self._readers
            and self._journaled - self._applied < self._max_rows
        ):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._changed.wait(remaining)

    def _fail(self, exc: BaseException) -> None:
        with self._changed:
            if self._failed is None:
                self._failed = exc
            self._changed.notify_all()
