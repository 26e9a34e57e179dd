"""API benchmark: quote latency under a fixed request rate, and the gateway's overhead.

Three processes on loopback: ``byokvault serve`` (uvicorn, one worker; uvloop and httptools
when installed), the fake provider (``python -m byokvault.engine.fakeprovider``), and this one,
the load generator: a small HTTP/1.1 client on raw asyncio streams over a pool of keep-alive
connections (httpx costs more CPU per request than the server under test, and every process
shares the same 2 cores).

1. ``POST /v1/quote``, open loop: requests are due at a fixed rate (default 1,000/s) whether or
   not answers came back; latency counts from when a request was DUE, so a server (or client)
   falling behind shows up in the tail (no coordinated omission). Reports the achieved rate,
   p50/p99 and errors; then closed loop with 16 in flight for the peak rate.
2. Gateway overhead: the same chat completion sent directly to the fake provider and through
   the gateway, one at a time, interleaved, on the same client → p50/p95 of each and of the
   difference; the gateway's own ``x-byokvault-overhead-ms``; and where the server's time goes
   (planning incl. the audited key access, settlement incl. the ledger commit) from /metrics.

    .venv/bin/python bench/api.py [--quick] [--rate 1000] [--seconds 5] [--calls 400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PROVIDER_KEY = "sk-bench-provider-key-0001"


# ---- a minimal keep-alive HTTP/1.1 client ------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, head: bytes, body: bytes) -> Answer:
        self.writer.write(head + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        return Answer(status, headers, await self.reader.readexactly(length))


@dataclass
class Endpoint:
    """One URL's request head, prebuilt: sending costs a write and a parse of the answer."""

    host: str
    port: int
    head: bytes
    body: bytes
    idle: list[Connection] = field(default_factory=list)

    @classmethod
    def post(cls, url: str, body: bytes, headers: dict[str, str]) -> Endpoint:
        parsed = httpx.URL(url)
        lines = [f"POST {parsed.raw_path.decode()} HTTP/1.1", f"host: {parsed.host}:{parsed.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines += ["content-type: application/json", f"content-length: {len(body)}", "", ""]
        return cls(parsed.host, parsed.port or 80, "\r\n".join(lines).encode(), body)

    async def send(self) -> Answer:
        conn = self.idle.pop() if self.idle else await self._connect()
        answer = await conn.request(self.head, self.body)
        if answer.headers.get("connection", "").lower() == "close":
            conn.writer.close()
        else:
            self.idle.append(conn)
        return answer

    async def _connect(self) -> Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return Connection(reader, writer)

    def close(self) -> None:
        for conn in self.idle:
            conn.writer.close()
        self.idle.clear()


# ---- load shapes --------------------------------------------------------------------------


async def open_loop(endpoint: Endpoint, rate: float, seconds: float) -> dict:
    """Requests due every 1/rate s for ``seconds``; latency from when each was due."""
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05
    tasks: list[asyncio.Task[None]] = []
    worst_start_lag = 0.0

    async def one(due: float) -> None:
        nonlocal errors
        try:
            answer = await endpoint.send()
            ok = answer.status == 200
        except (OSError, asyncio.IncompleteReadError, ValueError):
            ok = False
        errors += not ok
        latencies.append(time.perf_counter() - due)

    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        worst_start_lag = max(worst_start_lag, time.perf_counter() - due)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    return {
        "sent": total,
        "errors": errors,
        "rate": total / elapsed,
        "lat": latencies,
        "start_lag": worst_start_lag,
    }


async def closed_loop(endpoint: Endpoint, concurrency: int, seconds: float) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await endpoint.send()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def histogram_mean(metrics: str, name: str, labels: str = "") -> tuple[float, float]:
    """(mean seconds, count) of one series of a Prometheus histogram in ``metrics``."""
    values: dict[str, float] = {}
    for line in metrics.splitlines():
        for kind in ("sum", "count"):
            prefix = f"{name}_{kind}{labels} "
            if line.startswith(prefix):
                values[kind] = float(line[len(prefix) :])
    count = values.get("count", 0.0)
    return (values.get("sum", 0.0) / count if count else float("nan")), count


# ---- processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller run (CI smoke)")
    parser.add_argument("--rate", type=float, default=1000.0, help="quote requests per second")
    parser.add_argument("--seconds", type=float, default=5.0, help="open-loop duration")
    parser.add_argument("--calls", type=int, default=400, help="gateway calls (and direct)")
    parser.add_argument("--only", choices=("quote", "gateway"), help="run one part only")
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        help="profile the server with py-spy during the measured part (collapsed stacks, all "
        "threads, idle included)",
    )
    args = parser.parse_args()
    if args.quick or os.environ.get("BENCH_QUICK"):
        args.seconds, args.calls = 2.0, 100

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
        args.server_pid = api.pid
        runner = _event_loop_runner()
        runner(run(base, fake_openai, tmp / "data", args))
    finally:
        for proc in (api, fake):
            proc.terminate()
            proc.wait(timeout=30)


def _event_loop_runner():
    try:
        import uvloop

        return uvloop.run
    except ImportError:
        return asyncio.run


def _setup(base: str, data: Path) -> dict[str, str]:
    """A bench tenant with its own OpenAI key; returns its auth header."""
    admin = (data / "admin_token").read_text().strip()
    with httpx.Client(base_url=base, timeout=60) as client:
        issued = client.post(
            "/v1/admin/tenants/bench/tokens", headers={"authorization": f"Bearer {admin}"}
        )
        auth = {"authorization": f"Bearer {issued.json()['token']}"}
        credential = {"provider_id": "openai", "label": "bench", "secret": PROVIDER_KEY}
        assert client.post("/v1/credentials", headers=auth, json=credential).is_success
    return auth


