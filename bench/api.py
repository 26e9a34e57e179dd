"""API benchmark: quote throughput and latency, and the gateway's overhead over a direct call.

Real processes over loopback: ``byokvault serve`` (uvicorn, one worker) and the fake provider
(``python -m byokvault.engine.fakeprovider``) each in their own process; this process is the
load generator (httpx, asyncio).

1. ``POST /v1/quote``: open-loop load at a fixed rate (default 1,000 requests/s) for a few
   seconds → achieved rate and latency p50/p99; then closed-loop with 16 in flight → max rate.
2. Gateway overhead: the same chat completion sent directly to the fake provider and through
   the gateway, one at a time, interleaved → p50/p95 of each and of the difference; plus the
   gateway's own ``x-byokvault-overhead-ms`` header (time not spent waiting for the provider).

    .venv/bin/python bench/api.py [--quick] [--rate 1000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PROVIDER_KEY = "sk-bench-provider-key-0001"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def open_loop(client: httpx.AsyncClient, send, rate: float, seconds: float) -> dict:
    """Fire at a fixed rate regardless of answers (no coordinated omission)."""
    latencies: list[float] = []
    errors = 0
    interval = 1 / rate
    start = time.perf_counter()
    tasks = []

    async def one(scheduled: float) -> None:
        nonlocal errors
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        response = await send(client)
        if response.status_code != 200:
            errors += 1
        latencies.append(time.perf_counter() - scheduled)  # from when it was due

    total = int(rate * seconds)
    tasks = [asyncio.create_task(one(start + i * interval)) for i in range(total)]
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    return {"sent": total, "errors": errors, "rate": total / elapsed, "lat": latencies}


async def closed_loop(client: httpx.AsyncClient, send, concurrency: int, seconds: float) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await send(client)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


def server_time(metrics: str, route: str) -> tuple[float, float]:
    """(sum seconds, count) of the app's own request-latency histogram for one route."""
    values = {}
    for line in metrics.splitlines():
        for kind in ("sum", "count"):
            prefix = f'byokvault_http_request_seconds_{kind}{{route="{route}"}} '
            if line.startswith(prefix):
                values[kind] = float(line[len(prefix) :])
    return values.get("sum", 0.0), values.get("count", 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller run (CI smoke)")
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--calls", type=int, default=400, help="gateway calls (and direct)")
    args = parser.parse_args()
    if args.quick or os.environ.get("BENCH_QUICK"):
        args.seconds, args.calls, args.rate = 1.5, 100, min(args.rate, 500)

    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    fake_port, api_port = free_port(), free_port()
    env = {**os.environ, "BYOKVAULT_DATA": str(tmp / "data")}
    fake = subprocess.Popen(
        [sys.executable, "-m", "byokvault.engine.fakeprovider", "--port", str(fake_port),
         "--key", PROVIDER_KEY],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    fake_openai = f"http://127.0.0.1:{fake_port}/openai/v1"
    api = subprocess.Popen(
        [sys.executable, "-m", "byokvault.engine.cli", "serve", "--port", str(api_port),
         "--provider-url", f"openai={fake_openai}", "--log-level", "warning"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{api_port}"
    try:
        wait_up(f"http://127.0.0.1:{fake_port}/ollama/api/tags", fake)
        wait_up(base + "/healthz", api)
        asyncio.run(run(base, fake_openai, tmp / "data", args))
    finally:
        for proc in (api, fake):
            proc.terminate()
            proc.wait(timeout=20)


async def run(base: str, fake_openai: str, data: Path, args: argparse.Namespace) -> None:
    admin = (data / "admin_token").read_text().strip()
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        issued = await client.post(
            "/v1/admin/tenants/bench/tokens", headers={"authorization": f"Bearer {admin}"}
        )
        token = issued.json()["token"]
        auth = {"authorization": f"Bearer {token}"}
        credential = {"provider_id": "openai", "label": "bench", "secret": PROVIDER_KEY}
        assert (await client.post("/v1/credentials", headers=auth, json=credential)).is_success
        quote_body = json.dumps(
            {"model": "openai/gpt-4o-mini", "usage": {"input_tokens": 1200, "output_tokens": 300}}
        ).encode()
        headers = {**auth, "content-type": "application/json"}

        async def send_quote(c: httpx.AsyncClient) -> httpx.Response:
            return await c.post("/v1/quote", content=quote_body, headers=headers)

        first = await send_quote(client)
        assert first.status_code == 200, first.text
        await closed_loop(client, send_quote, 8, 1.0)  # warm up
        loaded = await open_loop(client, send_quote, args.rate, args.seconds)
        lat = [x * 1000 for x in loaded["lat"]]
        print(f"quote, open loop at {args.rate:.0f}/s for {args.seconds:.1f}s "
              f"(uvicorn, 1 worker, loopback): achieved {loaded['rate']:.0f}/s, "
              f"errors {loaded['errors']}, p50 {pct(lat, 50):.2f} ms, "
              f"p99 {pct(lat, 99):.2f} ms")  # fmt: skip
        peak = await closed_loop(client, send_quote, 16, args.seconds)
        print(f"quote, closed loop 16 in flight: {peak:.0f} requests/s")

        chat = {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "benchmark the gateway overhead please"}],
        }
        chat_bytes = json.dumps(chat).encode()
        direct_headers = {
            "authorization": f"Bearer {PROVIDER_KEY}",
            "content-type": "application/json",
        }
        async with httpx.AsyncClient(timeout=30) as direct:
            via, straight, reported = [], [], []
            for _ in range(20):  # warm up both paths
                await direct.post(fake_openai + "/chat/completions", content=chat_bytes,
                                  headers=direct_headers)  # fmt: skip
                await client.post("/v1/chat/completions", content=chat_bytes, headers=headers)
            for _ in range(args.calls):
                t0 = time.perf_counter()
                r = await direct.post(fake_openai + "/chat/completions", content=chat_bytes,
                                      headers=direct_headers)  # fmt: skip
                straight.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200
                t0 = time.perf_counter()
                r = await client.post("/v1/chat/completions", content=chat_bytes, headers=headers)
                via.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, r.text
                reported.append(float(r.headers["x-byokvault-overhead-ms"]))
        diff = [v - s for v, s in zip(via, straight, strict=True)]
        print(f"chat completion direct to the fake provider: p50 {pct(straight, 50):.2f} ms, "
              f"p95 {pct(straight, 95):.2f} ms")  # fmt: skip
        print(f"chat completion through the gateway (route, credential, forward, price, one "
              f"billing record): p50 {pct(via, 50):.2f} ms, p95 {pct(via, 95):.2f} ms")  # fmt: skip
        print(f"gateway overhead (through minus direct): p50 {pct(diff, 50):.2f} ms, "
              f"p95 {pct(diff, 95):.2f} ms; self-reported x-byokvault-overhead-ms p50 "
              f"{statistics.median(reported):.2f}, p95 {pct(reported, 95):.2f} ms "
              f"({args.calls} calls each)")  # fmt: skip
        metrics = (await client.get("/metrics")).text
        for route in ("/v1/quote", "/v1/chat/completions"):
            total, count = server_time(metrics, route)
            print(f"server-side time per request on {route} (inside the app, from /metrics): "
                  f"mean {total / count * 1000:.2f} ms over {count:.0f} requests")  # fmt: skip
        usage = (await client.get("/v1/usage", headers=auth)).json()
        print(f"billing records written for the bench tenant: {usage['totals'][0]['records']}")


if __name__ == "__main__":
    main()
