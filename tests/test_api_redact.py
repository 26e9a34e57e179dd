"""Source URLs never show their credentials: the redaction rule (engine/redact.py) for all inputs,
and the live catalog sync's status, errors, metrics and logs over real HTTP on loopback with a
source URL that carries a password and keys."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from apikit import admin_headers, make_settings, serve
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from test_import_server_sync import SourceServer, make_catalog, openrouter_doc

from byokvault.api.app import create_app
from byokvault.engine.redact import UrlRedactingFilter, redact_url, redact_urls

SECRET_CHARS = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~", min_size=4
)
CREDENTIAL_PARAMS = ["key", "api_key", "apiKey", "token", "access_token", "secret", "password"]
PLAIN_PARAMS = ["format", "limit", "page"]


def secret(tail: str) -> str:
    return "S3CR3T" + tail  # a prefix no host, path or message contains


@settings(max_examples=200, deadline=None)
@given(
    user=SECRET_CHARS,
    password=SECRET_CHARS,
    name=st.sampled_from(CREDENTIAL_PARAMS),
    value=SECRET_CHARS,
    plain=st.sampled_from(PLAIN_PARAMS),
    scheme=st.sampled_from(["http", "https"]),
    quote_char=st.sampled_from(["'", '"', " ", ""]),
)
def test_no_credential_survives_and_the_rest_of_the_url_does(
    user: str, password: str, name: str, value: str, plain: str, scheme: str, quote_char: str
) -> None:
    url = (
        f"{scheme}://{secret(user)}:{secret(password)}@prices.example.com:8443/v1/models"
        f"?{plain}=json&{name}={secret(value)}#frag"
    )
    text = f"{url}: fetch failed: HTTPStatusError: for url {quote_char}{url}{quote_char}."
    redacted = redact_urls(text)
    assert "S3CR3T" not in redacted
    assert redacted.count("prices.example.com:8443/v1/models") == 2
    assert redacted.count(f"{plain}=json") == 2 and redacted.count(f"{name}=<redacted>") == 2
    assert redact_urls(redacted) == redacted  # idempotent


@settings(max_examples=100, deadline=None)
@given(
    path=st.lists(st.sampled_from(["v1", "models", "api", "x.json", "@cf", "a-b"]), max_size=4),
    params=st.lists(st.tuples(st.sampled_from(PLAIN_PARAMS), SECRET_CHARS), max_size=3),
)
def test_a_url_without_credentials_is_left_as_it_is(path: list[str], params: list) -> None:
    url = "https://host.example/" + "/".join(path)
    if params:
        url += "?" + "&".join(f"{k}={v}" for k, v in params)
    assert redact_url(url) == url
    assert redact_urls(f"see {url} now") == f"see {url} now"


def test_encoded_parameter_names_and_semicolons_are_redacted() -> None:
    url = f"https://h/x?{quote('api key')}=S3CR3Ta;X-Amz-Signature=S3CR3Tb&q=1"
    assert redact_url(url) == "https://h/x?api%20key=<redacted>;X-Amz-Signature=<redacted>&q=1"


def test_a_log_record_and_its_traceback_are_redacted() -> None:
    url = "https://u:S3CR3Tpw@h/x?token=S3CR3Ttk"
    try:
        raise RuntimeError(f"{url}: fetch failed")
    except RuntimeError as exc:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed on %s", (url,), None)
        record.exc_info = (type(exc), exc, exc.__traceback__)
    assert UrlRedactingFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert "S3CR3T" not in formatted
    assert "failed on https://<redacted>@h/x?token=<redacted>" in formatted
    assert "RuntimeError: https://<redacted>@h/x?token=<redacted>: fetch failed" in formatted


# -- the live sync over loopback ------------------------------------------------------------
PASSWORD, KEY, TOKEN = "S3CR3T-password-0001", "S3CR3T-key-0002", "S3CR3T-token-0003"


def with_credentials(url: str) -> str:
    """The source's URL carrying a password and two keys (the fake source ignores them)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://sync-user:{PASSWORD}@{rest}?format=json&api_key={KEY}&token={TOKEN}"


@pytest.fixture()
def synced(tmp_path: Path) -> Iterator[tuple[str, SourceServer]]:
    with SourceServer(openrouter_doc("0.000001")) as source:
        catalog = make_catalog(tmp_path, source)
        path = catalog / "sources.yaml"
        yaml = YAML()
        doc = yaml.load(path.read_text(encoding="utf-8"))
        doc["sources"]["openrouter"]["url"] = with_credentials(source.url)
        with path.open("w", encoding="utf-8") as fh:
            yaml.dump(doc, fh)
        settings = make_settings(
            tmp_path / "data", catalog_dir=catalog, catalog_sync_interval_s=0.0
        )
        app = create_app(settings)
        with serve(app) as base:
            yield base, source


def test_the_sync_status_metrics_and_logs_never_show_a_source_credential(
    synced: tuple[str, SourceServer], caplog: pytest.LogCaptureFixture
) -> None:
    base, source = synced
    caplog.set_level(logging.DEBUG)
    url = base + "/v1/admin/catalog/sync"
    shown = []
    for mode in ("http-500", "bad-json", "ok"):
        source.mode = mode
        answer = httpx.post(url, params={"wait": "true"}, headers=admin_headers(), timeout=120)
        assert answer.status_code == 200, answer.text
        shown.append(answer.text)
        status = httpx.get(url, headers=admin_headers(), timeout=30)
        shown.append(status.text)
    shown.append(httpx.get(base + "/metrics", timeout=30).text)
    failed = httpx.get(url, headers=admin_headers(), timeout=30).json()
    assert source.hits >= 3  # the source was really fetched, with its credentials
    assert failed["last_run"]["result"] in ("changed", "unchanged")
    error = failed["last_error"]  # still names the failing source, its host and path
    assert "openrouter" in error and "127.0.0.1" in error and "/api/v1/models" in error
    assert "api_key=<redacted>" in error and "format=json" in error
    logged = caplog.text
    assert "catalog sync failed" in logged and "127.0.0.1" in logged
    for secret_value in (PASSWORD, KEY, TOKEN):
        assert all(secret_value not in text for text in shown), secret_value
        assert secret_value not in logged, secret_value
