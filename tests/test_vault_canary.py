"""The canary: one planted key, driven through every vault flow (success and failure), must
never show up — plain, base64 or hex — in logs at DEBUG, error messages, CLI output, webhook
bodies, the access log, alerts, resolutions, health events or the raw database files.

(The ledger and its Parquet files are not built yet; they join the scan when they exist.)
"""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
from pathlib import Path

import duckdb
import pytest
from test_vault_alerts import Receiver

from byokvault.engine.cli import main
from byokvault.engine.fakeprovider import FakeProvider
from byokvault.engine.vault import crypto
from byokvault.engine.vault.health import HealthChecker, ProviderEndpoint
from byokvault.engine.vault.model import PLATFORM_TENANT
from byokvault.engine.vault.secret import Secret
from byokvault.engine.vault.vault import Vault


def forms(plain: str) -> list[bytes]:
    raw = plain.encode()
    return [
        raw,
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw),
        base64.b64encode(raw).rstrip(b"="),
        raw.hex().encode(),
        raw.hex().upper().encode(),
    ]


def assert_absent(canaries: list[str], haystack: bytes | str, where: str) -> None:
    data = haystack.encode() if isinstance(haystack, str) else haystack
    for canary in canaries:
        for form in forms(canary):
            assert form not in data, f"canary found in {where}"


