"""A local fake model provider speaking the real wire protocols, for tests and benchmarks.

``FakeProvider().start()`` serves a small raw-ASGI app with uvicorn on 127.0.0.1 (an ephemeral
port) in a background thread. It answers like OpenAI, Anthropic, Gemini and Ollama do — same
paths, auth headers, JSON shapes, SSE event sequences and usage blocks — so code that talks to
real providers (the gateway, credential health checks, usage extraction) is exercised over real
HTTP without touching the network.

Each protocol lives under its own prefix, which is what a catalog ``base_url`` points at::

    fake.base_url("openai")     -> http://127.0.0.1:PORT/openai/v1
    fake.base_url("anthropic")  -> http://127.0.0.1:PORT/anthropic/v1
    fake.base_url("google")     -> http://127.0.0.1:PORT/google/v1beta
    fake.base_url("ollama")     -> http://127.0.0.1:PORT/ollama

Keys: a request is authenticated when its key was registered with ``add_key`` (or when the
provider was built with ``accept_any_key=True``); an unknown key gets the provider's own
authentication error. Behaviours (``fail``) inject a status (401, 403, 429, 500, 529, ...), a
delay, a mid-stream disconnect, a fixed usage block or a raw (malformed) answer body, matched per
key and/or per path.

Usage is deterministic: one token per whitespace-separated word of each message (plus 3 per
message), one per word of the reply. Caching is modelled the way providers report it: OpenAI
reports the tokens of every message but the last as ``cached_tokens`` once the same prefix was
seen before; Anthropic writes (then reads) the prefix up to a ``cache_control`` block, with 5m and
1h TTLs reported apart. Reasoning models (ids starting with ``o`` or containing ``reason``/
``think``) report reasoning tokens — inside ``completion_tokens`` for OpenAI, as
``thoughtsTokenCount`` beside candidates for Gemini.

OpenAI's Responses API answers with a ``response`` object, or streams its typed events
(``response.created`` ... ``response.output_text.delta`` ... ``response.completed``, the last
carrying the usage); a reply cut by ``max_output_tokens`` ends ``incomplete``. Tools are called on
request: with ``tools`` given, a last user text ``use NAME rest`` calls tool NAME with
``{"query": "rest"}`` (chat ``tool_calls`` / Anthropic ``tool_use``, streamed as argument pieces).
Messages are checked as the real APIs check them (roles, content part types, each tool call
answered, each ``tool_result`` matching a ``tool_use``) and refused with a 400 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import socket
import struct
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import uvicorn

STYLES = ("openai", "anthropic", "google", "ollama")
_PREFIX = {"openai": "/v1", "anthropic": "/v1", "google": "/v1beta", "ollama": ""}

DEFAULT_MODELS: dict[str, list[str]] = {
    "openai": ["gpt-4o-mini", "gpt-4o", "o4-mini", "text-embedding-3-small"],
    "anthropic": ["claude-sonnet-4-5", "claude-haiku-4-5"],
    "google": ["gemini-2.5-flash", "gemini-2.5-pro"],
    "ollama": ["llama3.2:latest", "nomic-embed-text:latest"],
}

Json = dict[str, Any]
Send = Callable[[Json], Awaitable[None]]


@dataclass
class Behaviour:
    """An injected behaviour; ``None`` key/path/style match anything."""

    key: str | None = None
    path: str | None = None  # matched against the path after the style prefix, e.g. "/v1/messages"
    style: str | None = None
    status: int | None = None  # answer with this error status (provider-shaped body)
    delay: float = 0.0  # seconds to wait before answering
    break_after_chunks: int | None = None  # streaming: drop the connection after N chunks
    usage: Json | None = None  # replace the computed usage block (provider's own shape)
    body: bytes | None = None  # answer 200 with exactly these bytes (a malformed answer)
    content_type: str = "application/json"  # of ``body``; text/event-stream for a bad stream
    times: int | None = None  # apply this many times, then forget it (None: forever)

    def matches(self, style: str, path: str, key: str | None) -> bool:
        return (
            (self.key is None or self.key == key)
            and (self.path is None or self.path == path)
            and (self.style is None or self.style == style)
        )


@dataclass
class Recorded:
    """One request as the fake provider saw it."""

    style: str
    method: str
    path: str
    key: str | None
    headers: dict[str, str]
    body: Json | None


@dataclass
class _Request:
    style: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Json | None
    key: str | None = None
    behaviour: Behaviour | None = None


class FakeProvider:
    """The fake provider server. Use as a context manager or call ``start``/``stop``."""

    def __init__(
        self, *, accept_any_key: bool = False, models: dict[str, list[str]] | None = None
    ) -> None:
        self.accept_any_key = accept_any_key
        self.models = {style: list(ids) for style, ids in (models or DEFAULT_MODELS).items()}
        self.keys: set[str] = set()
        self.behaviours: list[Behaviour] = []
        self.requests: list[Recorded] = []
        self._seen_prefixes: set[str] = set()
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- control ---------------------------------------------------------------------------
    def add_key(self, key: str) -> str:
        self.keys.add(key)
        return key

    def fail(self, **kwargs: Any) -> Behaviour:
        """Inject a behaviour (see ``Behaviour``); the newest matching one wins."""
        behaviour = Behaviour(**kwargs)
        with self._lock:
            self.behaviours.insert(0, behaviour)
        return behaviour

    def reset(self) -> None:
        with self._lock:
            self.behaviours.clear()
            self.requests.clear()
            self._seen_prefixes.clear()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, style: str) -> str:
        """The base URL a catalog entry of this API style would hold."""
        return f"{self.url}/{style}{_PREFIX[style]}"

    def start(self) -> FakeProvider:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self, lifespan="off", log_level="warning", access_log=False, timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fakeprovider", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake provider did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- ASGI ------------------------------------------------------------------------------
    async def __call__(self, scope: Json, receive: Callable[[], Awaitable[Json]], send: Send):
        if scope["type"] != "http":
            return
        request = await _read_request(scope, receive)
        if request is None:
            await _send_json(send, 404, {"error": "unknown provider prefix"})
            return
        request.key = _request_key(request)
        with self._lock:
            self.requests.append(
                Recorded(
                    request.style,
                    request.method,
                    request.path,
                    request.key,
                    request.headers,
                    request.body,
                )
            )
            request.behaviour = self._take_behaviour(request)
        behaviour = request.behaviour
        if behaviour and behaviour.delay:
            await asyncio.sleep(behaviour.delay)
        if behaviour and behaviour.status:
            await _send_error(send, request.style, behaviour.status)
            return
        if request.style != "ollama" and not self._authorized(request.key):
            await _send_error(send, request.style, 0 if request.style == "google" else 401)
            return
        if behaviour and behaviour.body is not None:
            await _send_raw(send, behaviour.body, behaviour.content_type)
            return
        handler = _ROUTES.get((request.style, request.method, _route_path(request.path)))
        if handler is None:
            await _send_error(send, request.style, 404)
            return
        await handler(self, request, send)

    def _take_behaviour(self, request: _Request) -> Behaviour | None:
        for behaviour in self.behaviours:
            if behaviour.matches(request.style, request.path, request.key):
                if behaviour.times is not None:
                    behaviour.times -= 1
                    if behaviour.times <= 0:
                        self.behaviours.remove(behaviour)
                return behaviour
        return None

    def _authorized(self, key: str | None) -> bool:
        return bool(key) and (self.accept_any_key or key in self.keys)

    def _cached_prefix(self, prefix: str) -> bool:
        """True when this prompt prefix was seen before (then it is served from cache)."""
        digest = hashlib.sha256(prefix.encode()).hexdigest()
        with self._lock:
            seen = digest in self._seen_prefixes
            self._seen_prefixes.add(digest)
        return seen


# -- request parsing -----------------------------------------------------------------------
async def _read_request(scope: Json, receive: Callable[[], Awaitable[Json]]) -> _Request | None:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    raw = b"".join(chunks)
    style, _, rest = scope["path"].lstrip("/").partition("/")
    if style not in STYLES:
        return None
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = {"__invalid_json__": True}
    return _Request(
        style=style,
        method=scope["method"],
        path="/" + rest,
        query=parse_qs(scope.get("query_string", b"").decode()),
        headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
        body=body if isinstance(body, dict) else None,
    )


def _request_key(request: _Request) -> str | None:
    """The credential in the place each provider expects it."""
    headers = request.headers
    if request.style == "anthropic" and "x-api-key" in headers:
        # Anthropic takes x-api-key; its current SDKs send the key as a Bearer token instead.
        return headers["x-api-key"]
    if request.style == "google":
        return headers.get("x-goog-api-key") or (request.query.get("key") or [None])[0]
    auth = headers.get("authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else None


def _route_path(path: str) -> str:
    """Collapse path parameters so routes can be looked up in a table."""
    if path.startswith("/v1beta/models/") and ":" in path:
        return "/v1beta/models/{model}:" + path.rsplit(":", 1)[1]
    return path


# -- responses -----------------------------------------------------------------------------
async def _send_json(send: Send, status: int, body: Json, headers: dict[str, str] | None = None):
    payload = json.dumps(body).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(payload)),
    ]
    raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


async def _send_raw(send: Send, body: bytes, content_type: str) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_OPENAI_ERRORS = {
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: ("invalid_request_error", "not_found", "Unknown path or model."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
}
_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
}


async def _send_error(send: Send, style: str, status: int) -> None:
    """An error in the provider's own shape; status 0 is Gemini's invalid-key answer (a 400)."""
    headers = {"retry-after": "1"} if status == 429 else {}
    if style == "anthropic":
        kind = _ANTHROPIC_ERRORS.get(status, "api_error")
        body: Json = {"type": "error", "error": {"type": kind, "message": f"fake {kind}"}}
    elif style == "google":
        if status == 0:
            status, reason = 400, "API_KEY_INVALID"
            message = "API key not valid. Please pass a valid API key."
        else:
            reason, message = _GOOGLE_STATUS.get(status, "UNKNOWN"), "fake error"
        body = {
            "error": {
                "code": status,
                "message": message,
                "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
                "details": [{"reason": reason}],
            }
        }
    elif style == "ollama":
        body = {"error": f"fake error {status}"}
    else:
        kind, code, message = _OPENAI_ERRORS.get(status, ("server_error", None, "fake error"))
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    await _send_json(send, status, body, headers)


async def _send_sse(
    send: Send, events: list[tuple[str | None, Json | str]], behaviour: Behaviour | None
) -> None:
    """Stream ``events`` as server-sent events; ``break_after_chunks`` cuts the stream short."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
        }
    )
    limit = behaviour.break_after_chunks if behaviour else None
    for index, (event, data) in enumerate(events):
        if limit is not None and index >= limit:
            raise ConnectionAbortedError("fake provider: injected mid-stream failure")
        text = data if isinstance(data, str) else json.dumps(data)
        frame = (f"event: {event}\n" if event else "") + f"data: {text}\n\n"
        await send({"type": "http.response.body", "body": frame.encode(), "more_body": True})
    await send({"type": "http.response.body", "body": b""})


