"""Credentials (BYOK keys and local endpoints): create, list, read, rotate, delete, the access
log. A tenant sees only its own; the admin token acts for a named tenant (``tenant_id``), the
platform's own keys being tenant ``__platform__``. No response ever contains a secret.

Handlers are sync (``sync_to_thread=True``): the vault is DuckDB-backed.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from ..catalog_sync import current
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


@dataclass(frozen=True)
class Acting:
    """Whose credentials a request acts on (its tenant, or the one the admin names) and the
    vault holding them: the one preamble every credential endpoint shares."""

    tenant: str
    vault: Vault
    principal: Principal


async def provide_acting(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    tenant_id: TenantParam = None,
) -> Acting:
    return Acting(tenant_scope(principal, tenant_id), request.app.state.resources.vault, principal)


class CredentialController(Controller):
    path = "/v1/credentials"
    tags: ClassVar[list[str]] = ["credentials"]
    dependencies: ClassVar[dict[str, Provide]] = {
        "principal": Provide(provide_principal),
        "acting": Provide(provide_acting),
    }

    @post("/", operation_id="createCredential", sync_to_thread=True)
    def create(
        self,
        request: Request[Any, Any, Any],
        acting: NamedDependency[Acting],
        data: JSONBody[CredentialCreate],
    ) -> CredentialOut:
        catalog = current(request).resources.catalog
        if data.provider_id not in {p.id for p in catalog.providers}:
            raise invalid("provider_id", f"unknown provider {data.provider_id!r}")
        secret = Secret(data.secret) if data.secret and data.secret.strip() else None
        if data.secret is not None and secret is None:
            raise invalid("secret", "must not be blank")
        created = acting.vault.add_credential(
            acting.tenant, data.provider_id, data.label, secret, base_url=data.base_url
        )
        return credential_out(created)

    @get("/", operation_id="listCredentials", sync_to_thread=True)
    def list_(
        self,
        acting: NamedDependency[Acting],
        provider_id: Annotated[str | None, QueryParameter(max_length=128)] = None,
    ) -> list[CredentialOut]:
        found = acting.vault.list_credentials(acting.tenant, provider_id)
        return [credential_out(c) for c in found]

    @get("/access-log", operation_id="credentialAccessLog", sync_to_thread=True)
    def access_log(
        self,
        acting: NamedDependency[Acting],
        credential_id: Annotated[str | None, QueryParameter(max_length=128)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> list[AccessEventOut]:
        """Every time a secret was opened (or refused), newest first: who, why, for which call."""
        events = acting.vault.access_log(acting.tenant, credential_id, limit)
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
        self, acting: NamedDependency[Acting], credential_id: FromPath[str]
    ) -> CredentialOut:
        return credential_out(acting.vault.get_credential(acting.tenant, credential_id))

    @put("/{credential_id:str}/secret", operation_id="rotateCredentialSecret", sync_to_thread=True)
    def rotate(
        self,
        acting: NamedDependency[Acting],
        credential_id: FromPath[str],
        data: JSONBody[SecretRotate],
    ) -> CredentialOut:
        """Replace the key; the old ciphertext is destroyed."""
        if not data.secret.strip():
            raise invalid("secret", "must not be blank")
        rotated = acting.vault.replace_secret(acting.tenant, credential_id, Secret(data.secret))
        return credential_out(rotated)

    @delete("/{credential_id:str}", operation_id="deleteCredential", sync_to_thread=True)
    def delete_one(self, acting: NamedDependency[Acting], credential_id: FromPath[str]) -> None:
        acting.vault.delete_credential(acting.tenant, credential_id)

    @post("/{credential_id:str}/check", operation_id="checkCredential", status_code=200)
    async def check(
        self,
        request: Request[Any, Any, Any],
        acting: NamedDependency[Acting],
        credential_id: FromPath[str],
    ) -> CredentialOut:
        """Probe the key now (a free model-list request) and return the updated status."""
        vault, tenant = acting.vault, acting.tenant
        credential = await to_thread.run_sync(vault.get_credential, tenant, credential_id)
        res = current(request).resources
        actor = f"api:{acting.principal.token_id}"
        checker = HealthChecker(vault, res.provider_endpoints, actor=actor)
        result = await checker.check(res.probe_http, credential)
        if result is None:
            raise ApiProblem("unavailable", f"no endpoint known for {credential.provider_id}")
        updated = await to_thread.run_sync(vault.get_credential, tenant, credential_id)
        return credential_out(updated)

    @get("/{credential_id:str}/health", operation_id="credentialHealth", sync_to_thread=True)
    def health(
        self,
        acting: NamedDependency[Acting],
        credential_id: FromPath[str],
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 20,
    ) -> list[HealthEventOut]:
        """The credential's recent health events (probes and real calls), newest first."""
        events = acting.vault.health_history(acting.tenant, credential_id, limit)
        return [
            HealthEventOut(e.at, e.source, e.http_status, e.outcome, str(e.status), e.latency_ms)
            for e in events
        ]
