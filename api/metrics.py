"""A small Prometheus text-format registry: counters and latency histograms, thread-safe.

Enough for ``/metrics`` without a dependency; names and labels follow Prometheus conventions.
"""

from __future__ import annotations

import bisect
import gc
import threading
import time
from collections import defaultdict
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

# Seconds; fine at the low end where the gateway's own overhead lives.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Labels = tuple[tuple[str, str], ...]


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self._hist: dict[str, dict[Labels, list[float]]] = defaultdict(dict)
        self._help: dict[str, tuple[str, str]] = {}

    def inc(self, name: str, help_text: str, value: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._help.setdefault(name, ("counter", help_text))
            self._counters[name][key] += value

    def observe(self, name: str, help_text: str, seconds: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._help.setdefault(name, ("histogram", help_text))
            # bucket counts..., +Inf count, sum
            series = self._hist[name].setdefault(key, [0.0] * (len(BUCKETS) + 2))
            series[bisect.bisect_left(BUCKETS, seconds)] += 1
            series[-1] += seconds

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, (kind, help_text) in sorted(self._help.items()):
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
                if kind == "counter":
                    for labels, value in sorted(self._counters[name].items()):
                        lines.append(f"{name}{_fmt(labels)} {value:g}")
                    continue
                for labels, series in sorted(self._hist[name].items()):
                    cumulative = 0.0
                    for bound, count in zip((*BUCKETS, float("inf")), series[:-1], strict=True):
                        cumulative += count
                        le = "+Inf" if bound == float("inf") else f"{bound:g}"
                        lines.append(f"{name}_bucket{_fmt((*labels, ('le', le)))} {cumulative:g}")
                    lines.append(f"{name}_sum{_fmt(labels)} {series[-1]:.6f}")
                    lines.append(f"{name}_count{_fmt(labels)} {cumulative:g}")
        return "\n".join(lines) + "\n"


def gauge(name: str, help_text: str, values: dict[str, float], label: str) -> str:
    """One gauge family in text format, a series per ``label`` value (computed when scraped,
    so it is never stale)."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    lines += [f"{name}{_fmt(((label, key),))} {value:g}" for key, value in sorted(values.items())]
    return "\n".join(lines) + "\n"


def _fmt(labels: Labels) -> str:
    if not labels:
        return ""
    escaped = (f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
               for k, v in labels)  # fmt: skip
    return "{" + ",".join(escaped) + "}"


class MetricsMiddleware:
    """Counts requests and times them per route template (not per raw path: bounded labels)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def record_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = _route_label(scope)
            self.metrics.inc(
                "byokvault_http_requests_total",
                "HTTP requests by route and status",
                route=route,
                method=scope["method"],
                status=str(status["code"]),
            )
            self.metrics.observe(
                "byokvault_http_request_seconds",
                "HTTP request latency by route",
                time.perf_counter() - started,
                route=route,
            )


def _route_label(scope: Any) -> str:
    return str(scope.get("path_template") or "unmatched")


class GcWatch:
    """Times the cyclic garbage collector's pauses (``byokvault_gc_pause_seconds`` by
    generation): a full collection over a large heap stops every request for its duration."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        self.metrics.observe(
            "byokvault_gc_pause_seconds",
            "Cyclic garbage collector pauses by generation",
            time.perf_counter() - self._started,
            generation=str(info["generation"]),
        )

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)


def settle_heap() -> None:
    """Collect once, then freeze what is alive (the catalog version just loaded, the engine's
    caches): the collector stops scanning that large, long-lived object graph on every full
    collection, which otherwise pauses every request for milliseconds. Unfreezing first lets a
    replaced catalog version frozen by an earlier call be collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
