"""Credentials (BYOK keys and local endpoints): create, list, read, rotate, delete, the access
log. A tenant sees only its own; the admin token acts for a named tenant (``tenant_id``), the
platform's own keys being tenant ``__platform__``. No response ever contains a secret.

Handlers are sync (``sync_to_thread=True``): the vault is DuckDB-backed.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec
from anyio import to_thread
from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter

from byokvault.engine.vault import errors as vault_errors
from byokvault.engine.vault.health import HealthChecker
from byokvault.engine.vault.model import Credential
from byokvault.engine.vault.secret import Secret
from byokvault.engine.vault.vault import Vault

from ..auth import Principal, provide_principal, tenant_scope
from ..problems import ApiProblem, invalid, register_domain_error
from ..schemas import (
    AccessEventOut,
    CredentialCreate,
    CredentialOut,
    HealthEventOut,
    SecretRotate,
)

TenantParam = Annotated[
    str | None, QueryParameter(description="admin token only: the tenant acted for")
]


def _register_errors() -> None:
    def from_input(exc: BaseException) -> ApiProblem:
        field = getattr(exc, "field", "body")
        message = str(exc).removeprefix(f"{field}: ")
        return invalid(field, message)

    register_domain_error(vault_errors.VaultInputError, from_input)
    register_domain_error(
        vault_errors.CredentialNotFound, lambda exc: ApiProblem("not_found", str(exc))
    )
    register_domain_error(vault_errors.AccessDenied, lambda exc: ApiProblem("forbidden", str(exc)))
    register_domain_error(
        vault_errors.AuditWriteFailed, lambda exc: ApiProblem("unavailable", str(exc))
    )
    register_domain_error(
        vault_errors.DecryptFailed,
        lambda exc: ApiProblem("unavailable", "a stored credential could not be decrypted"),
    )
    register_domain_error(
        vault_errors.NoCredential, lambda exc: ApiProblem("no_credential", str(exc))
    )


_register_errors()


def credential_out(credential: Credential) -> CredentialOut:
    return msgspec.convert(credential.public(), CredentialOut)


class CredentialController(Controller):
    path = "/v1/credentials"
    tags: ClassVar[list[str]] = ["credentials"]
    dependencies: ClassVar[dict[str, Provide]] = {"principal": Provide(provide_principal)}

    @staticmethod
    def _vault(request: Request[Any, Any, Any]) -> Vault:
        return request.app.state.resources.vault

    @post("/", operation_id="createCredential", sync_to_thread=True)
    def create(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        data: JSONBody[CredentialCreate],
        tenant_id: TenantParam = None,
    ) -> CredentialOut:
        tenant = tenant_scope(principal, tenant_id)
        catalog = request.app.state.resources.catalog
        if data.provider_id not in {p.id for p in catalog.providers}:
            raise invalid("provider_id", f"unknown provider {data.provider_id!r}")
        secret = Secret(data.secret) if data.secret and data.secret.strip() else None
        if data.secret is not None and secret is None:
            raise invalid("secret", "must not be blank")
        created = self._vault(request).add_credential(
            tenant, data.provider_id, data.label, secret, base_url=data.base_url
        )
        return credential_out(created)

    @get("/", operation_id="listCredentials", sync_to_thread=True)
    def list_(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        tenant_id: TenantParam = None,
        provider_id: Annotated[str | None, QueryParameter(max_length=128)] = None,
    ) -> list[CredentialOut]:
        tenant = tenant_scope(principal, tenant_id)
        found = self._vault(request).list_credentials(tenant, provider_id)
        return [credential_out(c) for c in found]

    @get("/access-log", operation_id="credentialAccessLog", sync_to_thread=True)
    def access_log(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        tenant_id: TenantParam = None,
        credential_id: Annotated[str | None, QueryParameter(max_length=128)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> list[AccessEventOut]:
        """Every time a secret was opened (or refused), newest first: who, why, for which call."""
        tenant = tenant_scope(principal, tenant_id)
        events = self._vault(request).repo.access_log(tenant, credential_id, limit)
        return [
            AccessEventOut(
                event_id=e.event_id,
                at=e.at,
                actor=e.actor,
                credential_id=e.credential_id,
                purpose=e.purpose,
                call_id=e.call_id,
                result=str(e.result),
                detail=e.detail,
            )
            for e in events
        ]

    @get("/{credential_id:str}", operation_id="getCredential", sync_to_thread=True)
    def get_one(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        credential_id: FromPath[str],
        tenant_id: TenantParam = None,
    ) -> CredentialOut:
        tenant = tenant_scope(principal, tenant_id)
        return credential_out(self._vault(request).get_credential(tenant, credential_id))

    @put("/{credential_id:str}/secret", operation_id="rotateCredentialSecret", sync_to_thread=True)
    def rotate(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        credential_id: FromPath[str],
        data: JSONBody[SecretRotate],
        tenant_id: TenantParam = None,
    ) -> CredentialOut:
        """Replace the key; the old ciphertext is destroyed."""
        tenant = tenant_scope(principal, tenant_id)
        if not data.secret.strip():
            raise invalid("secret", "must not be blank")
        rotated = self._vault(request).replace_secret(tenant, credential_id, Secret(data.secret))
        return credential_out(rotated)

    @delete("/{credential_id:str}", operation_id="deleteCredential", sync_to_thread=True)
    def delete_one(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        credential_id: FromPath[str],
        tenant_id: TenantParam = None,
    ) -> None:
        tenant = tenant_scope(principal, tenant_id)
        self._vault(request).delete_credential(tenant, credential_id)

    @post("/{credential_id:str}/check", operation_id="checkCredential", status_code=200)
    async def check(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        credential_id: FromPath[str],
        tenant_id: TenantParam = None,
    ) -> CredentialOut:
        """Probe the key now (a free model-list request) and return the updated status."""
        tenant = tenant_scope(principal, tenant_id)
        vault = self._vault(request)
        credential = await to_thread.run_sync(vault.get_credential, tenant, credential_id)
        res = request.app.state.resources
        checker = HealthChecker(vault, res.provider_endpoints, actor=f"api:{principal.token_id}")
        result = await checker.check(res.probe_http, credential)
        if result is None:
            raise ApiProblem("unavailable", f"no endpoint known for {credential.provider_id}")
        updated = await to_thread.run_sync(vault.get_credential, tenant, credential_id)
        return credential_out(updated)

    @get("/{credential_id:str}/health", operation_id="credentialHealth", sync_to_thread=True)
    def health(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        credential_id: FromPath[str],
        tenant_id: TenantParam = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 20,
    ) -> list[HealthEventOut]:
        """The credential's recent health events (probes and real calls), newest first."""
        tenant = tenant_scope(principal, tenant_id)
        events = self._vault(request).health_history(tenant, credential_id, limit)
        return [
            HealthEventOut(e.at, e.source, e.http_status, e.outcome, str(e.status), e.latency_ms)
            for e in events
        ]
