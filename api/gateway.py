"""The gateway: one call from request to exactly one billing record.

request → validate → (idempotency) → plan (model or route, credential, target) → forward to the
provider → extract usage → settle (price, one billing record) → the provider's answer, intact,
with headers naming the model, the cost, the record id and the gateway's own overhead.

The event loop only awaits I/O: planning and settlement touch DuckDB (catalog, vault, ledger)
and run in worker threads. A provider failure raises a problem before any record exists; a
stream that breaks before its usage arrives is reported in-band and not billed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import msgspec
from anyio import to_thread
from litestar import Response
from litestar.response import Stream

from byokvault.engine.ids import random_hex
from byokvault.engine.pricing.extract import Extracted, ExtractionError
from byokvault.engine.pricing.usage import UsageError

from .auth import Principal
from .idempotency import IdempotencyStore, StoredAnswer
from .problems import ApiProblem, invalid, to_problem
from .protocols import (
    ANSWER_ERRORS,
    RESPONSES_TERMINAL,
    MalformedAnswer,
    check_answer,
    extract_answer,
    extract_stream,
    upstream_of,
)
from .state import Resources
from .translate import TRANSLATED_BODY, client_answer
from .translate_stream import NATIVE_EVENTS, client_stream
from .upstream import SseEvent, Target, event_json, open_stream, post_json

HINTS_KEY = "byokvault"  # body extension for routing hints, stripped before forwarding
HEADER = "x-byokvault-"
# Named SSE events that end a stream (besides OpenAI chat's ``data: [DONE]``).
_TERMINAL_EVENTS = RESPONSES_TERMINAL | {"message_stop"}


@dataclass
class CallPlan:
    """Everything decided before the provider is called. ``target`` carries the credential."""

    call_id: str
    tenant_id: str
    endpoint: str
    provider_id: str
    model_id: str
    api_style: str
    target: Target
    credential_id: str | None
    fund_source: str
    routed: bool
    context: dict[str, Any] = field(default_factory=dict)  # engine-specific (quote, decision)
    # The vault's resolution of this call; its row must be committed before billing.
    resolution: Any = None


@dataclass(frozen=True)
class Settlement:
    record_id: str
    cost: Decimal  # what the tenant is charged for this call (USD, unrounded)
    currency: str = "USD"


@dataclass
class CallRequest:
    endpoint: str
    body: dict[str, Any]
    hints: dict[str, Any]
    stream: bool
    wants_usage_chunk: bool  # OpenAI: the client asked for stream_options.include_usage
    idempotency_key: str | None
    client_headers: dict[str, str]


def parse_call(endpoint: str, raw: bytes, headers: dict[str, str]) -> CallRequest:
    """The request body, checked enough to plan: every problem names its field."""
    try:
        body = msgspec.json.decode(raw) if raw else None
    except msgspec.DecodeError as exc:
        raise invalid("body", f"not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise invalid("model", "required: a model id, 'provider/model', or 'auto'")
    if endpoint in ("chat.completions", "messages"):
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise invalid("messages", "required: a non-empty list of messages")
        if not all(isinstance(m, dict) for m in messages):
            raise invalid("messages", "every message must be an object")
    if endpoint == "messages" and (
        not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1
    ):
        raise invalid("max_tokens", "required: a positive integer")
    if endpoint in ("embeddings", "responses"):
        value = body.get("input")
        if not (isinstance(value, str) and value) and not (isinstance(value, list) and value):
            raise invalid("input", "required: a string or a non-empty list")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise invalid("stream", "must be true or false")
    if endpoint == "embeddings" and stream:
        raise invalid("stream", "embeddings do not stream")
    hints = body.pop(HINTS_KEY, None) or {}
    if not isinstance(hints, dict):
        raise invalid(HINTS_KEY, "must be an object, e.g. {'capabilities': ['vision']}")
    if headers.get(HEADER + "capabilities"):
        words = [w.strip() for w in headers[HEADER + "capabilities"].split(",") if w.strip()]
        hints = {**hints, "capabilities": [*hints.get("capabilities", []), *words]}
    options = body.get("stream_options")
    wants_usage = isinstance(options, dict) and options.get("include_usage") is True
    return CallRequest(
        endpoint=endpoint,
        body=body,
        hints=hints,
        stream=stream,
        wants_usage_chunk=wants_usage,
        idempotency_key=headers.get("idempotency-key"),
        client_headers=headers,
    )


def forward_body(call: CallRequest, plan: CallPlan) -> bytes:
    """The body the provider gets (translated to its protocol if need be): its own model id;
    OpenAI streams always report usage."""
    body = dict(plan.context.get(TRANSLATED_BODY) or call.body)
    body["model"] = plan.model_id
    if call.stream and upstream_of(plan) == "chat.completions":
        options = dict(body.get("stream_options") or {})
        options["include_usage"] = True
        body["stream_options"] = options
    return msgspec.json.encode(body)


def read_answer(plan: CallPlan, content: bytes) -> tuple[Extracted, bytes]:
    """The provider's whole answer checked against its protocol, its usage extracted (billing
    reads the provider's native answer) and the bytes the client gets (translated if need be).
    Anything malformed is a ``provider_error`` raised before the call is billed."""
    upstream = upstream_of(plan)
    try:
        answer = check_answer(upstream, msgspec.json.decode(content))
        return extract_answer(upstream, answer), client_answer(plan, answer, content)
    except ANSWER_ERRORS as exc:
        raise malformed_answer(plan.provider_id, exc) from None


def malformed_answer(provider_id: str, exc: BaseException) -> ApiProblem:
    """A ``provider_error`` for an answer its protocol does not allow. The detail is built from
    our own words and field paths only: a provider's text is never echoed (it may hold a key)."""
    if isinstance(exc, msgspec.DecodeError):
        why = "invalid JSON"
    elif isinstance(exc, MalformedAnswer):
        why = str(exc)
    elif isinstance(exc, ExtractionError | UsageError):
        why = "no usage block of the expected shape"
    else:
        why = f"an answer that could not be read ({type(exc).__name__})"
    return ApiProblem(
        "provider_error",
        f"provider {provider_id} answered with a malformed body: {why}",
        provider_id=provider_id,
    )


