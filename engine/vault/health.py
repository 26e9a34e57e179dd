"""Health checks that cost nothing: each probe is a GET of the provider's model list with the
key (no tokens spent). The answer sets the credential's status:

    2xx -> active, 401/403 (Gemini: 400 API_KEY_INVALID) -> revoked, 429 -> rate_limited,
    5xx / timeout / connection error -> provider_outage, anything else -> unknown.

Checks run concurrently with a bound (asyncio + httpx.AsyncClient + a semaphore); DuckDB work
goes to worker threads, never the event loop. Keys go in headers, never in URLs (a URL ends up
in httpx's log lines and exception messages).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import duckdb
import httpx

from .clock import now
from .errors import VaultError
from .model import Credential, HealthEvent, Status
from .secret import Secret
from .store import Q
from .vault import PURPOSE_HEALTH, Vault

log = logging.getLogger(__name__)
ANTHROPIC_VERSION = "2023-06-01"


@dataclass(frozen=True, slots=True)
class ProviderEndpoint:
    provider_id: str
    api_style: str
    base_url: str


@dataclass(frozen=True, slots=True)
class HealthResult:
    credential_id: str
    status: Status
    outcome: str
    http_status: int | None
    latency_ms: float | None


def endpoints_from_catalog(con: duckdb.DuckDBPyConnection) -> dict[str, ProviderEndpoint]:
    """Provider base URLs and API styles from a loaded catalog (``open_catalog``)."""
    rows = con.execute(Q["catalog_endpoints"]).fetchall()
    return {pid: ProviderEndpoint(pid, style, url) for pid, style, url in rows}


def probe_request(api_style: str, base_url: str, secret: Secret | None) -> tuple[str, dict]:
    """The model-list URL and auth headers for one API style (None: style not probeable)."""
    base = base_url.rstrip("/")
    key = secret.reveal() if secret is not None else None
    if api_style == "anthropic":
        url = base + ("/models" if base.endswith("/v1") else "/v1/models")
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if key:
            headers["x-api-key"] = key
        return url, headers
    if api_style == "google":
        url = base + ("/models" if base.endswith(("/v1beta", "/v1")) else "/v1beta/models")
        return url, ({"x-goog-api-key": key} if key else {})
    if api_style == "ollama":
        return base.removesuffix("/v1") + "/api/tags", {}
    # openai, openai-compatible and anything else speaking the OpenAI dialect
    return base + "/models", ({"authorization": f"Bearer {key}"} if key else {})


def classify(http_status: int | None, body: str = "", api_style: str = "") -> tuple[Status, str]:
    """(status, outcome) for a probe's or a real call's answer; None means no answer."""
    if http_status is None:
        return Status.provider_outage, "no_answer"
    if 200 <= http_status < 300:
        return Status.active, "ok"
    if http_status in (401, 403):
        return Status.revoked, f"http_{http_status}"
    if http_status == 400 and api_style == "google" and "API_KEY_INVALID" in body:
        return Status.revoked, "http_400_api_key_invalid"
    if http_status == 429:
        return Status.rate_limited, "http_429"
    if http_status >= 500:
        return Status.provider_outage, f"http_{http_status}"
    return Status.unknown, f"http_{http_status}"


def record(vault: Vault, credential_id: str, result: HealthResult, source: str) -> None:
    """Store a check's outcome: the credential's status and a health event."""
    reason = f"{source}: {result.outcome}"
    vault.set_status(credential_id, result.status, reason)
    event = HealthEvent(
        now(), source, result.http_status, result.outcome, result.status, result.latency_ms, None
    )
    vault.repo.append_health(credential_id, event)


def record_call_failure(
    vault: Vault, credential_id: str, http_status: int | None, api_style: str = ""
) -> Status:
    """Learn from a real call: a 401 on a real request revokes as surely as a probe does."""
    status, outcome = classify(http_status, api_style=api_style)
    record(
        vault,
        credential_id,
        HealthResult(credential_id, status, outcome, http_status, None),
        "call",
    )
    return status


class HealthChecker:
    """Probes credentials with bounded concurrency; ``run_once`` or a background schedule."""

    def __init__(
        self,
        vault: Vault,
        endpoints: Mapping[str, ProviderEndpoint],
        *,
        concurrency: int = 8,
        timeout: float = 5.0,
        actor: str = "health-checker",
    ) -> None:
        self.vault = vault
        self.endpoints = dict(endpoints)
        self.concurrency = concurrency
        self.timeout = timeout
        self.actor = actor
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0

    def run_once(self, credentials: Iterable[Credential] | None = None) -> list[HealthResult]:
        """Probe the given credentials (default: every credential in the vault)."""
        targets = (
            list(credentials) if credentials is not None else self.vault.repo.all_credentials()
        )
        return asyncio.run(self.check_all(targets))

    async def check_all(self, credentials: list[Credential]) -> list[HealthResult]:
        semaphore = asyncio.Semaphore(self.concurrency)
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:

            async def bounded(credential: Credential) -> HealthResult | None:
                async with semaphore:
                    return await self.check(client, credential)

            results = await asyncio.gather(*(bounded(c) for c in credentials))
        return [r for r in results if r is not None]

    async def check(self, client: httpx.AsyncClient, credential: Credential) -> HealthResult | None:
        endpoint = self._endpoint(credential)
        if endpoint is None:
            log.info(
                "no endpoint known for provider %s; %s not checked",
                credential.provider_id,
                credential.credential_id,
            )
            return None
        secret = None
        if credential.has_secret:
            try:
                secret = await asyncio.to_thread(
                    self.vault.decrypt_for_call,
                    credential.tenant_id,
                    credential.credential_id,
                    purpose=PURPOSE_HEALTH,
                    call_id="hc_" + uuid.uuid4().hex,
                    actor=self.actor,
                )
            except VaultError as exc:
                # The access log and alerts already have it; the provider was not asked, so
                # the credential's provider-side status is left as it was.
                log.warning(
                    "health check of %s skipped: %s", credential.credential_id, type(exc).__name__
                )
                return HealthResult(
                    credential.credential_id, credential.status, "not_checked", None, None
                )
        url, headers = probe_request(endpoint.api_style, endpoint.base_url, secret)
        del secret
        result = await _probe(client, credential.credential_id, endpoint.api_style, url, headers)
        await asyncio.to_thread(record, self.vault, credential.credential_id, result, "probe")
        return result

    def _endpoint(self, credential: Credential) -> ProviderEndpoint | None:
        known = self.endpoints.get(credential.provider_id)
        if credential.base_url:
            style = known.api_style if known else "ollama"
            return ProviderEndpoint(credential.provider_id, style, credential.base_url)
        return known

    # -- schedule ---------------------------------------------------------------------------

    def start(self, interval_seconds: float) -> None:
        """Probe every credential every ``interval_seconds`` on a background thread."""
        if self._thread is not None:
            raise RuntimeError("health checks already scheduled")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(interval_seconds,), name="vault-health", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout * 2 + 5)
            self._thread = None

    def _loop(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # one bad round must not end the schedule
                log.exception("health check round failed")
            self.rounds += 1
            self._stop.wait(interval)


async def _probe(
    client: httpx.AsyncClient, credential_id: str, api_style: str, url: str, headers: dict
) -> HealthResult:
    started = time.perf_counter()
    try:
        response = await client.get(url, headers=headers)
    except httpx.TimeoutException:
        return HealthResult(credential_id, Status.provider_outage, "timeout", None, _ms(started))
    except httpx.HTTPError as exc:
        outcome = "connect_error" if isinstance(exc, httpx.ConnectError) else "transport_error"
        return HealthResult(credential_id, Status.provider_outage, outcome, None, _ms(started))
    status, outcome = classify(response.status_code, response.text[:2000], api_style)
    return HealthResult(credential_id, status, outcome, response.status_code, _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
