"""The console's quote page: describe a call in a form, see the ranked candidates with each line
item raw and marked, and every excluded model with its reasons.

It asks the same routing service as ``POST /v1/route`` (the fast path proven equal to the SQL),
with the signed-in tenant's fund sources and policy; marked prices use the published terms
(margin for platform keys, the BYOK fee for the tenant's own keys), applied once per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from byokvault.engine.catalog.build import MODE_CLASS
from byokvault.engine.pricing.rules import apply_terms, load_rules, terms_for
from byokvault.engine.routing.decision import RouteDecision
from byokvault.engine.routing.requirements import Requirements

from ..catalog_sync import current
from .tenant_pages import _page, _resources, _signin_redirect, session_of

# The kind of call → the capability that makes a model able to answer it at all.
CALL_KINDS = {
    "chat": "text.chat",
    "embeddings": "embeddings.text",
    "image generation": "image.generation",
    "transcription": "audio.transcription",
    "speech": "audio.speech",
    "video generation": "video.generation",
    "realtime voice": "realtime.voice",
}
SHOWN_EXCLUSIONS = 200


@dataclass(frozen=True)
class QuoteForm:
    kind: str = "chat"
    capabilities: str = ""
    input_tokens: str = "1000"
    output_tokens: str = "500"
    images: str = "0"
    batch: bool = False

    def requirements(self, taxonomy: Any) -> tuple[Requirements | None, list[str]]:
        """The form as routing requirements, or the problems that stop it (field: what)."""
        problems: list[str] = []
        counts = {}
        for name in ("input_tokens", "output_tokens", "images"):
            text = getattr(self, name).strip() or "0"
            if not text.isdigit():
                problems.append(f"{name}: {text!r} is not a whole number")
            counts[name] = int(text) if text.isdigit() else 0
        if self.kind not in CALL_KINDS:
            problems.append(f"kind: {self.kind!r} is not one of {', '.join(CALL_KINDS)}")
        words = [w.strip() for w in self.capabilities.split(",") if w.strip()]
        try:
            caps = set(taxonomy.resolve(words))
        except KeyError as exc:
            problems.append(f"capabilities: {exc.args[0]!r} is neither a capability nor an alias")
            caps = set()
        if problems:
            return None, problems
        caps.add(CALL_KINDS[self.kind])
        if counts["images"] == 1:
            caps.add("vision.single_image")
        elif counts["images"] > 1:
            caps.add("vision.multi_image")
        usage = {"input_tokens": counts["input_tokens"], "output_tokens": counts["output_tokens"]}
        if self.kind == "embeddings":
            usage = {"embedding_tokens": counts["input_tokens"]}
        context = {"service_tier": "batch"} if self.batch else {}
        if self.batch:
            caps.add("batch")
        return Requirements(
            capabilities=frozenset(caps),
            input_tokens=counts["input_tokens"],
            output_tokens=counts["output_tokens"] or None,
            images=counts["images"],
            usage=tuple(sorted((k, v) for k, v in usage.items() if v)),
            context=tuple(sorted(context.items())),
        ), []


@get("/quote", sync_to_thread=True, include_in_schema=False)
def quote_page(
    request: Request,
    kind: FromQuery[str] = "chat",
    capabilities: FromQuery[str] = "",
    input_tokens: FromQuery[str] = "1000",
    output_tokens: FromQuery[str] = "500",
    images: FromQuery[str] = "0",
    batch: FromQuery[str] = "",
) -> Template | Redirect:
    session = session_of(request)
    if session is None:
        return _signin_redirect("/console/quote")
    form = QuoteForm(kind, capabilities, input_tokens, output_tokens, images, batch == "on")
    asked = "input_tokens" in request.query_params
    res = _resources(request)
    reqs, problems = form.requirements(res.catalog.taxonomy) if asked else (None, [])
    decision = None
    if reqs is not None:
        service = current(request).routing
        tenant = session.tenant_id
        decision = service.route(reqs, tenant, service.policy(tenant), service.funds(tenant))
    return _page(
        request,
        "quote.html",
        "Quote",
        session=session,
        form=form,
        kinds=list(CALL_KINDS),
        problems=problems,
        decision=decision,
        candidates=_marked(res, decision) if decision else [],
        exclusions=decision.exclusions[:SHOWN_EXCLUSIONS] if decision else [],
    )


def _marked(res: Any, decision: RouteDecision) -> list[dict[str, Any]]:
    """Each candidate with its line items raw and marked under the terms its fund source gets."""
    rules = getattr(res, "rules", None) or load_rules(res.settings.rules_dir)
    out = []
    for cand in decision.candidates:
        model = res.model_entry(cand.provider_id, cand.model_id)
        capability_class = MODE_CLASS[model.mode] if model else "text"
        terms = terms_for(rules, capability_class, cand.fund_source)
        lines = [{"line": line, "marked": terms.marked(line.amount)} for line in cand.line_items]
        billed = apply_terms(cand.cost, terms)
        out.append(
            {
                "candidate": cand,
                "lines": lines,
                "billed": billed,
                "terms": terms,
                "capability_class": capability_class,
                "per_call": terms.per_call if terms.per_call else Decimal(0),
            }
        )
    return out


def quote_handlers() -> list[Any]:
    return [quote_page]
