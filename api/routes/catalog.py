"""Catalog endpoints: models with filters, a model's prices at an instant and their history,
the capability taxonomy, and an OpenAI-compatible ``GET /v1/models``.

Handlers are sync and run in the thread pool (``sync_to_thread=True``): they query DuckDB with a
cursor per thread (CatalogViews), which must never block the event loop.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from litestar import Controller, Request, get
from litestar.params import FromPath, QueryParameter

from byokvault.api.console.catalog_views import ModelFilter

from ..catalog_sync import current
from ..problems import ApiProblem, invalid
from ..schemas import (
    CapabilityOut,
    Modality,
    ModelList,
    ModelPrices,
    ModelSummary,
    PriceRowOut,
    money,
    money_or_none,
)
from ..state import Resources

CAPABILITY_HELP = "capability ids or aliases, comma-separated (all required), e.g. vision,batch"


def resources(request: Request[Any, Any, Any]) -> Resources:
    return current(request).resources


class CatalogController(Controller):
    path = "/v1/catalog"
    tags: ClassVar[list[str]] = ["catalog"]

    @get("/models", operation_id="listModels", sync_to_thread=True)
    def list_models(
        self,
        request: Request[Any, Any, Any],
        provider: Annotated[str | None, QueryParameter(description="provider id")] = None,
        capability: Annotated[str | None, QueryParameter(description=CAPABILITY_HELP)] = None,
        modality: Annotated[Modality | None, QueryParameter(description="in or out")] = None,
    ) -> ModelList:
        res = resources(request)
        catalog = res.catalog
        if provider is not None and provider not in {p.id for p in catalog.providers}:
            raise invalid("provider", f"unknown provider {provider!r}")
        wanted = _resolve_capabilities(res, capability)
        rows = res.views.models(ModelFilter(provider, None, modality, None))
        data = []
        for row in rows:
            caps = res.capabilities_of(row["provider_id"], row["model_id"])
            if wanted and not wanted <= caps:
                continue
            data.append(_summary(res, row))
        return ModelList(catalog_version=catalog.version, data=data)

    @get("/capabilities", operation_id="listCapabilities", sync_to_thread=False)
    def capabilities(self, request: Request[Any, Any, Any]) -> list[CapabilityOut]:
        tax = resources(request).catalog.taxonomy
        return [
            CapabilityOut(
                id=cap.id,
                capability_class=tax.classes[cap.id].value,
                description=cap.description,
                aliases=list(cap.aliases),
                implies=list(cap.implies),
            )
            for cap in sorted(tax.capabilities.values(), key=lambda c: c.id)
        ]

    @get("/prices/{provider:str}/{model:path}", operation_id="modelPrices", sync_to_thread=True)
    def prices(
        self,
        request: Request[Any, Any, Any],
        provider: FromPath[str],
        model: FromPath[str],
        at: Annotated[datetime | None, QueryParameter(description="instant (default: now)")] = None,
    ) -> ModelPrices:
        instant = _utc(at) if at else datetime.now(UTC)
        res = resources(request)
        rows = _price_rows(res, provider, model.lstrip("/"))
        current = [
            r
            for r in rows
            if r.effective_from <= instant and (r.effective_to is None or r.effective_to > instant)
        ]
        return ModelPrices(res.catalog.version, provider, model.lstrip("/"), instant, current)

    @get(
        "/price-history/{provider:str}/{model:path}",
        operation_id="modelPriceHistory",
        sync_to_thread=True,
    )
    def price_history(
        self, request: Request[Any, Any, Any], provider: FromPath[str], model: FromPath[str]
    ) -> ModelPrices:
        res = resources(request)
        rows = _price_rows(res, provider, model.lstrip("/"))
        return ModelPrices(res.catalog.version, provider, model.lstrip("/"), None, rows)


@get("/v1/models", operation_id="openaiListModels", tags=["gateway"], sync_to_thread=False)
def openai_models(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The catalog in OpenAI's model-list shape (``client.models.list()`` works), ids as
    ``provider/model``."""
    catalog = resources(request).catalog
    data = [
        {"id": f"{p.id}/{m.id}", "object": "model", "created": 0, "owned_by": p.id}
        for p, m in catalog.models()
    ]
    return {"object": "list", "data": data}


def _resolve_capabilities(res: Resources, capability: str | None) -> frozenset[str]:
    if not capability:
        return frozenset()
    words = [w.strip() for w in capability.split(",") if w.strip()]
    try:
        return res.catalog.taxonomy.resolve(words)
    except KeyError as exc:
        raise invalid("capability", f"not in the taxonomy: {exc.args[0]!r}") from None


def _summary(res: Resources, row: dict[str, Any]) -> ModelSummary:
    entry = res.model_entry(row["provider_id"], row["model_id"])
    return ModelSummary(
        provider_id=row["provider_id"],
        model_id=row["model_id"],
        name=row["name"],
        mode=row["mode"],
        capability_class=row["capability_class"],
        provider_kind=row["provider_kind"],
        input_modalities=list(row["input_modalities"]),
        output_modalities=list(row["output_modalities"]),
        capabilities=sorted(entry.capabilities) if entry else [],
        context_window=row["context_window"],
        deprecated=row["deprecated"].isoformat() if row["deprecated"] else None,
        input_price_per_mtok=money_or_none(row["input_price"]),
        output_price_per_mtok=money_or_none(row["output_price"]),
        priced_dimensions=row["priced_dimensions"],
    )


def _price_rows(res: Resources, provider: str, model: str) -> list[PriceRowOut]:
    if res.model_entry(provider, model) is None:
        raise ApiProblem("not_found", f"no model {provider}/{model} in the catalog")
    rows = res.rows("console/model_prices.sql", {"provider": provider, "model": model})
    return [
        PriceRowOut(
            price_id=r["price_id"],
            dimension=r["dimension"],
            amount=money(r["amount"]),
            per=r["per"],
            quantity=r["quantity"],
            currency=r["currency"],
            effective_from=r["effective_from"],
            effective_to=r["effective_to"],
            conditions=json.loads(r["conditions_key"]),
            source=r["source"],
            recorded_at=r["recorded_at"],
        )
        for r in rows
    ]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
