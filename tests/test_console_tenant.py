"""Console sign-in, keys and usage pages through the real app: forms without JavaScript, the
secret never rendered back, tenant isolation, and cross-site form posts refused."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from apikit import app_for, issue_token
from litestar.testing import TestClient

SECRET = "sk-console-canary-7fQ2xZ9w"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(app_for(tmp_path_factory.mktemp("console") / "data")) as test_client:
        yield test_client


def sign_in(client: TestClient, tenant: str) -> str:
    token = issue_token(client, tenant)
    response = client.post(
        "/console/signin", data={"token": token, "next": "/console/keys"}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/console/keys"
    return token


def form_token(page: str) -> str:
    found = re.search(r'name="form_token" value="([0-9a-f]+)"', page)
    assert found, "every form carries the session's form token"
    return found.group(1)


def test_pages_need_a_tenant_sign_in(client: TestClient) -> None:
    client.cookies.clear()
    for page in ("/console/keys", "/console/usage"):
        response = client.get(page, follow_redirects=False)
        assert response.status_code in (302, 303, 307)
        assert response.headers["location"].startswith("/console/signin")
    bad = client.post("/console/signin", data={"token": "bvk_wrong"})
    assert "not a tenant token" in bad.text


def test_connect_a_key_shows_fingerprint_never_the_secret(client: TestClient) -> None:
    sign_in(client, "initech")
    page = client.get("/console/keys").text
    added = client.post(
        "/console/keys",
        data={
            "form_token": form_token(page),
            "provider_id": "openai",
            "label": "prod",
            "secret": SECRET,
        },
    )
    assert added.status_code == 200, added.text  # redirected back to the keys page
    assert "…" + SECRET[-4:] in added.text and "prod" in added.text
    assert SECRET not in added.text and SECRET[:-4] not in added.text


def test_a_post_without_the_form_token_is_refused(client: TestClient) -> None:
    sign_in(client, "hooli")
    forged = client.post("/console/keys", data={"provider_id": "openai", "secret": SECRET})
    assert forged.status_code == 403
    assert client.get("/console/keys").text.count("<code>…") == 0, "nothing was stored"


def test_rotate_and_delete_through_forms(client: TestClient) -> None:
    sign_in(client, "umbrella")
    page = client.get("/console/keys").text
    token = form_token(page)
    client.post(
        "/console/keys", data={"form_token": token, "provider_id": "anthropic", "secret": SECRET}
    )
    page = client.get("/console/keys").text
    cred = re.search(r"/console/keys/(cred_[0-9a-f]+)/rotate", page).group(1)
    rotated = client.post(
        f"/console/keys/{cred}/rotate", data={"form_token": token, "secret": "sk-new-secret-WXYZ"}
    )
    assert "…WXYZ" in rotated.text and "…" + SECRET[-4:] not in rotated.text
    blank = client.post(f"/console/keys/{cred}/rotate", data={"form_token": token, "secret": " "})
    assert "must not be blank" in blank.text
    deleted = client.post(f"/console/keys/{cred}/delete", data={"form_token": token})
    assert f"/console/keys/{cred}/rotate" not in deleted.text, "the key's row is gone"


def test_tenants_never_see_each_others_keys(client: TestClient) -> None:
    sign_in(client, "acme")
    page = client.get("/console/keys").text
    client.post(
        "/console/keys",
        data={
            "form_token": form_token(page),
            "provider_id": "openai",
            "secret": SECRET,
            "label": "acme-key",
        },
    )
    sign_in(client, "globex")  # the cookie now belongs to globex
    page = client.get("/console/keys").text
    assert "acme-key" not in page and "No keys yet" in page


def test_usage_page_renders_for_a_tenant_without_calls(client: TestClient) -> None:
    sign_in(client, "stark")
    page = client.get("/console/usage")
    assert page.status_code == 200
    assert "No calls billed yet" in page.text and "No receipts yet" in page.text


def test_usage_page_publishes_the_margin_of_every_class(client: TestClient) -> None:
    from byokvault.engine.pricing.rules import load_rules

    rules = load_rules(client.app.state.resources.settings.rules_dir)
    sign_in(client, "wayne")
    page = client.get("/console/usage").text
    table = page.split('id="margins-table"')[1].split("</table>")[0]
    for capability_class, factor in rules.margins.items():
        assert f'<td>{capability_class}</td><td class="num">× {factor.normalize()}</td>' in table


def test_quote_page_ranks_models_the_tenant_can_pay_for(client: TestClient) -> None:
    sign_in(client, "quoter")
    page = client.get("/console/keys").text
    client.post(
        "/console/keys",
        data={"form_token": form_token(page), "provider_id": "openai", "secret": SECRET},
    )
    quote = client.get(
        "/console/quote",
        params={
            "kind": "chat",
            "capabilities": "vision",
            "input_tokens": "2000",
            "output_tokens": "100",
        },
    )
    assert quote.status_code == 200
    ranked = quote.text.split('id="candidates"')[1].split("</table>\n<h2>")[0]
    models = re.findall(r'href="/console/catalog/([^/"]+)/([^"]+)"', ranked)
    assert models, "an openai key makes openai vision models routable"
    catalog = client.app.state.resources
    for provider_id, model_id in models:
        assert provider_id in {"openai"} | {
            p.id for p in catalog.catalog.providers if p.kind.value == "local"
        }
        assert "vision" in catalog.capabilities_of(provider_id, model_id)
    excluded = quote.text.split('id="excluded"')[1]
    assert "missing_capability" in excluded and "no_usable_credential" in excluded


def test_quote_form_errors_name_the_field(client: TestClient) -> None:
    sign_in(client, "quoter2")
    page = client.get(
        "/console/quote", params={"input_tokens": "lots", "capabilities": "telepathy"}
    )
    assert page.status_code == 200
    assert "input_tokens: &#39;lots&#39; is not a whole number" in page.text
    assert "capabilities: &#39;telepathy&#39; is neither a capability nor an alias" in page.text
