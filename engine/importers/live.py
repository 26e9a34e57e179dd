"""Live price sync inside a running server: a scheduled ``catalog sync`` (off by default) whose
result is swapped in atomically.

The server owns a :class:`CatalogHolder` (or any callback). A sync that succeeds writes the
catalog directory (all or nothing, see :func:`sync_catalog`) and then hands the directory to
``on_change``, which builds the new version (snapshot, DuckDB, caches) *beside* the serving one
and swaps a single reference. Requests that already took the old version (a quote with its
frozen prices) keep it; new requests see the new one. A failed fetch changes nothing.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from .common import now_utc
from .report import diff_summary, review_diff
from .sources import load_sources
from .sync import SyncError, sync_catalog

log = logging.getLogger(__name__)
T = TypeVar("T")
INTERVAL_ENV = "BYOKVAULT_CATALOG_SYNC_INTERVAL"
RUNS_KEPT = 50  # a schedule runs forever: keep the recent runs, not all of them


class CatalogHolder(Generic[T]):
    """One current value (a loaded catalog, a snapshot, a connection bundle), replaced
    atomically. Readers call :meth:`get` once per request and keep what they got."""

    def __init__(self, value: T) -> None:
        self._value = value
        self._lock = threading.Lock()
        self.swaps = 0

    def get(self) -> T:
        return self._value  # one reference read: atomic

    def swap(self, value: T) -> T:
        with self._lock:
            old, self._value = self._value, value
            self.swaps += 1
        return old


@dataclass
class SyncRun:
    """One sync: ``ok`` when every source was read and the result (if any) handed on."""

    started: datetime
    ok: bool
    changed: set[str] = field(default_factory=set)  # provider files the sync rewrote
    error: str | None = None
    finished: datetime | None = None
    summary: str | None = None  # the review diff's one-line summary, when something changed

    @property
    def result(self) -> str:
        return "failed" if not self.ok else "changed" if self.changed else "unchanged"


def interval_from_env() -> float | None:
    """Seconds between syncs from $BYOKVAULT_CATALOG_SYNC_INTERVAL; unset or 0: no schedule."""
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    if not raw:
        return None
    seconds = float(raw)
    if seconds < 0:
        raise ValueError(f"{INTERVAL_ENV} must be >= 0 seconds, got {raw!r}")
    return seconds or None


class CatalogSyncer:
    """Runs :func:`sync_catalog` now (:meth:`sync_once`) or every ``interval`` seconds on a
    daemon thread (:meth:`start`/:meth:`stop`). ``interval=None`` (the default) is off:
    ``start`` does nothing, as the issue asks."""

    def __init__(
        self,
        catalog_dir: Path,
        on_change: Callable[[Path], Any],
        *,
        locations: dict[str, Any] | None = None,
        interval: float | None = None,
        on_run: Callable[[SyncRun], Any] | None = None,
    ) -> None:
        self.catalog_dir = catalog_dir
        self.on_change = on_change
        self.on_run = on_run  # told about every run (a server's status and metrics)
        self.locations = locations
        self.interval = interval
        self.runs: deque[SyncRun] = deque(maxlen=RUNS_KEPT)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one sync at a time
        # The catalog was written but ``on_change`` failed: hand it on again next run, even if
        # that run changes nothing (else the new files would never be served).
        self._handoff_pending = False

    def _locations(self) -> dict[str, Any]:
        if self.locations is not None:
            return self.locations
        config = load_sources(self.catalog_dir)
        return {name: s.url for name, s in config.sources.items() if s.live}

    @property
    def running(self) -> bool:
        return self._lock.locked()

    def sync_once(self) -> SyncRun:
        with self._lock:
            run = SyncRun(started=now_utc(), ok=False)
            try:
                self._sync(run)
            except SyncError as exc:
                run.error = str(exc)
                log.warning("catalog sync failed, catalog unchanged: %s", exc)
            except Exception as exc:  # a scheduled job must survive and report any failure
                run.error = f"{type(exc).__name__}: {exc}"
                log.exception("catalog sync failed")
            run.finished = now_utc()
            self.runs.append(run)
            if self.on_run is not None:
                self.on_run(run)
            return run

    def _sync(self, run: SyncRun) -> None:
        before, outcome = sync_catalog(self.catalog_dir, self._locations())
        run.changed = set(outcome.changed)
        if run.changed:
            run.summary = diff_summary(review_diff(before, outcome, self.catalog_dir))
            self._handoff_pending = True
        if self._handoff_pending:
            try:
                self.on_change(self.catalog_dir)
            except Exception as exc:
                raise RuntimeError(
                    f"catalog written but the new version not loaded: {exc}"
                ) from exc
            self._handoff_pending = False
        run.ok = True

    @property
    def enabled(self) -> bool:
        return bool(self.interval)

    def start(self) -> bool:
        """Start the schedule; False (nothing started) when the interval is off."""
        if not self.enabled or self._thread is not None:
            return False
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="catalog-sync", daemon=True)
        self._thread.start()
        return True

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        assert self.interval
        while not self._stop.wait(self.interval):
            self.sync_once()
