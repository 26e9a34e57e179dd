"""The console's HTTP handlers: server-rendered pages (jinja2) on the same Litestar app.

Handlers are sync and run in the thread pool: they query DuckDB, which must never block the
event loop. Forms use GET/POST without JavaScript.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from litestar import Request, Router, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from ..catalog_sync import current
from .catalog_views import PAGE_LIMIT, CatalogViews, ModelFilter
from .quote_page import quote_handlers
from .tenant_pages import tenant_handlers

TEMPLATES = Path(__file__).parent / "templates"
STATE_KEY = "console_catalog"


def money(value: Decimal | None) -> str:
    """Exact decimal money for display: no float, no silent rounding, '—' when unpriced."""
    if value is None:
        return "—"
    text = f"{value.normalize():f}"
    return f"${text}"


def template_config() -> TemplateConfig:
    def setup(engine: JinjaTemplateEngine) -> None:
        engine.engine.globals["money"] = money

    return TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=setup)


def _views(request: Request) -> CatalogViews:
    if "catalog" in request.app.state:  # the API app: this request's catalog version
        return current(request).resources.views
    return request.app.state[STATE_KEY]  # the console mounted alone (its own tests)


def _page(request: Request, name: str, active: str, **context: Any) -> Template:
    views = _views(request)
    return Template(
        template_name=name,
        context={"active": active, "catalog_version": views.catalog.version, **context},
    )


@get("/", sync_to_thread=False, include_in_schema=False)
def console_home() -> Redirect:
    return Redirect("/console/catalog")


@get("/catalog", sync_to_thread=True, include_in_schema=False)
def catalog_page(request: Request) -> Template:
    raw = dict(request.query_params)
    flt, problems = ModelFilter.from_query(raw)
    views = _views(request)
    choices = views.filter_choices()
    if flt.capability and flt.capability not in choices["capabilities"]:
        problems.append(f"capability: {flt.capability!r} is not in the taxonomy")
        flt = ModelFilter(flt.provider, None, flt.modality, flt.max_input_price)
    models = views.models(flt, limit=PAGE_LIMIT)
    tokens, token_problems = _token_counts(raw)
    problems += token_problems
    sorted_by_cost = tokens is not None
    if tokens is not None:
        models = _sort_by_estimate(models, *tokens)
    return _page(
        request,
        "catalog.html",
        "Catalog",
        models=models,
        flt=flt,
        raw=raw,
        choices=choices,
        problems=problems,
        limit=PAGE_LIMIT,
        sorted_by_cost=sorted_by_cost,
    )


def _token_counts(raw: dict[str, str]) -> tuple[tuple[int, int] | None, list[str]]:
    values = []
    problems = []
    for key in ("input_tokens", "output_tokens"):
        text = (raw.get(key) or "").strip()
        if not text:
            values.append(0)
        elif text.isdigit():
            values.append(int(text))
        else:
            problems.append(f"{key}: {text!r} is not a whole number of tokens")
            values.append(0)
    if problems or not any(values):
        return None, problems
    return (values[0], values[1]), problems


def _sort_by_estimate(models: list[dict[str, Any]], inp: int, out: int) -> list[dict[str, Any]]:
    """Order by a list-price estimate of a text request; unpriced models go last, never first."""
    million = Decimal(1_000_000)
    for m in models:
        if m["input_price"] is None or m["output_price"] is None:
            m["estimated_cost"] = None
        else:
            m["estimated_cost"] = (m["input_price"] * inp + m["output_price"] * out) / million
    return sorted(
        models,
        key=lambda m: (
            m["estimated_cost"] is None,
            m["estimated_cost"] or 0,
            m["provider_id"],
            m["model_id"],
        ),
    )


@get("/catalog/{provider:str}/{model:path}", sync_to_thread=True, include_in_schema=False)
def model_page(request: Request, provider: FromPath[str], model: FromPath[str]) -> Template:
    page = _views(request).model_page(provider, model.lstrip("/"))
    if page is None:
        raise NotFoundException(f"no model {provider}/{model.lstrip('/')} in the catalog")
    return _page(request, "model.html", "Catalog", page=page)


@get("/capabilities", sync_to_thread=False, include_in_schema=False)
def capabilities_page(request: Request) -> Template:
    return _page(request, "capabilities.html", "Capabilities", caps=_views(request).taxonomy())


@get("/guide", sync_to_thread=False, include_in_schema=False)
def guide_page(request: Request) -> Template:
    return _page(request, "guide.html", "BYOK guide")


def console_router() -> Router:
    return Router(
        path="/console",
        route_handlers=[
            console_home,
            catalog_page,
            model_page,
            capabilities_page,
            guide_page,
            *tenant_handlers(),
            *quote_handlers(),
        ],
    )
