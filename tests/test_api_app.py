"""The API's catalog, auth, problem details, metrics and OpenAPI, through a real app."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from apikit import ADMIN_TOKEN, admin_headers, app_for, issue_token
from litestar.testing import TestClient

from byokvault.api import openapi
from byokvault.engine.catalog.load import load_catalog
from byokvault.engine.paths import BUNDLED_CATALOG

CATALOG = load_catalog(BUNDLED_CATALOG)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(app_for(tmp_path_factory.mktemp("api") / "data")) as test_client:
        yield test_client


def expected_models(capability: str | None = None, modality: str | None = None) -> set[str]:
    out = set()
    for provider, model in CATALOG.models():
        closure = CATALOG.taxonomy.closure(model.capabilities)
        if capability and not CATALOG.taxonomy.resolve([capability]) <= closure:
            continue
        mods = set(model.modalities.input) | set(model.modalities.output)
        if modality and modality not in mods:
            continue
        out.add(f"{provider.id}/{model.id}")
    return out


def listed(client: TestClient, **params: str) -> set[str]:
    response = client.get("/v1/catalog/models", params=params)
    assert response.status_code == 200, response.text
    return {f"{m['provider_id']}/{m['model_id']}" for m in response.json()["data"]}


def test_models_list_all_and_filtered_agree_with_the_catalog(client: TestClient) -> None:
    assert listed(client) == expected_models()
    assert listed(client) != set()
    for capability in ("vision", "text.chat", "batch"):
        assert listed(client, capability=capability) == expected_models(capability=capability)
    for modality in ("image", "audio"):
        assert listed(client, modality=modality) == expected_models(modality=modality)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"capability": "teleportation"}, "capability"),
        ({"provider": "no-such-provider"}, "provider"),
        ({"modality": "smell"}, "modality"),
    ],
)
def test_bad_filters_are_400_problems_naming_the_field(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    response = client.get("/v1/catalog/models", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "validation_error"
    assert [e["field"] for e in body["errors"]] == [field]


def test_prices_are_exact_decimal_strings_from_the_catalog(client: TestClient) -> None:
    provider, model = next(iter(CATALOG.models()))
    body = client.get(f"/v1/catalog/prices/{provider.id}/{model.id}").json()
    now = datetime.now(UTC)
    latest: dict[tuple[str, str], object] = {}
    for row in sorted(model.prices, key=lambda r: r.effective_from):
        if row.effective_from <= now:
            latest[row.series_key()] = row
    expected = {row.row_id(provider.id, model.id): row.amount for row in latest.values()}
    got = {p["price_id"]: Decimal(p["amount"]) for p in body["prices"]}
    assert got == expected and got
    assert all(isinstance(p["amount"], str) for p in body["prices"])


def test_prices_before_the_first_effective_date_are_empty(client: TestClient) -> None:
    provider, model = next(iter(CATALOG.models()))
    first = min(row.effective_from for row in model.prices)
    before = client.get(
        f"/v1/catalog/prices/{provider.id}/{model.id}",
        params={"at": "2000-01-01T00:00:00Z"},
    ).json()
    assert first.year > 2000 and before["prices"] == []
    history = client.get(f"/v1/catalog/price-history/{provider.id}/{model.id}").json()
    assert len(history["prices"]) == len(model.prices)


def test_unknown_model_and_bad_instant(client: TestClient) -> None:
    missing = client.get("/v1/catalog/prices/openai/no-such-model")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    bad = client.get("/v1/catalog/prices/openai/gpt-4o-mini", params={"at": "yesterday"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "at"


def test_unknown_route_is_a_404_problem(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_openai_shaped_model_list(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    assert {m["id"] for m in body["data"]} == expected_models()


def test_tokens_are_stored_hashed_and_scoped(client: TestClient, tmp_path: Path) -> None:
    token = issue_token(client, "acme")
    stored = (client.app.state.resources.settings.data_dir / "api_tokens.json").read_text()
    assert token not in stored and ADMIN_TOKEN not in stored
    # A tenant token is no admin token.
    denied = client.get(
        "/v1/admin/tenants/acme/tokens", headers={"authorization": f"Bearer {token}"}
    )
    assert (denied.status_code, denied.json()["code"]) == (403, "forbidden")
    listing = client.get("/v1/admin/tenants/acme/tokens", headers=admin_headers()).json()
    assert all("token" not in t or t["token"] is None for t in listing)
    token_id = listing[-1]["token_id"]
    assert client.delete(f"/v1/admin/tokens/{token_id}", headers=admin_headers()).status_code == 204
    again = client.delete(f"/v1/admin/tokens/{token_id}", headers=admin_headers())
    assert again.status_code == 404


def test_missing_or_unknown_token_is_401(client: TestClient) -> None:
    for headers in ({}, {"authorization": "Bearer bvk_nope"}, {"x-api-key": "bvk_nope"}):
        response = client.get("/v1/admin/tenants/acme/tokens", headers=headers)
        assert (response.status_code, response.json()["code"]) == (401, "unauthorized")


def test_bad_tenant_id_in_path_is_400(client: TestClient) -> None:
    response = client.post("/v1/admin/tenants/..%2Fetc/tokens", headers=admin_headers())
    assert response.status_code in (400, 404)
    assert response.json()["code"] in ("validation_error", "not_found")


def test_healthz_and_metrics_count_requests(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["catalog_version"] == CATALOG.version
    before = client.get("/metrics").text
    client.get("/healthz")
    after = client.get("/metrics").text

    def count(text: str) -> float:
        prefix = 'byokvault_http_requests_total{method="GET",route="/healthz",status="200"} '
        return sum(
            float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)
        )

    assert count(after) == count(before) + 1
    assert "# TYPE byokvault_http_request_seconds histogram" in after
    assert "# TYPE byokvault_component_up gauge" in after
    assert 'byokvault_component_up{component="ledger"} 1' in after


def test_committed_openapi_is_the_generated_one() -> None:
    committed = openapi.COMMITTED.read_text(encoding="utf-8")
    assert committed == openapi.render(), (
        "api/openapi.json is stale: python -m byokvault.api.openapi"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_byokvault_serve_starts_on_the_embedded_default(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "BYOKVAULT_DATA": str(tmp_path / "data")}
    command = [sys.executable, "-m", "byokvault.engine.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "serve did not come up"
                time.sleep(0.2)
        assert health.json()["status"] == "ok"
        admin_file = tmp_path / "data" / "admin_token"
        assert admin_file.stat().st_mode & 0o777 == 0o600
        token = admin_file.read_text().strip()
        ok = httpx.get(
            f"http://127.0.0.1:{port}/v1/admin/tenants/t1/tokens",
            headers={"authorization": f"Bearer {token}"},
        )
        assert ok.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=20)[0].decode()
    assert token not in output  # the admin token is never printed, only its file
    assert json.dumps(token) not in output


def test_healthz_is_503_naming_each_store_that_failed_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger or vault audit log whose table write failed refuses work until a restart
    replays it: /healthz says which, and why, with a 503 a balancer acts on."""
    from byokvault.engine.ledger import store as ledger_store
    from byokvault.engine.ledger.synthetic import make_record
    from byokvault.engine.vault.secret import Secret

    with TestClient(app_for(tmp_path / "data")) as client:
        assert client.get("/healthz").json()["components"] == {
            "catalog": "ok",
            "ledger": "ok",
            "vault_audit": "ok",
            "quotes": "ok",
        }
        res = client.app.state.resources

        def disk_full(*args: object) -> None:
            raise OSError("disk full at /secret/path")

        monkeypatch.setattr(ledger_store, "_insert", disk_full)
        res.ledger.append(make_record(0))  # acknowledged: it is in the journal
        vault = res.vault
        credential = vault.add_credential("acme", "openai", "k", Secret("sk-never-shown-12345"))
        vault.repo.audit_log._apply = disk_full
        vault.decrypt_for_call(
            "acme", credential.credential_id, purpose="t", call_id="c1", actor="t"
        )
        deadline = time.monotonic() + 15  # the table writes gather for up to 1 s first
        while time.monotonic() < deadline:
            response = client.get("/healthz")
            if response.status_code == 503 and "ok" not in (
                response.json()["components"]["ledger"],
                response.json()["components"]["vault_audit"],
            ):
                break
            time.sleep(0.05)
        assert response.status_code == 503, response.text
        health = response.json()
        assert health["status"] == "degraded"
        assert health["components"]["ledger"].startswith("failed (OSError)")
        assert health["components"]["vault_audit"].startswith("failed (OSError)")
        assert health["components"]["catalog"] == "ok"
        assert "/secret/path" not in response.text and "sk-never" not in response.text
        scraped = client.get("/metrics").text
        assert 'byokvault_component_up{component="ledger"} 0' in scraped
        assert 'byokvault_component_up{component="vault_audit"} 0' in scraped
        assert 'byokvault_component_up{component="catalog"} 1' in scraped
        monkeypatch.undo()  # (the stores stay failed: closing must not raise)