# -- token accounting ----------------------------------------------------------------------
def _words(value: Any) -> int:
    """Tokens of a message content: a string, or a list of text/image parts."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_words(part.get("text", "")) if isinstance(part, dict) else 0 for part in value)
    return 0


def _message_tokens(messages: list[Any]) -> list[int]:
    return [3 + _words(m.get("content")) if isinstance(m, dict) else 3 for m in (messages or [])]


def _reply_text(messages: list[Any], max_tokens: Any) -> str:
    last = next(
        (m.get("content") for m in reversed(messages or []) if isinstance(m, dict)), "hello"
    )
    words = ("Echo: " + _flatten(last)).split()
    if isinstance(max_tokens, int) and max_tokens > 0:
        words = words[:max_tokens]
    return " ".join(words) or "ok"


def _flatten(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(
            _flatten(p["content"]) if p.get("type") == "tool_result" else p.get("text", "")
            for p in content
            if isinstance(p, dict)
        )
    return str(content or "")


def _tool_call(body: Json, style: str) -> tuple[str, Json] | None:
    """Tools are called on request: a last user text ``use NAME rest`` calls tool NAME with
    ``{"query": "rest"}`` (deterministic, like the echo)."""
    choice = body.get("tool_choice")
    if not body.get("tools") or choice in ("none", {"type": "none"}):
        return None
    names = [
        (tool.get("function") or {}).get("name") if style == "openai" else tool.get("name")
        for tool in body["tools"]
        if isinstance(tool, dict)
    ]
    last = (body.get("messages") or [{}])[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        return None
    words = _flatten(last.get("content")).split()
    if len(words) >= 2 and words[0] == "use" and words[1] in names:
        return words[1], {"query": " ".join(words[2:])}
    return None


def _is_reasoning(model: str) -> bool:
    return model.startswith("o") or "reason" in model or "think" in model


def _new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


# -- OpenAI ----------------------------------------------------------------------------------
def _openai_usage(fake: FakeProvider, body: Json, reply: str) -> Json:
    messages = body.get("messages") or []
    per_message = _message_tokens(messages)
    prompt = sum(per_message)
    prefix = json.dumps([body.get("model"), messages[:-1]], sort_keys=True)
    cached = sum(per_message[:-1]) if len(messages) > 1 and fake._cached_prefix(prefix) else 0
    visible = len(reply.split())
    reasoning = 2 * visible if _is_reasoning(str(body.get("model", ""))) else 0
    completion = visible + reasoning  # OpenAI counts reasoning inside completion_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


_OPENAI_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
_OPENAI_PARTS = {"text", "image_url", "input_audio", "file", "refusal"}
_ANTHROPIC_BLOCKS = {"text", "image", "document", "tool_use", "tool_result", "thinking"}


def _openai_invalid_messages(messages: list[Any]) -> str | None:
    """What OpenAI would refuse in ``messages`` (the param path), as it checks: roles, part
    types, and every tool call answered by a tool message right after it."""
    pending: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in _OPENAI_ROLES:
            return f"messages[{i}].role"
        if pending and role != "tool":
            return f"messages[{i}]: tool_call_ids without a tool message"
        if role == "tool":
            if message.get("tool_call_id") not in pending:
                return f"messages[{i}].tool_call_id"
            pending.discard(message["tool_call_id"])
        content = message.get("content")
        if isinstance(content, list) and any(
            not isinstance(p, dict) or p.get("type") not in _OPENAI_PARTS for p in content
        ):
            return f"messages[{i}].content"
        for call in message.get("tool_calls") or []:
            pending.add(call.get("id"))
    return None


def _anthropic_invalid_messages(messages: list[Any]) -> str | None:
    """What Anthropic would refuse: roles, block types, a tool_result without its tool_use."""
    used: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        for block in blocks:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind not in _ANTHROPIC_BLOCKS:
                return f"messages.{i}.content: unknown block type {kind!r}"
            if kind == "tool_use":
                used.add(block.get("id"))
            if kind == "tool_result" and block.get("tool_use_id") not in used:
                return f"messages.{i}.content: tool_result without a matching tool_use"
    return None


def _check_chat_body(body: Json | None) -> str | None:
    """The name of the first missing or malformed required field, if any."""
    if body is None:
        return "body"
    if not isinstance(body.get("model"), str):
        return "model"
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return "messages"
    return None


async def _openai_bad_request(send: Send, field_name: str) -> None:
    error = {
        "message": f"Missing or invalid required parameter: '{field_name}'.",
        "type": "invalid_request_error",
        "param": field_name,
        "code": None,
    }
    await _send_json(send, 400, {"error": error})


async def _openai_models(fake: FakeProvider, request: _Request, send: Send) -> None:
    data = [
        {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": request.style}
        for model in fake.models.get(request.style, [])
    ]
    await _send_json(send, 200, {"object": "list", "data": data})


async def _openai_chat(fake: FakeProvider, request: _Request, send: Send) -> None:
    body = request.body
    missing = _check_chat_body(body)
    if missing:
        await _openai_bad_request(send, missing)
        return
    assert body is not None
    problem = _openai_invalid_messages(body["messages"])
    if problem:
        await _openai_bad_request(send, problem)
        return
    reply = _reply_text(body["messages"], body.get("max_completion_tokens", body.get("max_tokens")))
    called = _tool_call(body, "openai")
    tool_calls = None
    if called:
        arguments = json.dumps(called[1])
        function = {"name": called[0], "arguments": arguments}
        tool_calls = [{"id": _new_id("call_"), "type": "function", "function": function}]
        reply = ""
    usage = (request.behaviour and request.behaviour.usage) or _openai_usage(fake, body, reply)
    if called:  # the call's arguments are output tokens too
        usage = {**usage, "completion_tokens": usage["completion_tokens"] + len(called[1]) + 1}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    finish = "tool_calls" if called else "stop"
    base = {"id": _new_id("chatcmpl-"), "created": int(time.time()), "model": body["model"]}
    headers = {"x-request-id": _new_id("req_"), "openai-processing-ms": "1"}
    if not body.get("stream"):
        message = {"role": "assistant", "content": reply or None, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        payload = {
            **base,
            "object": "chat.completion",
            "choices": [choice],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        await _send_json(send, 200, payload, headers)
        return
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    chunk = {**base, "object": "chat.completion.chunk", "system_fingerprint": "fp_fake"}
    extra = {"usage": None} if include_usage else {}

    def frame(delta: Json, finish: str | None) -> tuple[None, Json]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return None, {**chunk, "choices": [choice], **extra}

    events = [frame({"role": "assistant", "content": "", "refusal": None}, None)]
    if tool_calls:
        (call,) = tool_calls
        arguments = call["function"]["arguments"]
        first = {
            **call,
            "index": 0,
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        events.append(frame({"tool_calls": [first]}, None))
        for piece in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]):
            events.append(
                frame({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, None)
            )
    else:
        words = reply.split(" ")
        events += [frame({"content": (" " if i else "") + w}, None) for i, w in enumerate(words)]
    events.append(frame({}, finish))
    if include_usage:
        events.append((None, {**chunk, "choices": [], "usage": usage}))
    events.append((None, "[DONE]"))
    await _send_sse(send, events, request.behaviour)


def _embedding_vector(text: str, dimensions: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round((digest[i % len(digest)] - 128) / 128, 6) for i in range(dimensions)]


async def _openai_embeddings(fake: FakeProvider, request: _Request, send: Send) -> None:
    body = request.body or {}
    inputs = body.get("input")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(body.get("model"), str):
        await _openai_bad_request(send, "model")
        return
    if not isinstance(inputs, list) or not inputs:
        await _openai_bad_request(send, "input")
        return
    dimensions = int(body.get("dimensions") or 8)
    data = []
    for index, text in enumerate(inputs):
        vector = _embedding_vector(str(text), dimensions)
        if body.get("encoding_format") == "base64":
            packed = struct.pack(f"<{len(vector)}f", *vector)
            embedding: Any = base64.b64encode(packed).decode()
        else:
            embedding = vector
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(max(1, len(str(t).split())) for t in inputs)
    usage = (request.behaviour and request.behaviour.usage) or {
        "prompt_tokens": tokens,
        "total_tokens": tokens,
    }
    payload = {"object": "list", "data": data, "model": body["model"], "usage": usage}
    await _send_json(send, 200, payload)


async def _openai_responses(fake: FakeProvider, request: _Request, send: Send) -> None:
    """The Responses API: one ``response`` object, or its typed SSE events when streaming."""
    body = request.body or {}
    if not isinstance(body.get("model"), str):
        await _openai_bad_request(send, "model")
        return
    messages = _responses_messages(body)
    if not messages:
        await _openai_bad_request(send, "input")
        return
    limit = body.get("max_output_tokens")
    reply = _reply_text(messages, limit)
    full = _reply_text(messages, None)
    chat = _openai_usage(fake, {"model": body["model"], "messages": messages}, reply)
    usage = (request.behaviour and request.behaviour.usage) or {
        "input_tokens": chat["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": chat["prompt_tokens_details"]["cached_tokens"]},
        "output_tokens": chat["completion_tokens"],
        "output_tokens_details": {
            "reasoning_tokens": chat["completion_tokens_details"]["reasoning_tokens"]
        },
        "total_tokens": chat["total_tokens"],
    }
    truncated = reply != full  # cut by max_output_tokens: the response is "incomplete"
    response = _response_object(body, "in_progress")
    items: list[Json] = []
    if _is_reasoning(body["model"]):
        items.append({"type": "reasoning", "id": _new_id("rs_"), "summary": []})
    message = {
        "type": "message",
        "id": _new_id("msg_"),
        "status": "incomplete" if truncated else "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": reply, "annotations": [], "logprobs": []}],
    }
    items.append(message)
    final = {
        **response,
        "status": "incomplete" if truncated else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if truncated else None,
        "output": items,
        "usage": usage,
    }
    if not body.get("stream"):
        await _send_json(send, 200, final, {"x-request-id": _new_id("req_")})
        return
    await _send_sse(send, _responses_events(response, final, items), request.behaviour)


def _responses_messages(body: Json) -> list[Any]:
    """``instructions`` and ``input`` (a string, or a list of message items) as chat messages."""
    raw = body.get("input")
    if isinstance(raw, str) and raw:
        messages: list[Any] = [{"role": "user", "content": raw}]
    elif isinstance(raw, list) and raw and all(isinstance(item, dict) for item in raw):
        messages = list(raw)
    else:
        return []
    if isinstance(body.get("instructions"), str):
        messages.insert(0, {"role": "developer", "content": body["instructions"]})
    return messages


def _response_object(body: Json, status: str) -> Json:
    """A ``response`` object as OpenAI returns it, before any output."""
    return {
        "id": _new_id("resp_"),
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body["model"],
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": None,
        "user": None,
        "metadata": body.get("metadata") or {},
    }


def _responses_events(
    response: Json, final: Json, items: list[Json]
) -> list[tuple[str | None, Json | str]]:
    """The typed event sequence of a streamed response; the last one carries the usage."""
    events: list[tuple[str | None, Json | str]] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append((kind, {"type": kind, "sequence_number": len(events), **fields}))

    emit("response.created", response=response)
    emit("response.in_progress", response=response)
    for index, item in enumerate(items):
        if item["type"] != "message":
            emit("response.output_item.added", output_index=index, item=item)
            emit("response.output_item.done", output_index=index, item=item)
            continue
        part = item["content"][0]
        where = {"item_id": item["id"], "output_index": index, "content_index": 0}
        emit(
            "response.output_item.added",
            output_index=index,
            item={**item, "status": "in_progress", "content": []},
        )
        emit("response.content_part.added", **where, part={**part, "text": ""})
        for i, word in enumerate(part["text"].split(" ")):
            delta = (" " if i else "") + word
            emit("response.output_text.delta", **where, delta=delta, logprobs=[])
        emit("response.output_text.done", **where, text=part["text"], logprobs=[])
        emit("response.content_part.done", **where, part=part)
        emit("response.output_item.done", output_index=index, item=item)
    emit(f"response.{final['status']}", response=final)
    return events


# -- Anthropic -------------------------------------------------------------------------------
def _anthropic_usage(fake: FakeProvider, body: Json, reply: str) -> Json:
    """Input split the way Anthropic reports it: uncached + cache write (5m/1h) + cache read."""
    blocks = _anthropic_blocks(body)
    tokens = [3 + _words(block.get("text", "")) for block in blocks]
    marked = [i for i, block in enumerate(blocks) if isinstance(block.get("cache_control"), dict)]
    written = {"5m": 0, "1h": 0}
    read = 0
    cached_upto = marked[-1] + 1 if marked else 0
    if cached_upto:
        prefix = json.dumps([body.get("model"), blocks[:cached_upto]], sort_keys=True)
        if fake._cached_prefix(prefix):
            read = sum(tokens[:cached_upto])
        else:
            ttl = blocks[marked[-1]]["cache_control"].get("ttl", "5m")
            written["1h" if ttl == "1h" else "5m"] = sum(tokens[:cached_upto])
    return {
        "input_tokens": sum(tokens[cached_upto:]),
        "cache_creation_input_tokens": written["5m"] + written["1h"],
        "cache_read_input_tokens": read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": written["5m"],
            "ephemeral_1h_input_tokens": written["1h"],
        },
        "output_tokens": len(reply.split()),
        "service_tier": "standard",
    }


def _anthropic_blocks(body: Json) -> list[Json]:
    """System and message content as a flat list of text blocks (cache markers kept)."""
    blocks: list[Json] = []
    system = body.get("system")
    for source in [system] + [m.get("content") for m in body.get("messages") or []]:
        if isinstance(source, str):
            blocks.append({"text": source})
        elif isinstance(source, list):
            blocks += [part for part in source if isinstance(part, dict)]
    return blocks


async def _anthropic_models(fake: FakeProvider, request: _Request, send: Send) -> None:
    data = [
        {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
        for m in fake.models.get("anthropic", [])
    ]
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    await _send_json(
        send, 200, {"data": data, "has_more": False, "first_id": first, "last_id": last}
    )


async def _anthropic_messages(fake: FakeProvider, request: _Request, send: Send) -> None:
    body = request.body
    problem = _check_chat_body(body)
    if problem is None and not isinstance((body or {}).get("max_tokens"), int):
        problem = "max_tokens"
    if problem:
        error = {"type": "invalid_request_error", "message": f"{problem}: Field required"}
        await _send_json(send, 400, {"type": "error", "error": error})
        return
    assert body is not None
    problem = _anthropic_invalid_messages(body["messages"])
    if problem:
        error = {"type": "invalid_request_error", "message": problem}
        await _send_json(send, 400, {"type": "error", "error": error})
        return
    reply = _reply_text(body["messages"], body["max_tokens"])
    called = _tool_call(body, "anthropic")
    content: list[Json] = [{"type": "text", "text": reply}]
    if called:
        tool_use = {"type": "tool_use", "id": _new_id("toolu_"), "name": called[0]}
        content = [{**tool_use, "input": called[1]}]
        reply = " ".join(["x"] * (len(called[1]) + 1))  # output tokens of the call
    usage = (request.behaviour and request.behaviour.usage) or _anthropic_usage(fake, body, reply)
    message = {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": "tool_use" if called else "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }
    if not body.get("stream"):
        await _send_json(send, 200, message, {"request-id": _new_id("req_")})
        return
    start_usage = {**usage, "output_tokens": 1}
    start = {**message, "content": [], "stop_reason": None, "usage": start_usage}
    block = {**content[0], "input": {}} if called else {"type": "text", "text": ""}
    events: list[tuple[str | None, Json | str]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": block}),
        ("ping", {"type": "ping"}),
    ]  # fmt: skip
    if called:
        arguments = json.dumps(called[1])
        pieces = [arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]]
        deltas: list[Json] = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
    else:
        words = reply.split(" ")
        deltas = [
            {"type": "text_delta", "text": (" " if i else "") + w} for i, w in enumerate(words)
        ]
    for delta in deltas:
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    final_usage = {"output_tokens": usage.get("output_tokens", 0)}
    for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
        final_usage[key] = usage.get(key, 0)
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": message["stop_reason"],
                                     "stop_sequence": None},
                           "usage": final_usage}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    await _send_sse(send, events, request.behaviour)


# -- Gemini ----------------------------------------------------------------------------------
async def _google_models(fake: FakeProvider, request: _Request, send: Send) -> None:
    models = [
        {
            "name": f"models/{m}",
            "displayName": m,
            "inputTokenLimit": 1_048_576,
            "outputTokenLimit": 65_536,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
        }
        for m in fake.models.get("google", [])
    ]
    await _send_json(send, 200, {"models": models})


async def _google_generate(fake: FakeProvider, request: _Request, send: Send) -> None:
    body = request.body or {}
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        error = {"code": 400, "message": "contents is required", "status": "INVALID_ARGUMENT"}
        await _send_json(send, 400, {"error": error})
        return
    model = request.path.split("/models/", 1)[1].rsplit(":", 1)[0]
    messages = [
        {
            "content": [
                {"text": p.get("text", "")} for p in c.get("parts", []) if isinstance(p, dict)
            ]
        }
        for c in contents
        if isinstance(c, dict)
    ]
    reply = _reply_text(messages, (body.get("generationConfig") or {}).get("maxOutputTokens"))
    prompt = sum(_message_tokens(messages))
    candidates = len(reply.split())
    thoughts = 2 * candidates if "pro" in model or _is_reasoning(model) else 0
    usage = (request.behaviour and request.behaviour.usage) or {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "thoughtsTokenCount": thoughts,  # reported beside candidates, not inside them
        "totalTokenCount": prompt + candidates + thoughts,
    }
    candidate = {
        "content": {"role": "model", "parts": [{"text": reply}]},
        "finishReason": "STOP",
        "index": 0,
    }
    payload = {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model}
    await _send_json(send, 200, payload)


# -- Ollama ----------------------------------------------------------------------------------
async def _ollama_tags(fake: FakeProvider, request: _Request, send: Send) -> None:
    models = [
        {
            "name": m,
            "model": m,
            "modified_at": "2025-01-01T00:00:00Z",
            "size": 2_019_393_189,
            "digest": hashlib.sha256(m.encode()).hexdigest(),
            "details": {"format": "gguf", "family": m.split(":")[0], "parameter_size": "3.2B"},
        }
        for m in fake.models.get("ollama", [])
    ]
    await _send_json(send, 200, {"models": models})


async def _ollama_chat(fake: FakeProvider, request: _Request, send: Send) -> None:
    body = request.body
    missing = _check_chat_body(body)
    if missing:
        await _send_json(send, 400, {"error": f"{missing} is required"})
        return
    assert body is not None
    reply = _reply_text(body["messages"], (body.get("options") or {}).get("num_predict"))
    payload = {
        "model": body["model"],
        "created_at": "2025-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": reply},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": sum(_message_tokens(body["messages"])),
        "eval_count": len(reply.split()),
    }
    await _send_json(send, 200, payload)


Handler = Callable[[FakeProvider, _Request, Send], Awaitable[None]]
_ROUTES: dict[tuple[str, str, str], Handler] = {
    ("openai", "GET", "/v1/models"): _openai_models,
    ("openai", "POST", "/v1/chat/completions"): _openai_chat,
    ("openai", "POST", "/v1/embeddings"): _openai_embeddings,
    ("openai", "POST", "/v1/responses"): _openai_responses,
    ("anthropic", "GET", "/v1/models"): _anthropic_models,
    ("anthropic", "POST", "/v1/messages"): _anthropic_messages,
    ("google", "GET", "/v1beta/models"): _google_models,
    ("google", "POST", "/v1beta/models/{model}:generateContent"): _google_generate,
    ("ollama", "GET", "/api/tags"): _ollama_tags,
    ("ollama", "POST", "/api/chat"): _ollama_chat,
    # Ollama's OpenAI-compatible endpoints (no auth).
    ("ollama", "GET", "/v1/models"): _openai_models,
    ("ollama", "POST", "/v1/chat/completions"): _openai_chat,
    ("ollama", "POST", "/v1/embeddings"): _openai_embeddings,
}


def main() -> None:
    """``python -m byokvault.engine.fakeprovider``: serve the fake provider in the foreground."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: an ephemeral port")
    parser.add_argument("--key", action="append", default=[], help="accepted API key")
    args = parser.parse_args()
    fake = FakeProvider(accept_any_key=not args.key)
    for key in args.key:
        fake.add_key(key)
    if args.port:
        print(f"fake provider on http://127.0.0.1:{args.port}/<style>/...")
        uvicorn.run(fake, host="127.0.0.1", port=args.port, lifespan="off", log_level="warning")
    else:
        with fake:
            print(f"fake provider on {fake.url}/<style>/...  (Ctrl-C stops)")
            threading.Event().wait()


if __name__ == "__main__":
    main()
