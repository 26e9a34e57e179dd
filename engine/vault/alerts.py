"""Alert rules on the access log: declared in ``rules/alerts.yaml``, evaluated on every access
event, delivered to the log, the ``vault_alerts`` table and a webhook (httpx, off the access
path on a background thread)."""

from __future__ import annotations

import logging
import os
import queue
import threading
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..catalog.yamlio import InputError, Problem, problem_at, read_yaml, to_plain
from ..paths import BUNDLED_RULES
from .model import AccessEvent, AccessResult, Alert, Status
from .store import SealedSecret, VaultRepository

log = logging.getLogger(__name__)
alert_log = logging.getLogger("byokvault.vault.alerts")

WEBHOOK_ENV = "BYOKVAULT_ALERT_WEBHOOK"
Severity = Literal["low", "medium", "high", "critical"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    severity: Severity
    description: str = ""


class AccessOutsideCall(_Rule):
    kind: Literal["access_outside_call"]
    allowed_purposes: list[str] = Field(min_length=1)


class RepeatedFailures(_Rule):
    kind: Literal["repeated_failures"]
    threshold: int = Field(ge=1)
    window_seconds: int = Field(ge=1)


class RevokedKeyUsed(_Rule):
    kind: Literal["revoked_key_used"]
    purposes: list[str] = Field(default_factory=lambda: ["call"], min_length=1)


class UnknownCredential(_Rule):
    kind: Literal["unknown_credential"]


Rule = Annotated[
    AccessOutsideCall | RepeatedFailures | RevokedKeyUsed | UnknownCredential,
    Field(discriminator="kind"),
]


class Webhook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, pattern=r"^https?://")
    timeout_seconds: float = Field(default=2.0, gt=0, le=30)


class AlertRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook: Webhook = Field(default_factory=Webhook)
    rules: list[Rule]


def load_alert_rules(path: Path | None = None) -> AlertRules:
    """Read and validate an alert-rules file; every problem reported at file:line:column."""
    path = path or BUNDLED_RULES / "alerts.yaml"
    root = read_yaml(path)
    try:
        parsed = AlertRules.model_validate(to_plain(root))
    except ValidationError as exc:
        raise InputError(_located(exc, root, str(path))) from None
    seen: set[str] = set()
    problems = []
    for i, rule in enumerate(parsed.rules):
        if rule.id in seen:
            problems.append(problem_at(root, ["rules", i, "id"], str(path), "duplicate rule id"))
        seen.add(rule.id)
    if problems:
        raise InputError(problems)
    return parsed


def _located(exc: ValidationError, root: object, file: str) -> list[Problem]:
    """Problems at file:line:column; a bad or missing ``kind`` points at the kind field."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc.append("kind")
        problems.append(problem_at(root, loc, file, err["msg"]))
    return problems


class WebhookSender:
    """Posts alerts as JSON from a background thread, so a slow webhook never slows an access.
    A failed delivery is logged (host only: a webhook URL may carry a token) and dropped."""

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        self.url = url
        self.delivered = 0
        self.failed = 0
        self._queue: queue.Queue[dict[str, object] | None] = queue.Queue()
        self._client = httpx.Client(timeout=timeout)
        self._thread = threading.Thread(target=self._run, name="vault-alert-webhook", daemon=True)
        self._thread.start()

    def send(self, payload: dict[str, object]) -> None:
        self._queue.put(payload)

    def flush(self) -> None:
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
        self._client.close()

    def _run(self) -> None:
        while True:
            payload = self._queue.get()
            try:
                if payload is None:
                    return
                self._post(payload)
            finally:
                self._queue.task_done()

    def _post(self, payload: dict[str, object]) -> None:
        try:
            response = self._client.post(self.url, json=payload)
            response.raise_for_status()
            self.delivered += 1
        except httpx.HTTPError as exc:
            self.failed += 1
            host = httpx.URL(self.url).host
            log.warning("alert webhook to %s failed: %s", host, type(exc).__name__)


class AlertEngine:
    """An access observer (``Vault.add_observer``): evaluates every rule on every event."""

    def __init__(
        self,
        repo: VaultRepository,
        rules: AlertRules | None = None,
        *,
        webhook_url: str | None = None,
    ) -> None:
        self.repo = repo
        self.rules = rules or load_alert_rules()
        url = webhook_url or os.environ.get(WEBHOOK_ENV) or self.rules.webhook.url
        self.webhook = WebhookSender(url, self.rules.webhook.timeout_seconds) if url else None

    def __call__(self, event: AccessEvent, sealed: SealedSecret | None) -> None:
        for rule in self.rules.rules:
            message = self._fires(rule, event, sealed)
            if message is not None:
                self._raise(rule, event, message)

    def close(self) -> None:
        if self.webhook is not None:
            self.webhook.close()

    def _fires(self, rule: Rule, event: AccessEvent, sealed: SealedSecret | None) -> str | None:
        foreign = sealed is None or sealed.tenant_id != event.tenant_id
        if isinstance(rule, AccessOutsideCall):
            return _outside_call(rule, event)
        if isinstance(rule, RepeatedFailures):
            return None if foreign else self._repeated_failures(rule, event)
        if isinstance(rule, RevokedKeyUsed):
            revoked = sealed is not None and sealed.status == Status.revoked
            used = event.result == AccessResult.opened and event.purpose in rule.purposes
            return "a credential marked revoked was opened for a call" if revoked and used else None
        if event.result == AccessResult.denied and foreign:
            return "tenant asked for a credential that is not its own"
        return None

    def _repeated_failures(self, rule: RepeatedFailures, event: AccessEvent) -> str | None:
        if event.result not in (AccessResult.denied, AccessResult.failed):
            return None
        since = event.at - timedelta(seconds=rule.window_seconds)
        count = self.repo.failures_since(event.credential_id, since)
        # Exactly at the threshold: one alert per burst, not one per further failure.
        if count == rule.threshold:
            return f"{count} failed accesses within {rule.window_seconds}s"
        return None

    def _raise(self, rule: Rule, event: AccessEvent, message: str) -> None:
        alert = Alert(
            "alert_" + uuid.uuid4().hex,
            event.at,
            rule.id,
            rule.severity,
            event.tenant_id,
            event.credential_id,
            event.call_id,
            message,
        )
        self.repo.append_alert(alert)
        alert_log.warning(
            "vault alert %s [%s] tenant=%s credential=%s call=%s: %s",
            rule.id,
            rule.severity,
            alert.tenant_id,
            alert.credential_id,
            alert.call_id,
            message,
        )
        if self.webhook is not None:
            self.webhook.send(
                {
                    "alert_id": alert.alert_id,
                    "at": alert.at.isoformat(),
                    "rule_id": alert.rule_id,
                    "severity": alert.severity,
                    "tenant_id": alert.tenant_id,
                    "credential_id": alert.credential_id,
                    "call_id": alert.call_id,
                    "message": alert.message,
                }
            )


def _outside_call(rule: AccessOutsideCall, event: AccessEvent) -> str | None:
    if event.purpose not in rule.allowed_purposes:
        return f"credential requested for purpose {event.purpose!r}"
    if not event.call_id:
        return "credential requested without a call id"
    return None
