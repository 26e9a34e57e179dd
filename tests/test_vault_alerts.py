"""Alert rules: strict YAML with file:line errors, each rule firing on its pattern, delivery to
the log, the alerts table and a webhook (a loopback HTTP receiver started here)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from byokvault.engine.catalog.yamlio import InputError
from byokvault.engine.vault.alerts import AlertEngine, load_alert_rules
from byokvault.engine.vault.errors import AccessDenied, CredentialNotFound
from byokvault.engine.vault.model import Status
from byokvault.engine.vault.secret import Secret
from byokvault.engine.vault.vault import Vault


class Receiver:
    """A loopback webhook endpoint that records every JSON body posted to it."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture()
def alerting(tmp_path: Path, receiver: Receiver) -> Iterator[tuple[Vault, AlertEngine]]:
    vault = Vault.open(tmp_path / "v.duckdb", tmp_path / "v.kek", alert_webhook=receiver.url)
    yield vault, vault.alert_engine
    vault.close()


def _fired(vault: Vault, engine: AlertEngine) -> list[str]:
    if engine.webhook:
        engine.webhook.flush()
    return sorted(a.rule_id for a in vault.repo.alerts())


def test_bundled_rules_load() -> None:
    rules = load_alert_rules()
    kinds = {r.kind for r in rules.rules}
    assert {"access_outside_call", "repeated_failures", "revoked_key_used"} <= kinds


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("rules:\n  - id: x\n    kind: nope\n    severity: high\n", ":3:", "kind"),
        (
            "rules:\n  - id: x\n    kind: repeated_failures\n    severity: high\n"
            "    threshold: 0\n    window_seconds: 5\n",
            ":5:",
            "rules.0.repeated_failures.threshold",
        ),
        (
            "rules:\n  - id: x\n    kind: unknown_credential\n    severity: high\n    extra: 1\n",
            ":5:",
            "extra",
        ),
        (
            "rules:\n  - id: a\n    kind: unknown_credential\n    severity: high\n"
            "  - id: a\n    kind: unknown_credential\n    severity: low\n",
            ":5:",
            "duplicate",
        ),
    ],
)
def test_bad_rules_report_file_line_and_field(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_alert_rules(path)
    rendered = str(err.value)
    assert f"alerts.yaml{where}" in rendered and message in rendered


def test_access_outside_a_call_alerts(alerting, receiver: Receiver) -> None:
    vault, engine = alerting
    cred = vault.add_credential("acme", "openai", "k", Secret("sk-alert-outside-0001"))
    vault.decrypt_for_call("acme", cred.credential_id, purpose="call", call_id="c1", actor="api")
    assert _fired(vault, engine) == []  # a normal call raises nothing
    vault.decrypt_for_call("acme", cred.credential_id, purpose="export", call_id="x", actor="ops")
    assert _fired(vault, engine) == ["access-outside-call"]
    [body] = receiver.bodies
    assert body["rule_id"] == "access-outside-call" and body["credential_id"] == cred.credential_id
    assert body["tenant_id"] == "acme" and "sk-alert" not in json.dumps(body)


def test_repeated_failures_alert_once_per_burst(alerting) -> None:
    vault, engine = alerting
    cred = vault.add_credential("acme", "openai", "k", Secret("sk-alert-failures-02"))
    for _ in range(5):
        with pytest.raises(AccessDenied):
            vault.decrypt_for_call(
                "acme", cred.credential_id, purpose="call", call_id="", actor="api"
            )
    # threshold 3 in the bundled rules; the missing call id also trips access-outside-call
    fired = _fired(vault, engine)
    assert fired.count("repeated-failures") == 1
    assert fired.count("access-outside-call") == 5


def test_revoked_key_used_alerts(alerting, caplog) -> None:
    vault, engine = alerting
    cred = vault.add_credential("acme", "openai", "k", Secret("sk-alert-revoked-003"))
    vault.set_status(cred.credential_id, Status.revoked, "probe: http_401")
    with caplog.at_level(logging.WARNING, logger="byokvault.vault.alerts"):
        vault.decrypt_for_call("acme", cred.credential_id, purpose="call", call_id="c", actor="a")
    assert _fired(vault, engine) == ["revoked-key-used"]
    assert any("revoked-key-used" in r.getMessage() for r in caplog.records)


def test_foreign_credential_alerts(alerting) -> None:
    vault, engine = alerting
    other = vault.add_credential("globex", "openai", "k", Secret("sk-alert-foreign-004"))
    with pytest.raises(CredentialNotFound):
        vault.decrypt_for_call(
            "acme", other.credential_id, purpose="call", call_id="c", actor="api"
        )
    assert _fired(vault, engine) == ["foreign-credential"]
    assert vault.repo.alerts("acme")[0].tenant_id == "acme"
    assert vault.repo.alerts("globex") == []


def test_webhook_failure_does_not_fail_the_access(tmp_path: Path) -> None:
    broken = Receiver(status=500)
    vault = Vault.open(tmp_path / "v.duckdb", tmp_path / "v.kek", alert_webhook=broken.url)
    engine = vault.alert_engine
    cred = vault.add_credential("acme", "openai", "k", Secret("sk-alert-webhook-005"))
    secret = vault.decrypt_for_call(
        "acme", cred.credential_id, purpose="dump", call_id="c", actor="a"
    )
    engine.webhook.flush()
    assert secret.reveal() == "sk-alert-webhook-005"
    assert engine.webhook.failed == 1 and len(broken.bodies) == 1
    assert [a.rule_id for a in vault.repo.alerts()] == ["access-outside-call"]
    vault.close()
    broken.close()


def test_alerts_are_on_by_default_and_can_be_turned_off(tmp_path: Path) -> None:
    on = Vault.open(tmp_path / "on.duckdb", tmp_path / "k")
    cred = on.add_credential("acme", "openai", "k", Secret("sk-alert-default-0006"))
    on.decrypt_for_call("acme", cred.credential_id, purpose="export", call_id="c", actor="a")
    assert [a.rule_id for a in on.repo.alerts()] == ["access-outside-call"]
    on.close()
    off = Vault.open(tmp_path / "off.duckdb", tmp_path / "k", alerts=False)
    cred = off.add_credential("acme", "openai", "k", Secret("sk-alert-default-0007"))
    off.decrypt_for_call("acme", cred.credential_id, purpose="export", call_id="c", actor="a")
    assert off.repo.alerts() == [] and off.alert_engine is None
    off.close()
