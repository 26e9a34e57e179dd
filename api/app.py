"""The ByokVault Litestar application: ``create_app(settings)``.

The lifespan builds the shared resources (catalog snapshot in an in-memory DuckDB, token store,
upstream HTTP client, engine components) once per worker and keeps them on ``app.state``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.response_cache import ResponseCacheConfig
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from byokvault.api.console.routes import STATE_KEY, console_router, template_config

from .engine import Planner, Settler
from .gateway import Gateway
from .metrics import Metrics, MetricsMiddleware
from .problems import EXCEPTION_HANDLERS
from .routes.catalog import CatalogController, openai_models
from .routes.credentials import CredentialController
from .routes.gateway import GATEWAY_HANDLERS
from .routes.ops import healthz, issue_token, list_tokens, metrics, revoke_token
from .routes.quotes import margins, quote
from .routes.receipts import RECEIPT_HANDLERS
from .routes.routing import route
from .routing import RouteService
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


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    metrics_registry = Metrics()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        resources = open_resources(settings, metrics_registry)
        app.state.resources = resources
        app.state[STATE_KEY] = resources.views
        app.state.routing = RouteService(resources)
        app.state.gateway = Gateway(
            resources, Planner(resources, app.state.routing), Settler(resources)
        )
        try:
            yield
        finally:
            await resources.aclose()

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