def test_canary_never_escapes(tmp_path: Path, caplog, capsys, monkeypatch) -> None:
    canary = "sk-canary-" + secrets.token_hex(16)
    platform_canary = "sk-platcanary-" + secrets.token_hex(16)
    rotated = "sk-rotated-canary-" + secrets.token_hex(16)
    canaries = [canary, platform_canary, rotated]
    data = Path(__import__("os").environ["BYOKVAULT_DATA"])
    errors: list[str] = []
    outputs: list[str] = []
    receiver = Receiver()
    caplog.set_level(logging.DEBUG)  # root at DEBUG: httpx, httpcore and ours all captured

    def expect_error(action) -> None:
        with pytest.raises(Exception) as err:
            action()
        errors.extend([str(err.value), repr(err.value), str(err.getrepr())])

    def cli(*argv: str, stdin: str = "") -> dict | list | None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        try:
            code = main(["vault", *argv])
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        outputs.extend([out, err])
        return code, out

    with FakeProvider() as fake:
        fake.add_key(canary)
        # 1. the CLI adds the tenant's key from stdin; the platform key from an env var
        code, out = cli(
            "add",
            "--tenant",
            "acme",
            "--provider",
            "openai",
            "--label",
            "main",
            "--json",
            stdin=canary + "\n",
        )
        assert code == 0
        cred_id = json.loads(out)[0]["credential_id"]
        monkeypatch.setenv("PLATFORM_KEY", platform_canary)
        cli(
            "add",
            "--tenant",
            PLATFORM_TENANT,
            "--provider",
            "openai",
            "--label",
            "p",
            "--secret-env",
            "PLATFORM_KEY",
        )
        cli("add", "--tenant", "acme", "--provider", "openai", "--label", "x", "--secret", canary)
        cli("add", "--tenant", "bad tenant", "--provider", "openai", "--label", "x", stdin=canary)
        cli("list", "--tenant", "acme")
        cli("list", "--tenant", "acme", "--json")

        vault = Vault.open(alert_webhook=receiver.url)
        alerts = vault.alert_engine
        endpoints = {"openai": ProviderEndpoint("openai", "openai", fake.base_url("openai"))}
        # the timeout must clear a loaded CI machine's answer time, the injected delay must not
        checker = HealthChecker(vault, endpoints, timeout=1.0)

        # 2. resolution (tenant tier, then platform tier after a 401 on a real call)
        res = vault.resolve("acme", "openai", "call-1", allow_platform_fallback=True)
        assert res.secret.reveal() == canary
        logging.getLogger("test").debug("resolved %s secret=%s %r", res, res.secret, res.secret)
        vault.record_call_failure(cred_id, 401)
        res = vault.resolve("acme", "openai", "call-2", allow_platform_fallback=True)
        assert res.secret.reveal() == platform_canary
        expect_error(
            lambda: vault.resolve("acme", "openai", "call-2", allow_platform_fallback=True)
        )
        expect_error(
            lambda: vault.resolve("acme", "openai", "call-3", allow_platform_fallback=False)
        )

        # 3. health probes: ok, injected 401/429/500 and a timeout
        checker.run_once()
        for status in (401, 429, 500):
            fake.fail(key=canary, status=status, times=1)
            checker.run_once()
        fake.fail(style="openai", delay=3.0, times=2)
        checker.run_once()

        # 4. every failing access: foreign tenant, no call id, odd purpose, tampered row,
        #    audit write failure, secret-less misuse
        expect_error(
            lambda: vault.decrypt_for_call(
                "globex", cred_id, purpose="call", call_id="c", actor="x"
            )
        )
        expect_error(
            lambda: vault.decrypt_for_call("acme", cred_id, purpose="call", call_id="", actor="x")
        )
        vault.decrypt_for_call("acme", cred_id, purpose="export", call_id="c9", actor="ops")
        sealed = vault.repo.secret_for_decrypt(cred_id)
        tampered = sealed.ciphertext[:-1] + bytes([sealed.ciphertext[-1] ^ 1])
        vault.repo._cursor().execute(
            "UPDATE vault_credentials SET ciphertext = ? WHERE credential_id = ?",
            [tampered, cred_id],
        )
        vault.repo.forget_cached()  # the row was changed behind the repository's back
        for i in range(4):
            expect_error(
                lambda i=i: vault.decrypt_for_call(
                    "acme", cred_id, purpose="call", call_id=f"t{i}", actor="x"
                )
            )
        vault.repo._cursor().execute(
            "UPDATE vault_credentials SET ciphertext = ? WHERE credential_id = ?",
            [sealed.ciphertext, cred_id],
        )
        vault.repo.forget_cached()
        original_append = vault.repo.append_access
        vault.repo.append_access = lambda e: (_ for _ in ()).throw(duckdb.IOException("full"))
        expect_error(
            lambda: vault.decrypt_for_call(
                "acme", cred_id, purpose="call", call_id="c10", actor="x"
            )
        )
        vault.repo.append_access = original_append
        expect_error(lambda: vault.add_credential("acme", "bad provider!", "x", Secret(canary)))
        expect_error(lambda: Secret(""))

        # 5. rotations and re-key
        vault.rotate_data_key("acme")
        vault.rotate_kek(crypto.new_key())
        alerts.webhook.flush()
        vault.close()

    monkeypatch.setenv("ROTATED", rotated)
    cli("rotate", "--tenant", "acme", "--credential", cred_id, "--secret-env", "ROTATED")
    cli("access-log", "--tenant", "acme")
    cli("access-log", "--tenant", "acme", "--json")
    cli("rotate-kek")

    # The flows really ran: events, alerts, webhook deliveries and health rows exist.
    vault = Vault.open()
    events = vault.access_log("acme", limit=1000)
    assert {e.result for e in events} == {"opened", "denied", "failed"}
    stored_alerts = vault.repo.alerts(limit=1000)
    assert {"access-outside-call", "repeated-failures"} <= {a.rule_id for a in stored_alerts}
    assert receiver.bodies
    health = vault.health_history("acme", cred_id, limit=100)
    assert {h.outcome for h in health} >= {"ok", "http_401", "http_429", "http_500", "timeout"}
    resolutions = [vault.repo.resolution(c) for c in ("call-1", "call-2", "call-3")]
    records = [events, stored_alerts, health, resolutions, vault.list_credentials("acme")]
    vault.close()
    receiver.close()

    assert_absent(canaries, caplog.text, "log text")
    for record in caplog.records:
        assert_absent(canaries, record.getMessage() + str(record.exc_text), "a log record")
    assert_absent(canaries, "\n".join(errors), "error messages")
    assert_absent(canaries, "\n".join(outputs), "CLI output")
    assert_absent(canaries, json.dumps(receiver.bodies), "webhook bodies")
    assert_absent(canaries, repr(records), "access log / alerts / health / resolutions")
    for path in sorted(data.rglob("*")):
        if path.is_file():
            assert_absent(canaries[:2], path.read_bytes(), f"file {path.name}")
    # the re-keyed (replaced) canary is the one secret still stored: encrypted, so not visible
    assert_absent([rotated], (data / "vault.duckdb").read_bytes(), "vault.duckdb")
    assert len(caplog.records) > 10  # the DEBUG capture was live
