"""The ByokVault Litestar application: ``create_app(settings)``.

The lifespan builds the shared resources (catalog snapshot in an in-memory DuckDB, token store,
upstream HTTP client, engine components) once per worker and keeps them on ``app.state``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from litestar import Litestar
from litestar.config.response_cache import ResponseCacheConfig
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from byokvault.api.console.routes import STATE_KEY, console_router, template_config

from .catalog_sync import CatalogVersion, LiveCatalog
from .metrics import GcWatch, Metrics, MetricsMiddleware, settle_heap
from .problems import EXCEPTION_HANDLERS
from .routes.catalog import CatalogController, openai_models
from .routes.catalog_sync import sync_now, sync_status
from .routes.credentials import CredentialController
from .routes.gateway import GATEWAY_HANDLERS
from .routes.ops import healthz, issue_token, list_tokens, metrics, revoke_token
from .routes.quotes import margins, quote
from .routes.receipts import RECEIPT_HANDLERS
from .routes.routing import route
from .settings import Settings
from .state import open_resources
from .wire import MoneyResponse

API_VERSION = "1.0.0"
ROUTE_HANDLERS = [
    CatalogController,
    CredentialController,
    openai_models,
    healthz,
    metrics,
    issue_token,
    list_tokens,
    revoke_token,
    *GATEWAY_HANDLERS,
    *RECEIPT_HANDLERS,
    route,
    quote,
    margins,
    sync_status,
    sync_now,
]


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="ByokVault API",
        version=API_VERSION,
        description=(
            "Priced model catalog, quotes, capability routing, BYOK credentials, receipts and an "
            "OpenAI/Anthropic-compatible gateway. Money is a decimal string; errors are RFC 9457 "
            "problem details with a typed `code`."
        ),
        path="/schema",
        render_plugins=[JsonRenderPlugin()],
    )


def publish(app: Litestar, version: CatalogVersion) -> None:
    """Mirror the serving version on ``app.state`` for code outside a request (shutdown,
    tests). Requests use ``catalog_sync.current``: one version for the whole request."""
    app.state.resources = version.resources
    app.state[STATE_KEY] = version.resources.views
    app.state.routing = version.routing
    app.state.gateway = version.gateway


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    metrics_registry = Metrics()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # No local keeps the first version: a swap must be able to release it.
        live = LiveCatalog(
            CatalogVersion.build(open_resources(settings, metrics_registry)),
            on_swap=lambda version: publish(app, version),
        )
        app.state.catalog = live  # requests take their catalog version here (current())
        publish(app, live.get())
        if settings.gc_freeze:
            settle_heap()
        live.start()  # the scheduled sync, when configured
        try:
            with GcWatch(metrics_registry):
                yield
        finally:
            await to_thread.run_sync(live.stop)
            await live.get().resources.aclose()

    return Litestar(
        route_handlers=[*ROUTE_HANDLERS, console_router()],
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[DefineMiddleware(MetricsMiddleware, metrics=metrics_registry)],
        openapi_config=openapi_config(),
        template_config=template_config(),
        response_cache_config=ResponseCacheConfig(),
        response_class=MoneyResponse,
        debug=False,
    )
