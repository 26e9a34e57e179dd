"""Tenant pages of the console: sign-in, keys (connect, rotate, check, delete, access log) and
usage (spend charts, receipts with their frozen price snapshots, the published margin table).

The console signs in with the tenant's API token, kept in an HttpOnly, SameSite=Strict cookie
scoped to /console. Every form also carries a token derived from the session (double submit),
so a cross-site form post cannot act for the tenant. A secret is read from a password field
once, handed to the vault, and never rendered back.
"""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal
from typing import Annotated, Any

from anyio import to_thread
from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from byokvault.engine.paths import sql_text
from byokvault.engine.pricing.rules import load_rules
from byokvault.engine.vault.errors import VaultError
from byokvault.engine.vault.health import HealthChecker
from byokvault.engine.vault.secret import Secret

from ..catalog_sync import current
from .charts import bar_chart

COOKIE = "bv_console"
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


class Session:
    """The signed-in tenant and the form token bound to its session cookie."""

    def __init__(self, tenant_id: str, token: str) -> None:
        self.tenant_id = tenant_id
        self.form_token = hashlib.sha256(b"console-form:" + token.encode()).hexdigest()[:32]

    def check_form(self, form: dict[str, str]) -> None:
        if not hmac.compare_digest(form.get("form_token", ""), self.form_token):
            raise PermissionDeniedException("form token missing or stale: reload the page")


def _resources(request: Request) -> Any:
    return current(request).resources  # this request's catalog version


def session_of(request: Request) -> Session | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    principal = _resources(request).tokens.authenticate(token)
    if principal is None or principal.is_admin:
        return None
    return Session(principal.tenant_id, token)


def _require(request: Request) -> Session:
    session = session_of(request)
    if session is None:
        raise NotAuthorizedException("sign in with your tenant token")
    return session


def _page(request: Request, name: str, active: str, **context: Any) -> Template:
    res = _resources(request)
    return Template(
        template_name=name,
        context={"active": active, "catalog_version": res.catalog.version, **context},
    )


def _signin_redirect(next_page: str) -> Redirect:
    return Redirect(f"/console/signin?next={next_page}", status_code=303)


@get("/signin", sync_to_thread=False, include_in_schema=False)
def signin_page(request: Request, next: FromQuery[str] = "/console/keys") -> Template:
    return _page(request, "signin.html", "", next=next if next.startswith("/console") else "")


@post("/signin", sync_to_thread=False, include_in_schema=False, status_code=303)
def signin(request: Request, data: Form) -> Redirect | Template:
    token = data.get("token", "").strip()
    principal = _resources(request).tokens.authenticate(token) if token else None
    if principal is None or principal.is_admin:
        return _page(
            request,
            "signin.html",
            "",
            next="/console/keys",
            error="That token is not a tenant token of this server.",
        )
    target = data.get("next") or "/console/keys"
    response = Redirect(
        target if target.startswith("/console") else "/console/keys", status_code=303
    )
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/console")
    return response


