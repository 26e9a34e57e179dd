"""Health checks over real HTTP against the loopback fake provider (engine/fakeprovider.py):
each API style's free model-list probe, every status class, bounded concurrency, the schedule,
and learning from real call failures."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from byokvault.engine.catalog.store import open_catalog
from byokvault.engine.fakeprovider import FakeProvider
from byokvault.engine.vault.health import (
    HealthChecker,
    ProviderEndpoint,
    endpoints_from_catalog,
)
from byokvault.engine.vault.model import Status
from byokvault.engine.vault.secret import Secret
from byokvault.engine.vault.vault import Vault

STYLES = ["openai", "anthropic", "google", "ollama"]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture()
def vault(tmp_path: Path, fake: FakeProvider) -> Iterator[Vault]:
    fake.reset()
    v = Vault.open(tmp_path / "v.duckdb", key_file=tmp_path / "v.kek")
    yield v
    v.close()


def _endpoints(fake: FakeProvider) -> dict[str, ProviderEndpoint]:
    return {s: ProviderEndpoint(s, s, fake.base_url(s)) for s in STYLES}


def _add(vault: Vault, fake: FakeProvider, style: str, key: str, tenant: str = "acme"):
    if style == "ollama":
        return vault.add_credential(tenant, style, "box", None, base_url=fake.base_url(style))
    fake.add_key(key)
    return vault.add_credential(tenant, style, "k", Secret(key))


@pytest.mark.parametrize("style", STYLES)
def test_valid_key_probe_is_free_and_marks_active(
    vault: Vault, fake: FakeProvider, style: str
) -> None:
    cred = _add(vault, fake, style, f"sk-{style}-valid-key-0001")
    [result] = HealthChecker(vault, _endpoints(fake)).run_once()
    assert (result.status, result.http_status) == (Status.active, 200)
    assert vault.get_credential("acme", cred.credential_id).status == Status.active
    [request] = fake.requests
    assert request.method == "GET"
    assert request.path.endswith("/api/tags" if style == "ollama" else "/models")
    assert f"sk-{style}" not in request.path  # the key travels in a header, never the URL
    if style == "anthropic":
        assert request.headers["anthropic-version"] and request.headers["x-api-key"]
    if style == "google":
        assert request.headers["x-goog-api-key"] == f"sk-{style}-valid-key-0001"
    if style == "openai":
        assert request.headers["authorization"] == f"Bearer sk-{style}-valid-key-0001"


@pytest.mark.parametrize("style", ["openai", "anthropic", "google"])
def test_unknown_key_is_revoked(vault: Vault, fake: FakeProvider, style: str) -> None:
    cred = vault.add_credential("acme", style, "k", Secret(f"sk-{style}-never-registered"))
    [result] = HealthChecker(vault, _endpoints(fake)).run_once()
    assert result.status == Status.revoked
    stored = vault.get_credential("acme", cred.credential_id)
    assert stored.status == Status.revoked and stored.status_reason.startswith("probe: http_")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, Status.revoked),
        (403, Status.revoked),
        (429, Status.rate_limited),
        (500, Status.provider_outage),
        (503, Status.provider_outage),
        (404, Status.unknown),
    ],
)
@pytest.mark.parametrize("style", STYLES)
def test_injected_answers_classify(
    vault: Vault, fake: FakeProvider, style: str, status: int, expected: Status
) -> None:
    cred = _add(vault, fake, style, f"sk-{style}-inject-{status}")
    fake.fail(style=style, status=status)
    [result] = HealthChecker(vault, _endpoints(fake)).run_once()
    assert (result.status, result.http_status) == (expected, status)
    assert vault.get_credential("acme", cred.credential_id).status == expected
    [event] = vault.health_history("acme", cred.credential_id)
    assert (event.source, event.http_status, event.status) == ("probe", status, expected)


def test_timeout_and_refused_connection_are_outages(vault: Vault, fake: FakeProvider) -> None:
    slow = _add(vault, fake, "openai", "sk-openai-slow-key-01")
    fake.fail(key="sk-openai-slow-key-01", delay=1.0)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    dead = vault.add_credential(
        "acme", "ollama", "gone", None, base_url=f"http://127.0.0.1:{dead_port}"
    )
    results = {
        r.credential_id: r for r in HealthChecker(vault, _endpoints(fake), timeout=0.2).run_once()
    }
    assert (results[slow.credential_id].status, results[slow.credential_id].outcome) == (
        Status.provider_outage,
        "timeout",
    )
    assert (results[dead.credential_id].status, results[dead.credential_id].outcome) == (
        Status.provider_outage,
        "connect_error",
    )


def test_recovery_after_outage(vault: Vault, fake: FakeProvider) -> None:
    cred = _add(vault, fake, "anthropic", "sk-ant-recover-key-01")
    fake.fail(style="anthropic", status=529, times=1)
    checker = HealthChecker(vault, _endpoints(fake))
    assert checker.run_once()[0].status == Status.provider_outage
    assert checker.run_once()[0].status == Status.active
    history = vault.health_history("acme", cred.credential_id)
    assert [e.status for e in history] == [Status.active, Status.provider_outage]


def test_concurrency_is_bounded(vault: Vault, fake: FakeProvider) -> None:
    for i in range(6):
        _add(vault, fake, "openai", f"sk-openai-bounded-{i:02d}")
    fake.fail(style="openai", delay=0.15)
    started = time.perf_counter()
    HealthChecker(vault, _endpoints(fake), concurrency=2).run_once()
    serial_ish = time.perf_counter() - started
    started = time.perf_counter()
    HealthChecker(vault, _endpoints(fake), concurrency=6).run_once()
    parallel = time.perf_counter() - started
    assert serial_ish >= 3 * 0.15  # six probes, two at a time: at least three waves
    assert parallel < serial_ish


def test_probe_access_is_audited_with_its_own_call_id(vault: Vault, fake: FakeProvider) -> None:
    cred = _add(vault, fake, "openai", "sk-openai-audited-key-1")
    HealthChecker(vault, _endpoints(fake)).run_once()
    [event] = vault.access_log("acme", cred.credential_id)
    assert event.purpose == "health_check" and event.call_id.startswith("hc_")
    assert event.actor == "health-checker"


def test_scheduled_checks_update_status(vault: Vault, fake: FakeProvider) -> None:
    cred = _add(vault, fake, "google", "AIza-google-scheduled-key")
    checker = HealthChecker(vault, _endpoints(fake))
    checker.start(interval_seconds=0.05)
    deadline = time.monotonic() + 10
    while checker.rounds < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    checker.stop()
    assert checker.rounds >= 2
    assert vault.get_credential("acme", cred.credential_id).status == Status.active


@pytest.mark.parametrize(
    ("http_status", "expected"),
    [
        (401, Status.revoked),
        (429, Status.rate_limited),
        (502, Status.provider_outage),
        (None, Status.provider_outage),
        (200, Status.active),
    ],
)
def test_learns_from_real_call_failures(vault: Vault, http_status, expected) -> None:
    cred = vault.add_credential("acme", "openai", "k", Secret("sk-openai-real-call-01"))
    assert vault.record_call_failure(cred.credential_id, http_status) == expected
    stored = vault.get_credential("acme", cred.credential_id)
    assert stored.status == expected and stored.status_reason.startswith("call: ")
    assert vault.health_history("acme", cred.credential_id)[0].source == "call"


def test_endpoints_come_from_the_catalog(bundled_catalog: Path, tmp_path: Path) -> None:
    _, con = open_catalog(bundled_catalog, tmp_path / "snap")
    endpoints = endpoints_from_catalog(con)
    assert endpoints["openai"].base_url.startswith("https://")
    assert endpoints["openai"].api_style == "openai"


def test_a_broken_credential_does_not_stop_the_round(vault: Vault, fake: FakeProvider) -> None:
    good = _add(vault, fake, "openai", "sk-openai-good-key-0001")
    bad = _add(vault, fake, "openai", "sk-openai-tampered-0002")
    sealed = vault.repo.secret_for_decrypt(bad.credential_id)
    flipped = sealed.ciphertext[:-1] + bytes([sealed.ciphertext[-1] ^ 1])
    vault.repo._cursor().execute(
        "UPDATE vault_credentials SET ciphertext = ? WHERE credential_id = ?",
        [flipped, bad.credential_id],
    )
    vault.repo.forget_cached()  # changed behind the repository's back
    results = {r.credential_id: r for r in HealthChecker(vault, _endpoints(fake)).run_once()}
    assert results[good.credential_id].status == Status.active
    assert results[bad.credential_id].outcome == "not_checked"
    assert vault.get_credential("acme", bad.credential_id).status == Status.unknown
    assert len(fake.requests) == 1  # the provider was only asked about the good key