class Gateway:
    """The call pipeline. ``planner`` and ``settler`` are the engine-facing steps (sync, run
    in worker threads); see ``api.engine``."""

    def __init__(self, resources: Resources, planner: Any, settler: Any) -> None:
        self.res = resources
        self.planner = planner
        self.settler = settler
        self.idempotency = IdempotencyStore()
        self._tasks: set[asyncio.Task[Any]] = set()

    def rebind(self, resources: Resources, planner: Any, settler: Any) -> Gateway:
        """This pipeline over another catalog version (api/catalog_sync.py): new planner and
        settler, the same idempotency answers and background tasks, so a retry after a swap
        still replays and a stream's pending settlement is not dropped."""
        other = Gateway(resources, planner, settler)
        other.idempotency, other._tasks = self.idempotency, self._tasks
        return other

    async def handle(self, endpoint: str, raw: bytes, headers: dict[str, str], who: Principal):
        started = time.perf_counter()
        if who.is_admin:
            raise ApiProblem("forbidden", "gateway calls need a tenant token, not the admin token")
        call = parse_call(endpoint, raw, headers)
        self.settler.check_ready()
        if not call.idempotency_key:
            response, _ = await self._run(call, who.tenant_id, started, None)
            return response
        fingerprint = IdempotencyStore.fingerprint(endpoint, raw)
        claim = self.idempotency.claim(who.tenant_id, call.idempotency_key, fingerprint)
        entry = await claim.__aenter__()
        try:
            if entry.answer is not None:
                self._count("idempotent_replays")
                return _replay(entry.answer)
            response, stream_done = await self._run(call, who.tenant_id, started, entry)
        except BaseException:
            await claim.__aexit__(None, None, None)
            raise
        if stream_done is not None:
            # The stream's producer stores the answer; the claim is held until it ends.
            self._release_after(stream_done, claim)
        else:
            await claim.__aexit__(None, None, None)
        return response

    def _release_after(self, done: asyncio.Future[None], claim: Any) -> None:
        async def release() -> None:
            try:
                await done
            finally:
                await claim.__aexit__(None, None, None)

        self._spawn(release())

    def _spawn(self, coro: Any) -> None:
        """Run a background task, keeping a reference so it is not garbage-collected."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self, call: CallRequest, tenant_id: str, started: float, entry: Any
    ) -> tuple[Response[Any] | Stream, asyncio.Future[None] | None]:
        call_id = "call_" + random_hex(32)
        plan: CallPlan = await to_thread.run_sync(self.planner.plan, tenant_id, call, call_id)
        self.res.metrics.observe(
            "byokvault_gateway_plan_seconds",
            "Planning per call (model, policy, credential), thread hop included",
            time.perf_counter() - started,
        )
        body = forward_body(call, plan)
        if call.stream:
            return await self._stream(call, plan, body, started, entry)
        sent = time.perf_counter()
        try:
            status, content = await post_json(self.res.http, plan.target, body)
        except ApiProblem as problem:
            await self._provider_failed(plan, problem)
            raise
        upstream_s = time.perf_counter() - sent
        try:
            extracted, relayed = read_answer(plan, content)  # before anything is billed
        except ApiProblem:
            self._count("provider_failures", provider=plan.provider_id)
            raise
        settled = time.perf_counter()
        settlement: Settlement = await self.settler.settle(plan, call, extracted)
        overhead_s = (time.perf_counter() - started) - upstream_s
        self._observe(plan, overhead_s, time.perf_counter() - settled)
        headers = _headers(plan, settlement, overhead_s)
        if entry is not None:
            entry.answer = StoredAnswer(status, headers, [relayed], "application/json", time.time())
        response = Response(
            relayed, status_code=status, media_type="application/json", headers=headers
        )
        return response, None

    async def _stream(
        self, call: CallRequest, plan: CallPlan, body: bytes, started: float, entry: Any
    ) -> tuple[Stream, asyncio.Future[None]]:
        sent = time.perf_counter()
        try:
            upstream = await open_stream(self.res.http, plan.target, body)
        except ApiProblem as problem:
            await self._provider_failed(plan, problem)
            raise
        overhead_s = sent - started
        upstream = client_stream(call, plan, upstream)
        relay = _StreamRelay(self, call, plan, upstream, entry, overhead_s)
        relay.start()
        headers = _headers(plan, None, overhead_s)
        stream = Stream(relay.client_chunks(), media_type="text/event-stream", headers=headers)
        return stream, relay.done

    async def _provider_failed(self, plan: CallPlan, problem: ApiProblem) -> None:
        """Count the failure, let the vault learn from a rejected key (a 401 on a real call
        revokes as surely as a probe), and name a rejected platform key for what it is."""
        self._count("provider_failures", provider=plan.provider_id)
        status = problem.extra.get("provider_status")
        # Only answers about the key itself: one 5xx or 429 must not take a key out of use.
        if plan.credential_id is not None and status in (401, 403):
            await to_thread.run_sync(
                self.res.vault.record_call_failure, plan.credential_id, status, plan.api_style
            )
        if problem.code == "byok_invalid" and plan.fund_source != "byok":
            # The platform's own key was refused: the tenant's request is not at fault.
            problem.code, problem.title = "provider_error", "The provider failed"

    def _observe(self, plan: CallPlan, overhead_s: float, settle_s: float) -> None:
        metrics = self.res.metrics
        metrics.observe(
            "byokvault_gateway_overhead_seconds",
            "Gateway time per call excluding the provider's",
            overhead_s,
            provider=plan.provider_id,
        )
        metrics.observe(
            "byokvault_gateway_settle_seconds",
            "Time to price a call and write its billing record",
            settle_s,
        )
        metrics.inc(
            "byokvault_gateway_calls_total", "Gateway calls billed", provider=plan.provider_id
        )

    def _count(self, what: str, **labels: str) -> None:
        self.res.metrics.inc(f"byokvault_gateway_{what}_total", f"Gateway {what}", **labels)


class _StreamRelay:
    """Reads the provider's stream to its end in its own task, independent of the client (a
    client that hangs up does not stop the read, so the call is still settled); the client is
    fed from a queue. Settlement happens once, after the provider's last event."""

    def __init__(
        self,
        gateway: Gateway,
        call: CallRequest,
        plan: CallPlan,
        upstream: Any,
        entry: Any,
        overhead_s: float,
    ) -> None:
        self.gateway = gateway
        self.call = call
        self.plan = plan
        self.upstream = upstream
        self.entry = entry
        self.overhead_s = overhead_s
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.events: list[dict[str, Any]] = []
        self.sent: list[bytes] = []
        self.held: list[bytes] = []

    def start(self) -> None:
        self.gateway._spawn(self._produce())

    async def _produce(self) -> None:
        try:
            failure = await self._read_upstream()
            if failure is None:
                await self._settle()
            else:
                self._emit(self._error_event(failure))
        except Exception as exc:  # never end a stream silently: say so in-band
            self._emit(self._error_event(to_problem(exc)))
        finally:
            self.queue.put_nowait(None)
            if not self.done.done():
                self.done.set_result(None)

    async def _read_upstream(self) -> ApiProblem | None:
        try:
            async for event in self.upstream.events():
                doc = event_json(event)
                if doc is not None:
                    self.events.append(doc)
                if event.data == "[DONE]" or event.event in _TERMINAL_EVENTS:
                    # Held back until the call is billed: a client that has seen the end of
                    # the stream can rely on its billing record existing.
                    self.held.append(event.raw)
                elif not self._hidden(event, doc):
                    self._emit(event.raw)
        except httpx.HTTPError:
            self.gateway._count("unbilled_broken_streams", provider=self.plan.provider_id)
            return ApiProblem(
                "provider_error", f"provider {self.plan.provider_id} broke off the stream"
            )
        except ANSWER_ERRORS as exc:  # an event its protocol does not allow, or untranslatable
            self.gateway._count("unbilled_broken_streams", provider=self.plan.provider_id)
            return malformed_answer(self.plan.provider_id, exc)
        finally:
            await self.upstream.close()
        return None

    def _hidden(self, event: SseEvent, doc: dict[str, Any] | None) -> bool:
        """The usage-only chunk the gateway asked for on the client's behalf is not relayed."""
        if self.call.wants_usage_chunk or self.plan.api_style == "anthropic" or doc is None:
            return False
        return doc.get("choices") == [] and doc.get("usage") is not None

    async def _settle(self) -> None:
        started = time.perf_counter()
        # A translated stream is billed from the provider's own events, not the client's.
        events = self.plan.context.get(NATIVE_EVENTS, self.events)
        try:
            extracted = extract_stream(upstream_of(self.plan), events)
        except ANSWER_ERRORS as exc:
            self.gateway._count("unbilled_broken_streams", provider=self.plan.provider_id)
            self._emit(self._error_event(malformed_answer(self.plan.provider_id, exc)))
            return
        try:
            settlement: Settlement = await self.gateway.settler.settle(
                self.plan, self.call, extracted
            )
        except Exception as exc:  # reported in-band: the headers are long gone
            self._emit(self._error_event(to_problem(exc)))
            return
        settle_s = time.perf_counter() - started
        self.gateway._observe(self.plan, self.overhead_s + settle_s, settle_s)
        trailer = (
            f": byokvault record={settlement.record_id} cost={settlement.cost} "
            f"currency={settlement.currency} model={self.plan.provider_id}/{self.plan.model_id}\n\n"
        )
        self._emit(trailer.encode())
        for chunk in self.held:
            self._emit(chunk)
        if self.entry is not None:
            headers = _headers(self.plan, settlement, self.overhead_s)
            self.entry.answer = StoredAnswer(
                200, headers, list(self.sent), "text/event-stream", time.time()
            )

    def _emit(self, chunk: bytes) -> None:
        self.sent.append(chunk)
        self.queue.put_nowait(chunk)

    def _error_event(self, problem: ApiProblem) -> bytes:
        body = problem.body()
        if self.call.endpoint == "messages":  # the client's protocol, whoever the provider is
            error = {"type": "error", "error": {"type": "api_error", "message": problem.detail}}
            return b"event: error\ndata: " + msgspec.json.encode(error) + b"\n\n"
        error = {"error": {"message": problem.detail, "type": body["code"], "code": body["code"]}}
        return b"data: " + msgspec.json.encode(error) + b"\n\n"

    async def client_chunks(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self.queue.get()
            if chunk is None:
                return
            yield chunk


def _headers(plan: CallPlan, settlement: Settlement | None, overhead_s: float) -> dict[str, str]:
    headers = {
        HEADER + "model": f"{plan.provider_id}/{plan.model_id}",
        HEADER + "call-id": plan.call_id,
        HEADER + "fund-source": plan.fund_source,
        HEADER + "overhead-ms": f"{overhead_s * 1000:.3f}",
    }
    if upstream_of(plan) != plan.endpoint:
        headers[HEADER + "translated"] = f"{plan.endpoint}->{upstream_of(plan)}"
    if settlement is not None:
        headers[HEADER + "record-id"] = settlement.record_id
        headers[HEADER + "cost"] = str(settlement.cost)
        headers[HEADER + "currency"] = settlement.currency
    return headers


def _replay(answer: StoredAnswer) -> Response[Any]:
    headers = {**answer.headers, HEADER + "idempotent-replay": "true"}
    if answer.media_type == "text/event-stream":

        async def chunks() -> AsyncIterator[bytes]:
            for chunk in answer.chunks:
                yield chunk

        return Stream(chunks(), media_type=answer.media_type, headers=headers)
    return Response(
        b"".join(answer.chunks),
        status_code=answer.status,
        media_type=answer.media_type,
        headers=headers,
    )
