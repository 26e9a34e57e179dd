"""The server's HTTP protocol (api/serving.py) over real loopback: a small response leaves in one
write, bodies and streams arrive intact and in order, keep-alive connections carry many
responses, and a stream's chunk is not held back until the stream ends."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from byokvault.api import serving

CHUNKS = [b"data: %d\n\n" % i for i in range(5)]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"text/plain")]
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for chunk in CHUNKS:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await asyncio.sleep(0.2)
        await send({"type": "http.response.body", "body": b""})
        return
    body = scope["path"].encode() * 10
    headers.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, http=serving.GatheringHttpToolsProtocol, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)


def test_a_small_response_leaves_in_one_write(base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[int] = []
    flush = serving._GatheringTransport._flush

    def counting(self: serving._GatheringTransport) -> None:
        if self._pending:  # close() flushes too, usually nothing
            sent.append(len(self._pending))
        flush(self)

    monkeypatch.setattr(serving._GatheringTransport, "_flush", counting)
    with httpx.Client(base_url=base) as client:
        for n in range(20):  # one keep-alive connection
            answer = client.get(f"/r{n}")
            assert answer.status_code == 200 and answer.content == f"/r{n}".encode() * 10
    assert sent == [2] * 20  # head and body gathered: one write to the socket per response


def test_a_stream_arrives_whole_and_each_chunk_on_time(base: str) -> None:
    arrivals = []
    started = time.monotonic()
    with httpx.stream("GET", base + "/stream") as response:
        for chunk in response.iter_raw():
            arrivals.append((time.monotonic() - started, chunk))
    assert b"".join(chunk for _, chunk in arrivals) == b"".join(CHUNKS)
    # The first chunk came long before the stream ended (~1 s): nothing waits for the end.
    assert arrivals[0][0] < 0.6 and arrivals[-1][0] > 0.8
