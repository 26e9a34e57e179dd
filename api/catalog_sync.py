"""Live catalog updates inside the running server (issue 4, item 5).

A :class:`CatalogVersion` bundles everything the API derives from one catalog version: the
resources' catalog, its in-memory DuckDB (and the per-thread cursors on it), the console's views,
the price index, the routing service with its memoized plans, and the gateway's planner and
settler. :class:`LiveCatalog` holds the serving version in one reference and hosts the importers'
:class:`CatalogSyncer`, which runs ``catalog sync`` on its own thread (never in the event loop):
every ``catalog_sync_interval_s`` seconds when configured (off by default), or when an admin
asks (``POST /v1/admin/catalog/sync``).

A sync that rewrote the catalog directory builds the next version beside the serving one and
swaps the reference: one assignment, so the swap is atomic. A request takes the version once, on
first use (:func:`current`), and keeps it to its end, so it sees one version entirely and an
in-flight request finishes on the version it started with; the old version's DuckDB is released
when its last request lets go of it. Quotes live in the shared quote store with their frozen
prices, so a quote issued before a swap settles at its quoted prices after it. A failed or
partial fetch writes nothing and swaps nothing; it is logged and shown in the status.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from byokvault.engine.catalog.store import open_catalog
from byokvault.engine.importers import live
from byokvault.engine.importers.common import now_utc
from byokvault.engine.importers.live import INTERVAL_ENV, CatalogHolder, CatalogSyncer, SyncRun
from byokvault.engine.importers.report import catalog_counts
from byokvault.engine.redact import redact_logger, redact_optional

from .engine import Planner, Settler
from .gateway import Gateway
from .metrics import settle_heap
from .problems import ApiProblem
from .routing import RouteService
from .state import Resources

log = logging.getLogger(__name__)
# Loggers that may print a source URL (a fetch error quotes it; httpx logs each request's URL).
SOURCE_URL_LOGGERS = (__name__, live.__name__, "httpx")
SCOPE_KEY = "byokvault.catalog_version"  # where a request keeps the version it runs on


@dataclass(frozen=True)
class CatalogVersion:
    """One catalog version and everything the API derives from it, replaced as one unit."""

    resources: Resources
    routing: RouteService
    gateway: Gateway
    counts: dict[str, int]
    loaded_at: datetime = field(default_factory=now_utc)

    @property
    def version(self) -> str:
        return self.resources.catalog.version

    @classmethod
    def build(cls, resources: Resources, previous: CatalogVersion | None = None) -> CatalogVersion:
        routing = RouteService(resources)
        planner, settler = Planner(resources, routing), Settler(resources)
        if previous is None:
            gateway = Gateway(resources, planner, settler)
        else:
            gateway = previous.gateway.rebind(resources, planner, settler)
        providers = {p.id: p for p in resources.catalog.providers}
        return cls(resources, routing, gateway, catalog_counts(providers))


def current(request: Any) -> CatalogVersion:
    """The catalog version this request runs on: the serving one when the request first asks,
    then the same one for the rest of the request, whatever a sync swaps in meanwhile."""
    scope = request.scope
    pinned = scope.get(SCOPE_KEY)
    if pinned is None:
        pinned = scope[SCOPE_KEY] = request.app.state.catalog.get()
    return pinned


class SyncRunOut(msgspec.Struct, kw_only=True):
    started_at: datetime
    finished_at: datetime | None
    result: str  # changed | unchanged | failed
    changed_providers: list[str]
    summary: str | None = None
    error: str | None = None


class CatalogSyncStatus(msgspec.Struct, kw_only=True):
    """The live catalog: the version served, and the scheduled/triggered syncs."""

    enabled: bool  # false: the server never syncs (the default)
    catalog_version: str
    loaded_at: datetime
    counts: dict[str, int]  # of the served version: providers, models, price rows, ...
    schedule_interval_s: float | None  # None: no schedule (syncs only when triggered)
    running: bool
    runs: int  # since the server started
    swaps: int
    last_run: SyncRunOut | None
    last_error: str | None
    last_error_at: datetime | None


def run_out(run: SyncRun) -> SyncRunOut:
    """A sync run as shown to an admin: a source URL's credentials never (engine/redact.py)."""
    return SyncRunOut(
        started_at=run.started,
        finished_at=run.finished,
        result=run.result,
        changed_providers=sorted(run.changed),
        summary=redact_optional(run.summary),
        error=redact_optional(run.error),
    )


