"""Credentials over the API: CRUD, rotation, tenant isolation, and no secret in any response."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from apikit import admin_headers, app_for, issue_token
from litestar.testing import TestClient

SECRET_A = "sk-tenant-a-secret-value-0001"
SECRET_B = "sk-tenant-b-secret-value-0002"


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(app_for(tmp_path / "data")) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def create(client: TestClient, token: str, secret: str, **extra: str) -> dict:
    body = {"provider_id": "openai", "label": "main key", "secret": secret, **extra}
    response = client.post("/v1/credentials", headers=bearer(token), json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_list_rotate_delete_without_ever_returning_the_secret(client: TestClient) -> None:
    token = issue_token(client, "tenant-a")
    bodies: list[str] = []
    created = create(client, token, SECRET_A)
    assert created["fingerprint"] == "…" + SECRET_A[-4:]
    assert created["secret_version"] == 1 and created["tenant_id"] == "tenant-a"
    cid = created["credential_id"]
    listing = client.get("/v1/credentials", headers=bearer(token))
    bodies += [listing.text, client.get(f"/v1/credentials/{cid}", headers=bearer(token)).text]
    assert [c["credential_id"] for c in listing.json()] == [cid]
    rotated = client.put(
        f"/v1/credentials/{cid}/secret", headers=bearer(token), json={"secret": SECRET_B}
    )
    bodies.append(rotated.text)
    assert rotated.json()["secret_version"] == 2
    assert rotated.json()["fingerprint"] == "…" + SECRET_B[-4:]
    bodies.append(client.get("/v1/credentials/access-log", headers=bearer(token)).text)
    assert client.delete(f"/v1/credentials/{cid}", headers=bearer(token)).status_code == 204
    gone = client.get(f"/v1/credentials/{cid}", headers=bearer(token))
    assert (gone.status_code, gone.json()["code"]) == (404, "not_found")
    for body in [created.__repr__(), *bodies]:
        assert SECRET_A not in body and SECRET_B not in body
        assert SECRET_A[:-4] not in body


def test_a_tenant_cannot_see_or_touch_another_tenants_credentials(client: TestClient) -> None:
    token_a, token_b = issue_token(client, "tenant-a"), issue_token(client, "tenant-b")
    cid = create(client, token_a, SECRET_A)["credential_id"]
    assert client.get("/v1/credentials", headers=bearer(token_b)).json() == []
    for method, path, body in (
        ("GET", f"/v1/credentials/{cid}", None),
        ("PUT", f"/v1/credentials/{cid}/secret", {"secret": SECRET_B}),
        ("DELETE", f"/v1/credentials/{cid}", None),
    ):
        response = client.request(method, path, headers=bearer(token_b), json=body)
        assert response.status_code == 404, (method, response.text)
    # Naming another tenant explicitly is refused the same way.
    other = client.get("/v1/credentials?tenant_id=tenant-a", headers=bearer(token_b))
    assert other.status_code == 404
    # And A's credential is untouched.
    mine = client.get(f"/v1/credentials/{cid}", headers=bearer(token_a)).json()
    assert mine["secret_version"] == 1


def test_admin_acts_for_a_named_tenant_and_for_the_platform(client: TestClient) -> None:
    token_a = issue_token(client, "tenant-a")
    create(client, token_a, SECRET_A)
    listing = client.get(
        "/v1/credentials", params={"tenant_id": "tenant-a"}, headers=admin_headers()
    )
    assert len(listing.json()) == 1
    unnamed = client.get("/v1/credentials", headers=admin_headers())
    assert unnamed.status_code == 400 and unnamed.json()["errors"][0]["field"] == "tenant_id"
    platform = client.post(
        "/v1/credentials",
        params={"tenant_id": "__platform__"},
        headers=admin_headers(),
        json={"provider_id": "openai", "label": "platform key", "secret": SECRET_B},
    )
    assert platform.status_code == 201 and platform.json()["tenant_id"] == "__platform__"
    # The platform's keys are not the tenant's.
    assert len(client.get("/v1/credentials", headers=bearer(token_a)).json()) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider_id": "no-such", "label": "x", "secret": "sk-1"}, "provider_id"),
        ({"provider_id": "openai", "label": "  ", "secret": "sk-1"}, "label"),
        ({"provider_id": "openai", "label": "x", "secret": "   "}, "secret"),
        ({"provider_id": "openai", "label": "x"}, "secret"),
        (
            {"provider_id": "openai", "label": "x", "secret": "sk", "base_url": "ftp://x"},
            "base_url",
        ),
        ({"label": "x", "secret": "sk-1"}, "provider_id"),
    ],
)
def test_bad_credential_input_is_a_400_naming_the_field(
    client: TestClient, body: dict, field: str
) -> None:
    token = issue_token(client, "tenant-a")
    response = client.post("/v1/credentials", headers=bearer(token), json=body)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert field in problem["detail"]
    assert "sk-1" not in response.text
    assert client.get("/v1/credentials", headers=bearer(token)).json() == []


def test_a_local_endpoint_needs_no_secret(client: TestClient) -> None:
    token = issue_token(client, "tenant-a")
    body = {"provider_id": "openai", "label": "lan box", "base_url": "http://10.0.0.5:11434/v1"}
    created = client.post("/v1/credentials", headers=bearer(token), json=body)
    assert created.status_code == 201
    assert created.json()["fingerprint"] is None
    assert created.json()["base_url"] == body["base_url"]


def test_credentials_need_a_token(client: TestClient) -> None:
    response = client.get("/v1/credentials")
    assert (response.status_code, response.json()["code"]) == (401, "unauthorized")


def test_health_check_probes_the_provider_and_records_the_status(tmp_path: Path) -> None:
    from byokvault.engine.fakeprovider import FakeProvider

    with FakeProvider() as fake:
        good = fake.add_key("sk-good-key-7777")
        urls = {"openai": fake.base_url("openai")}
        with TestClient(app_for(tmp_path / "data", provider_base_urls=urls)) as client:
            token = issue_token(client, "tenant-a")
            ok = create(client, token, good)["credential_id"]
            bad = create(client, token, "sk-revoked-key-0000")["credential_id"]
            checked = client.post(f"/v1/credentials/{ok}/check", headers=bearer(token))
            assert checked.status_code == 200, checked.text
            assert checked.json()["status"] == "active"
            revoked = client.post(f"/v1/credentials/{bad}/check", headers=bearer(token)).json()
            assert revoked["status"] == "revoked"
            history = client.get(f"/v1/credentials/{bad}/health", headers=bearer(token)).json()
            assert [(e["http_status"], e["status"]) for e in history] == [(401, "revoked")]
            # The probe sent the stored key, in a header, to the provider's model list.
            assert [(r.path, r.key) for r in fake.requests] == [
                ("/v1/models", good),
                ("/v1/models", "sk-revoked-key-0000"),
            ]
            assert "sk-good-key-7777" not in checked.text
            log = client.get("/v1/credentials/access-log", headers=bearer(token)).json()
            assert {e["purpose"] for e in log} == {"health_check"} and len(log) == 2
