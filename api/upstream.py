"""Calling a provider: its endpoint URL and auth headers from the catalog, the request forwarded
with httpx, errors mapped to problems, and server-sent events parsed as they stream through.

The provider's key goes only into the outgoing request headers built here. Provider error bodies
are never passed to the client verbatim (some echo part of the key): the problem names the
provider, its status and its error type only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec

from byokvault.engine.catalog.model import Provider

from .problems import ApiProblem

ANTHROPIC_VERSION = "2023-06-01"
# Endpoint name -> path below the provider's base URL, per wire protocol.
_PATHS = {
    "chat.completions": "/chat/completions",
    "embeddings": "/embeddings",
    "responses": "/responses",
    "messages": "/messages",
}
# Which client-facing protocol each provider api_style can serve without translation.
PROTOCOL_OF_STYLE = {
    "openai": "openai",
    "openai-compatible": "openai",
    "ollama": "openai",  # Ollama's OpenAI-compatible /v1 endpoints
    "azure": "openai",
    "anthropic": "anthropic",
}
# Client request headers worth passing on (never the client's own Authorization).
_PASS_HEADERS = ("anthropic-version", "anthropic-beta", "openai-beta")


@dataclass(frozen=True)
class Target:
    """Where one call goes. ``headers`` hold the credential: never log or return them."""

    provider_id: str
    model_id: str
    api_style: str
    url: str
    headers: dict[str, str]

    def __repr__(self) -> str:  # keep the credential out of any repr/traceback
        return f"Target({self.provider_id}/{self.model_id} -> {self.url})"


def endpoint_url(base_url: str, api_style: str, endpoint: str) -> str:
    base = base_url.rstrip("/")
    if api_style == "anthropic" and not base.endswith("/v1"):
        base += "/v1"
    if api_style == "ollama" and not base.endswith("/v1"):
        base += "/v1"
    return base + _PATHS[endpoint]


def auth_headers(provider: Provider, secret: str | None) -> dict[str, str]:
    """The credential placed where the provider expects it (headers only, never the URL)."""
    headers: dict[str, str] = {}
    if provider.api_style == "anthropic":
        headers["anthropic-version"] = ANTHROPIC_VERSION
    if secret is None:
        return headers
    scheme = provider.auth.scheme
    if scheme == "bearer":
        headers["authorization"] = f"Bearer {secret}"
    elif scheme == "x-api-key":
        headers["x-api-key"] = secret
    elif scheme == "query-key":
        headers["x-goog-api-key"] = secret  # Gemini also takes the key as a header
    elif scheme == "header" and provider.auth.header:
        headers[provider.auth.header.lower()] = secret
    return headers


def build_target(
    provider: Provider,
    model_id: str,
    endpoint: str,
    *,
    base_url: str,
    secret: str | None,
    client_headers: dict[str, str],
) -> Target:
    headers = {"content-type": "application/json", **auth_headers(provider, secret)}
    for name in _PASS_HEADERS:
        if name in client_headers:
            headers[name] = client_headers[name]
    url = endpoint_url(base_url, provider.api_style, endpoint)
    return Target(provider.id, model_id, provider.api_style, url, headers)


def provider_failure(target: Target, response: httpx.Response, body: bytes) -> ApiProblem:
    """A provider's error status as a 502 problem naming the provider, status and error type."""
    error_type = _error_type(body)
    status = response.status_code
    code = "byok_invalid" if status in (401, 403) else "provider_error"
    headers = {}
    if status == 429:
        code = "rate_limited"
        if "retry-after" in response.headers:
            headers["retry-after"] = response.headers["retry-after"]
    detail = f"provider {target.provider_id} answered {status}"
    if error_type:
        detail += f" ({error_type})"
    return ApiProblem(
        code,
        detail,
        status=429 if status == 429 else 502,
        headers=headers,
        provider_id=target.provider_id,
        provider_status=status,
        provider_error_type=error_type,
    )


def transport_failure(target: Target, exc: httpx.HTTPError) -> ApiProblem:
    if isinstance(exc, httpx.TimeoutException):
        return ApiProblem(
            "provider_timeout",
            f"provider {target.provider_id} did not answer in time",
            provider_id=target.provider_id,
        )
    return ApiProblem(
        "provider_error",
        f"provider {target.provider_id} could not be reached ({type(exc).__name__})",
        provider_id=target.provider_id,
        provider_status=None,
    )


def _error_type(body: bytes) -> str | None:
    """The provider's machine-readable error type (OpenAI, Anthropic, Gemini shapes)."""
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    error = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(error, dict):
        for key in ("type", "status", "code"):
            if isinstance(error.get(key), str):
                return str(error[key])[:64]
    return None


async def post_json(http: httpx.AsyncClient, target: Target, body: bytes) -> tuple[int, bytes]:
    """POST and read the whole answer; a provider error status raises its problem."""
    try:
        response = await http.post(target.url, content=body, headers=target.headers)
    except httpx.HTTPError as exc:
        raise transport_failure(target, exc) from None
    content = response.content
    if response.status_code >= 400:
        raise provider_failure(target, response, content)
    return response.status_code, content


_UNPARSED: Any = object()


@dataclass
class SseEvent:
    raw: bytes  # the event exactly as received, blank-line terminator included
    event: str | None
    data: str
    parsed: Any = field(default=_UNPARSED, repr=False, compare=False)  # event_json's cache


class SseParser:
    """Splits a byte stream into server-sent events (any of \\n, \\r\\n line endings)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[SseEvent]:
        self._buffer += chunk.replace(b"\r\n", b"\n")
        events = []
        while True:
            end = self._buffer.find(b"\n\n")
            if end < 0:
                return events
            raw, self._buffer = self._buffer[: end + 2], self._buffer[end + 2 :]
            events.append(_parse_event(raw))

    def rest(self) -> bytes:
        return self._buffer


def _parse_event(raw: bytes) -> SseEvent:
    name = None
    data: list[str] = []
    for line in raw.decode("utf-8", "replace").split("\n"):
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    return SseEvent(raw, name, "\n".join(data))


def event_json(event: SseEvent) -> dict[str, Any] | None:
    """The event's data as a JSON object (None if it is not one), decoded once per event."""
    if event.parsed is _UNPARSED:
        event.parsed = _decode_event(event.data)
    return event.parsed


def _decode_event(data: str) -> dict[str, Any] | None:
    if not data or data == "[DONE]":
        return None
    try:
        doc = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None
    return doc if isinstance(doc, dict) else None


class UpstreamStream:
    """An open streaming response; iterate ``events()``, then ``close()``."""

    def __init__(self, target: Target, response: httpx.Response) -> None:
        self.target = target
        self.response = response

    async def events(self) -> AsyncIterator[SseEvent]:
        parser = SseParser()
        async for chunk in self.response.aiter_bytes():
            for event in parser.feed(chunk):
                yield event
        if parser.rest().strip():
            yield _parse_event(parser.rest() + b"\n\n")

    async def close(self) -> None:
        await self.response.aclose()


async def open_stream(http: httpx.AsyncClient, target: Target, body: bytes) -> UpstreamStream:
    """Send a streaming request; an error status raises its problem before any byte is relayed."""
    request = http.build_request("POST", target.url, content=body, headers=target.headers)
    try:
        response = await http.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise transport_failure(target, exc) from None
    if response.status_code >= 400:
        content = await response.aread()
        await response.aclose()
        raise provider_failure(target, response, content)
    return UpstreamStream(target, response)
