"""Admin: the live catalog's sync status, and a sync now (see ``api/catalog_sync.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from ..auth import Principal, provide_admin
from ..catalog_sync import CatalogSyncStatus, LiveCatalog

ADMIN = {"dependencies": {"admin": Provide(provide_admin)}, "tags": ["admin"]}
WAIT_HELP = "wait for the sync to finish (up to 10 minutes) and answer 200 with its result"
WAIT_LIMIT_S = 600.0


def _live(request: Request[Any, Any, Any]) -> LiveCatalog:
    return request.app.state.catalog


@get("/v1/admin/catalog/sync", operation_id="catalogSyncStatus", sync_to_thread=False, **ADMIN)
def sync_status(
    request: Request[Any, Any, Any], admin: NamedDependency[Principal]
) -> CatalogSyncStatus:
    """The catalog version served and its counts, the sync schedule, and the last run's
    result and error."""
    return _live(request).status()


@post(
    "/v1/admin/catalog/sync",
    operation_id="catalogSyncNow",
    status_code=202,
    sync_to_thread=True,  # with wait, blocks a worker thread (never the event loop)
    responses={
        200: ResponseSpec(CatalogSyncStatus, description="with wait: the sync has finished"),
    },
    **ADMIN,
)
def sync_now(
    request: Request[Any, Any, Any],
    admin: NamedDependency[Principal],
    wait: Annotated[bool, QueryParameter(description=WAIT_HELP)] = False,
) -> Response[CatalogSyncStatus]:
    """Sync the live sources now, on the sync thread. A new catalog version is swapped in
    atomically; a failed or partial fetch changes nothing and is reported in the status.
    A server with sync off (the default) answers 409."""
    live = _live(request)
    live.trigger(wait=wait, timeout=WAIT_LIMIT_S)
    return Response(live.status(), status_code=200 if wait else 202)
