"""API tokens: per-tenant tokens stored only as sha256 digests, and one operator (admin) token.

Tokens live in ``<data_dir>/api_tokens.json`` (digests, never plaintext), loaded into a dict so a
request's authentication is a hash and a lookup, with no database call on the hot path. A
token's plaintext is shown once, when it is issued.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestar import Request

from .problems import ApiProblem

TOKEN_PREFIX = "bvk_"
ADMIN = "__admin__"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant, or the operator (``is_admin``)."""

    tenant_id: str
    token_id: str

    @property
    def is_admin(self) -> bool:
        return self.tenant_id == ADMIN


@dataclass(frozen=True)
class TokenRecord:
    token_id: str
    tenant_id: str
    name: str
    sha256: str
    created_at: str


class TokenStore:
    """Issued tenant tokens (by digest) and the admin token's digest."""

    def __init__(self, path: Path, admin_token: str) -> None:
        self.path = path
        self._admin_digest = digest(admin_token)
        self._lock = threading.Lock()
        self._by_digest: dict[str, TokenRecord] = {}
        if path.is_file():
            for row in json.loads(path.read_text(encoding="utf-8"))["tokens"]:
                record = TokenRecord(**row)
                self._by_digest[record.sha256] = record

    def authenticate(self, token: str) -> Principal | None:
        token_digest = digest(token)
        if hmac.compare_digest(token_digest, self._admin_digest):
            return Principal(ADMIN, "admin")
        record = self._by_digest.get(token_digest)
        return Principal(record.tenant_id, record.token_id) if record else None

    def issue(self, tenant_id: str, name: str = "") -> tuple[TokenRecord, str]:
        """A new token for ``tenant_id``: its record and its plaintext (shown once)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(
            token_id="tok_" + secrets.token_hex(8),
            tenant_id=tenant_id,
            name=name,
            sha256=digest(token),
            created_at=datetime.now(UTC).isoformat(),
        )
        with self._lock:
            self._by_digest[record.sha256] = record
            self._save()
        return record, token

    def revoke(self, token_id: str) -> bool:
        with self._lock:
            found = [d for d, r in self._by_digest.items() if r.token_id == token_id]
            for token_digest in found:
                del self._by_digest[token_digest]
            if found:
                self._save()
        return bool(found)

    def tokens(self, tenant_id: str | None = None) -> list[TokenRecord]:
        return sorted(
            (r for r in self._by_digest.values() if tenant_id in (None, r.tenant_id)),
            key=lambda r: r.created_at,
        )

    def _save(self) -> None:
        """Write the whole file atomically: a crash leaves the old or the new file, never half."""
        rows = [r.__dict__ for r in self._by_digest.values()]
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump({"tokens": rows}, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.path)


def load_or_create_admin_token(data_dir: Path, configured: str | None) -> str:
    """The configured admin token, else the one in <data_dir>/admin_token (created 0600)."""
    if configured:
        return configured
    path = data_dir / "admin_token"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    token = "bvk_admin_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token


def bearer_token(request: Request[Any, Any, Any]) -> str | None:
    """The caller's token: ``Authorization: Bearer`` (OpenAI and current Anthropic SDKs) or
    ``x-api-key`` (older Anthropic clients)."""
    auth = request.headers.get("authorization")
    if auth and auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or None


def principal_of(request: Request[Any, Any, Any]) -> Principal:
    token = bearer_token(request)
    if not token:
        raise ApiProblem("unauthorized", "send an API token as 'Authorization: Bearer <token>'")
    found = request.app.state.resources.tokens.authenticate(token)
    if found is None:
        raise ApiProblem("unauthorized", "the API token is not known (revoked or mistyped)")
    return found


async def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    return principal_of(request)


async def provide_admin(request: Request[Any, Any, Any]) -> Principal:
    found = principal_of(request)
    if not found.is_admin:
        raise ApiProblem("forbidden", "this endpoint needs the admin token")
    return found


def tenant_scope(principal: Principal, tenant_id: str | None) -> str:
    """The tenant a request acts for: its own, or (admin only) the one it names."""
    if principal.is_admin:
        if not tenant_id:
            raise ApiProblem(
                "validation_error",
                "tenant_id: the admin token must name the tenant it acts for",
                errors=[{"field": "tenant_id", "message": "required with the admin token"}],
            )
        return tenant_id
    if tenant_id and tenant_id != principal.tenant_id:
        # Same answer as for a missing resource: no probing of other tenants' existence.
        raise ApiProblem("not_found", "no such tenant for this token")
    return principal.tenant_id