def _profiler(args: argparse.Namespace) -> subprocess.Popen | None:
    """py-spy recording the server (``--py-spy FILE``) until it is stopped."""
    if not args.py_spy:
        return None
    py_spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [str(py_spy), "record", "--pid", str(args.server_pid), "--output", args.py_spy,
         "--format", "raw", "--threads", "--idle", "--rate", "500", "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _stop(profiler: subprocess.Popen | None) -> None:
    if profiler is not None:
        profiler.send_signal(2)  # SIGINT: py-spy writes its output and exits
        profiler.wait(timeout=60)


async def run(base: str, fake_openai: str, data: Path, args: argparse.Namespace) -> None:
    auth = _setup(base, data)
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores; the load generator, the "
          "server and the fake provider share them with whatever else runs)")  # fmt: skip
    if args.only != "gateway":
        profiler = _profiler(args) if args.only == "quote" else None
        await quote_part(base, auth, args)
        _stop(profiler)
    if args.only != "quote":
        profiler = _profiler(args)
        await gateway_part(base, fake_openai, auth, args)
        _stop(profiler)
    await server_side(base, auth)


async def quote_part(base: str, auth: dict[str, str], args: argparse.Namespace) -> None:
    quote_body = json.dumps(
        {"model": "openai/gpt-4o-mini", "usage": {"input_tokens": 1200, "output_tokens": 300}}
    ).encode()
    quote = Endpoint.post(base + "/v1/quote", quote_body, auth)
    first = await quote.send()
    assert first.status == 200, first.body[:300]
    await closed_loop(quote, 8, 1.0)  # warm up
    loaded = await open_loop(quote, args.rate, args.seconds)
    lat = [x * 1000 for x in loaded["lat"]]
    print(f"quote, open loop at {args.rate:.0f}/s for {args.seconds:.1f}s over loopback: "
          f"achieved {loaded['rate']:.0f}/s, errors {loaded['errors']}/{loaded['sent']}, "
          f"p50 {pct(lat, 50):.2f} ms, p99 {pct(lat, 99):.2f} ms, max {max(lat):.2f} ms "
          f"(generator's worst start lag {loaded['start_lag'] * 1000:.2f} ms); "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    peak = await closed_loop(quote, 16, min(args.seconds, 3.0))
    print(f"quote, closed loop 16 in flight: {peak:.0f} requests/s")
    quote.close()


async def gateway_part(
    base: str, fake_openai: str, auth: dict[str, str], args: argparse.Namespace
) -> None:
    chat = json.dumps(
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "benchmark the gateway overhead please"}],
        }
    ).encode()
    direct = Endpoint.post(
        fake_openai + "/chat/completions", chat, {"authorization": f"Bearer {PROVIDER_KEY}"}
    )
    via = Endpoint.post(base + "/v1/chat/completions", chat, auth)
    straight, through, reported = [], [], []
    for i in range(20 + args.calls):  # the first 20 warm both paths up
        t0 = time.perf_counter()
        answer = await direct.send()
        t1 = time.perf_counter()
        assert answer.status == 200, answer.body[:300]
        answer = await via.send()
        t2 = time.perf_counter()
        assert answer.status == 200, answer.body[:300]
        if i >= 20:
            straight.append((t1 - t0) * 1000)
            through.append((t2 - t1) * 1000)
            reported.append(float(answer.headers["x-byokvault-overhead-ms"]))
    diff = [v - s for v, s in zip(through, straight, strict=True)]
    print(f"chat completion direct to the fake provider: p50 {pct(straight, 50):.2f} ms, "
          f"p95 {pct(straight, 95):.2f} ms")  # fmt: skip
    print(f"chat completion through the gateway (route, audited key access, forward, price, "
          f"one billing record): p50 {pct(through, 50):.2f} ms, "
          f"p95 {pct(through, 95):.2f} ms")  # fmt: skip
    print(f"gateway overhead (through minus direct, same run): p50 {pct(diff, 50):.2f} ms, "
          f"p95 {pct(diff, 95):.2f} ms; self-reported x-byokvault-overhead-ms p50 "
          f"{pct(reported, 50):.2f}, p95 {pct(reported, 95):.2f} ms ({args.calls} calls each); "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    direct.close()
    via.close()


async def server_side(base: str, auth: dict[str, str]) -> None:
    with httpx.Client(base_url=base, timeout=60) as client:
        metrics = client.get("/metrics").text
        usage = client.get("/v1/usage", headers=auth).json()
    for what, name, labels in (
        ("quote request (in the app)", "http_request", '{route="/v1/quote"}'),
        ("gateway: planning (route, credential, audited access)", "gateway_plan", ""),
        (
            "gateway: credential resolution incl. the access event's synced write",
            "gateway_resolve",
            "",
        ),
        ("gateway: settlement (price, ledger commit)", "gateway_settle", ""),
        ("gateway: ledger commit waited for", "gateway_ledger_wait", ""),
    ):
        mean, count = histogram_mean(metrics, f"byokvault_{name}_seconds", labels)
        print(f"server side, {what}: mean {mean * 1000:.2f} ms over {count:.0f}")
    for generation in "012":
        labels = f'{{generation="{generation}"}}'
        mean, count = histogram_mean(metrics, "byokvault_gc_pause_seconds", labels)
        print(f"server side, GC generation {generation} pauses: {count:.0f}, mean "
              f"{mean * 1000:.3f} ms, total {mean * count * 1000:.1f} ms")  # fmt: skip
    records = usage["totals"][0]["records"] if usage["totals"] else 0
    print(f"billing records written for the bench tenant: {records}")


if __name__ == "__main__":
    main()
