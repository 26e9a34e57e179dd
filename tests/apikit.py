"""Shared helpers for the API tests: an app on a tmp data dir, tokens, a loopback server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from litestar import Litestar

from byokvault.api.app import create_app
from byokvault.api.serving import GatheringHttpToolsProtocol
from byokvault.api.settings import Settings

ADMIN_TOKEN = "admin-test-token-0123456789"


def admin_headers() -> dict[str, str]:
    return {"authorization": f"Bearer {ADMIN_TOKEN}"}


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=data_dir, admin_token=ADMIN_TOKEN, **overrides)


def issue_token(client: Any, tenant_id: str) -> str:
    response = client.post(f"/v1/admin/tenants/{tenant_id}/tokens", headers=admin_headers())
    assert response.status_code == 201, response.text
    return response.json()["token"]


@contextmanager
def serve(app: Litestar) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (ephemeral port) in a thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, http=GatheringHttpToolsProtocol
    )  # the protocol ``byokvault serve`` runs
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120  # startup loads the catalog: ~15-30 s on a loaded 2-core box
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("API server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def app_for(data_dir: Path, **overrides: Any) -> Litestar:
    return create_app(make_settings(data_dir, **overrides))


# Extra providers for gateway tests: an Anthropic-style provider with cache prices, an
# embeddings model behind an OpenAI-compatible provider.
_PROV = "provenance: {source: test, recorded_at: 2024-01-01T00:00:00Z}"


def _price(dimension: str, amount: str) -> str:
    return (
        f"      - {{dimension: {dimension}, amount: {amount}, "
        f"effective_from: 2024-01-01T00:00:00Z, {_PROV}}}\n"
    )


TEST_PROVIDERS = {
    "anthropic.yaml": f"""\
id: anthropic
name: Anthropic
kind: cloud
api_style: anthropic
base_url: https://api.anthropic.com/v1
auth: {{scheme: x-api-key}}
models:
  - id: claude-haiku-4-5
    name: Claude Haiku 4.5
    mode: chat
    modalities: {{input: [text, image], output: [text]}}
    capabilities: [text.chat]
    limits: {{context_window: 200000, max_output_tokens: 64000}}
    prices:
{_price("input_tokens", "1")}{_price("output_tokens", "5")}{_price("cache_read_tokens", "0.1")}\
{_price("cache_write_tokens", "1.25")}{_price("cache_write_1h_tokens", "2")}""",
    "embedco.yaml": f"""\
id: embedco
name: EmbedCo
kind: cloud
api_style: openai-compatible
base_url: https://api.embedco.test/v1
auth: {{scheme: bearer}}
models:
  - id: text-embedding-3-small
    name: Text Embedding 3 Small
    mode: embedding
    modalities: {{input: [text], output: [embedding]}}
    capabilities: [embeddings.text]
    prices:
{_price("embedding_tokens", "0.02")}""",
}


def catalog_with_test_providers(tmp: Path) -> Path:
    """The bundled catalog plus TEST_PROVIDERS, written under ``tmp``."""
    import shutil

    from byokvault.engine.paths import BUNDLED_CATALOG

    target = tmp / "catalog"
    shutil.copytree(BUNDLED_CATALOG, target)
    for name, text in TEST_PROVIDERS.items():
        (target / "providers" / name).write_text(text, encoding="utf-8")
    return target