@post("/signout", sync_to_thread=False, include_in_schema=False, status_code=303)
def signout() -> Redirect:
    response = Redirect("/console/catalog", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


# --- keys ---------------------------------------------------------------------------------


@get("/keys", sync_to_thread=True, include_in_schema=False)
def keys_page(request: Request, notice: FromQuery[str] = "") -> Template | Redirect:
    session = session_of(request)
    if session is None:
        return _signin_redirect("/console/keys")
    return _keys_template(request, session, notice=notice)


def _keys_template(request: Request, session: Session, **extra: Any) -> Template:
    res = _resources(request)
    creds = [c.public() for c in res.vault.list_credentials(session.tenant_id)]
    log = res.vault.repo.access_log(session.tenant_id, None, 50)
    providers = [(p.id, p.name, p.kind.value) for p in res.catalog.providers]
    return _page(
        request,
        "keys.html",
        "Keys",
        session=session,
        credentials=creds,
        access_log=log,
        providers=providers,
        **extra,
    )


@post("/keys", sync_to_thread=True, include_in_schema=False, status_code=303)
def connect_key(request: Request, data: Form) -> Redirect | Template:
    session = _require(request)
    session.check_form(data)
    res = _resources(request)
    provider = data.get("provider_id", "")
    secret_text = data.get("secret", "")
    base_url = data.get("base_url", "").strip() or None
    if provider not in {p.id for p in res.catalog.providers}:
        return _keys_template(request, session, error=f"provider: unknown provider {provider!r}")
    secret = Secret(secret_text.strip()) if secret_text.strip() else None
    try:
        created = res.vault.add_credential(
            session.tenant_id,
            provider,
            data.get("label", "").strip() or provider,
            secret,
            base_url=base_url,
        )
    except VaultError as exc:
        return _keys_template(request, session, error=str(exc))
    return Redirect(f"/console/keys?notice=connected+{created.credential_id}", status_code=303)


@post(
    "/keys/{credential_id:str}/rotate",
    sync_to_thread=True,
    include_in_schema=False,
    status_code=303,
)
def rotate_key(request: Request, credential_id: FromPath[str], data: Form) -> Redirect | Template:
    session = _require(request)
    session.check_form(data)
    secret_text = data.get("secret", "").strip()
    if not secret_text:
        return _keys_template(request, session, error="secret: the new key must not be blank")
    try:
        _resources(request).vault.replace_secret(
            session.tenant_id, credential_id, Secret(secret_text)
        )
    except VaultError as exc:
        return _keys_template(request, session, error=str(exc))
    return Redirect(f"/console/keys?notice=rotated+{credential_id}", status_code=303)


@post(
    "/keys/{credential_id:str}/delete",
    sync_to_thread=True,
    include_in_schema=False,
    status_code=303,
)
def delete_key(request: Request, credential_id: FromPath[str], data: Form) -> Redirect | Template:
    session = _require(request)
    session.check_form(data)
    try:
        _resources(request).vault.delete_credential(session.tenant_id, credential_id)
    except VaultError as exc:
        return _keys_template(request, session, error=str(exc))
    return Redirect(f"/console/keys?notice=deleted+{credential_id}", status_code=303)


@post("/keys/{credential_id:str}/check", include_in_schema=False, status_code=303)
async def check_key(request: Request, credential_id: FromPath[str], data: Form) -> Redirect:
    """Probe the key now: a free model-list request to its provider."""
    session = _require(request)
    session.check_form(data)
    res = _resources(request)
    try:
        credential = await to_thread.run_sync(
            res.vault.get_credential, session.tenant_id, credential_id
        )
    except VaultError as exc:
        raise PermissionDeniedException(str(exc)) from exc
    checker = HealthChecker(res.vault, res.provider_endpoints, actor="console")
    await checker.check(res.probe_http, credential)
    return Redirect(f"/console/keys?notice=checked+{credential_id}", status_code=303)


# --- usage --------------------------------------------------------------------------------


@get("/usage", sync_to_thread=True, include_in_schema=False)
def usage_page(request: Request) -> Template | Redirect:
    session = session_of(request)
    if session is None:
        return _signin_redirect("/console/usage")
    res = _resources(request)
    store = res.ledger.store
    spend = store.query(sql_text("console/spend.sql"), {"tenant": session.tenant_id})
    receipts = store.records(
        sql_text("api/receipts.sql"), {"tenant": session.tenant_id, "limit": 50, "before_seq": None}
    )
    charts = {
        "Spend by day": bar_chart("Spend by day", _sum_by(spend, "day")),
        "Spend by capability class": bar_chart(
            "By capability class", _sum_by(spend, "capability_class")
        ),
        "Spend by provider": bar_chart("By provider", _sum_by(spend, "provider_id")),
        "BYOK vs platform": bar_chart("By fund source", _sum_by(spend, "fund_source")),
    }
    return _page(
        request,
        "usage.html",
        "Usage",
        session=session,
        totals=res.ledger.usage(session.tenant_id),
        charts={k: v for k, v in charts.items() if v},
        receipts=receipts,
        margins=margin_table(res),
    )


def _sum_by(rows: list[dict[str, Any]], key: str) -> list[tuple[str, Decimal]]:
    totals: dict[str, Decimal] = {}
    for row in rows:
        label = str(row[key])
        totals[label] = totals.get(label, Decimal(0)) + row["billed_amount"]
    return sorted(totals.items())


def margin_table(res: Any) -> dict[str, Any]:
    """The published terms: margin per capability class (raw → marked) and the BYOK fee."""
    rules = getattr(res, "rules", None) or load_rules(res.settings.rules_dir)
    return {
        "margins": [{"class": c, "factor": f} for c, f in sorted(rules.margins.items())],
        "byok": rules.byok_fee,
        "version": rules.version,
    }


def tenant_handlers() -> list[Any]:
    return [
        signin_page,
        signin,
        signout,
        keys_page,
        connect_key,
        rotate_key,
        delete_key,
        check_key,
        usage_page,
    ]