class LiveCatalog:
    """The serving catalog version and the sync that replaces it."""

    def __init__(self, first: CatalogVersion, *, on_swap: Any = None) -> None:
        settings = first.resources.settings
        self._holder: CatalogHolder[CatalogVersion] = CatalogHolder(first)
        self._on_swap = on_swap  # told the new version after each swap (app.state mirrors)
        self.syncer = CatalogSyncer(
            settings.catalog_dir,
            self._load,
            interval=settings.catalog_sync_interval_s or None,
            on_run=self._observe,
        )
        self.enabled = settings.catalog_sync_interval_s is not None
        for name in SOURCE_URL_LOGGERS:
            redact_logger(name)
        self._runs = 0
        self._last_failure: SyncRun | None = None
        self._trigger_lock = threading.Lock()
        self._triggered: threading.Thread | None = None

    def get(self) -> CatalogVersion:
        return self._holder.get()

    # -- the sync's side (its own thread) -------------------------------------------------
    def _load(self, catalog_dir: Path) -> None:
        """The syncer wrote ``catalog_dir``: build the next version beside the serving one,
        then swap. Any failure here leaves the serving version in place."""
        old = self.get()
        settings = old.resources.settings
        catalog, con = open_catalog(catalog_dir, settings.data_dir / "snapshots")
        try:
            new = CatalogVersion.build(old.resources.with_catalog(catalog, con), old)
        except BaseException:
            con.close()
            raise
        self._holder.swap(new)
        if self._on_swap is not None:
            self._on_swap(new)
        log.info("catalog sync: version %s replaced by %s", old.version, new.version)
        del old, new  # this thread's references: the old version is free once requests are
        if settings.gc_freeze:
            settle_heap()  # collect what is free, freeze the new version (see api/metrics.py)

    def _observe(self, run: SyncRun) -> None:
        self._runs += 1
        if not run.ok:
            self._last_failure = run
        metrics = self.get().resources.metrics
        metrics.inc("byokvault_catalog_sync_total", "Catalog syncs by result", result=run.result)

    # -- the server's side ----------------------------------------------------------------
    def start(self) -> bool:
        """Start the schedule when an interval is configured (off by default)."""
        started = self.syncer.start()
        if started:
            log.info("catalog sync scheduled every %s s", self.syncer.interval)
        return started

    def stop(self, timeout: float = 30.0) -> None:
        self.syncer.stop(timeout)
        with self._trigger_lock:
            thread = self._triggered
        if thread is not None:
            thread.join(timeout)

    def trigger(self, wait: bool = False, timeout: float | None = None) -> None:
        """Sync now on a background thread (one at a time: a trigger while one runs joins it).
        With ``wait``, block until that run has finished (call from a worker thread only).
        Refused when sync is off: a server rewrites its catalog only when configured to."""
        if not self.enabled:
            raise ApiProblem(
                "conflict",
                f"catalog sync is off on this server: set {INTERVAL_ENV} (0: on demand only)",
            )
        with self._trigger_lock:
            thread = self._triggered
            if thread is None or not thread.is_alive():
                thread = threading.Thread(
                    target=self.syncer.sync_once, name="catalog-sync-now", daemon=True
                )
                self._triggered = thread
                thread.start()
        if wait:
            thread.join(timeout)

    def status(self) -> CatalogSyncStatus:
        serving = self.get()
        runs = list(self.syncer.runs)
        failure = self._last_failure
        return CatalogSyncStatus(
            enabled=self.enabled,
            catalog_version=serving.version,
            loaded_at=serving.loaded_at,
            counts=serving.counts,
            schedule_interval_s=self.syncer.interval,
            running=self.syncer.running,
            runs=self._runs,
            swaps=self._holder.swaps,
            last_run=run_out(runs[-1]) if runs else None,
            last_error=redact_optional(failure.error) if failure else None,
            last_error_at=failure.finished if failure else None,
        )
