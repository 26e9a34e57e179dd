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
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
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
