"""OpenAI- and Anthropic-compatible gateway endpoints. Point the official SDKs here with a
ByokVault tenant token as the API key.

Async handlers: they await the provider over the network; planning and settlement (DuckDB) run
in worker threads inside ``Gateway``. The typed body documents and checks what the gateway
reads; the raw body is what is forwarded, so the provider receives every field the client sent
(the model id aside). Every endpoint has the same shape, so each is one ``gateway_endpoint``
line.
"""

# No ``from __future__ import annotations``: the handler's body annotation must be evaluated
# where it is written, with the endpoint's own body type.
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency, Provide
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody

from ..auth import Principal, provide_principal
from ..catalog_sync import current
from ..gateway import Gateway
from ..schemas import ChatCompletionRequest, EmbeddingsRequest, MessagesRequest, ResponsesRequest

GATEWAY = {"dependencies": {"principal": Provide(provide_principal)}, "tags": ["gateway"]}

Handler = Callable[..., Coroutine[Any, Any, Any]]


def _gateway(request: Request[Any, Any, Any]) -> Gateway:
    return current(request).gateway


def gateway_endpoint(
    path: str, operation_id: str, endpoint: str, body: type[msgspec.Struct], summary: str
) -> HTTPRouteHandler:
    """``POST path``: ``body`` documents and checks the request; the gateway forwards the raw
    bytes as the ``endpoint`` call."""

    async def handler(
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        data: JSONBody[body],  # type: ignore[valid-type]
    ) -> Any:
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        return await _gateway(request).handle(endpoint, raw, headers, principal)

    handler.__doc__ = summary
    handler.__name__ = handler.__qualname__ = endpoint.replace(".", "_")  # the summary
    return post(path, operation_id=operation_id, status_code=200, **GATEWAY)(handler)


GATEWAY_HANDLERS = [
    gateway_endpoint(
        "/v1/chat/completions",
        "chatCompletions",
        "chat.completions",
        ChatCompletionRequest,
        "OpenAI Chat Completions, streaming included (usage always billed).",
    ),
    gateway_endpoint(
        "/v1/embeddings", "embeddings", "embeddings", EmbeddingsRequest, "OpenAI Embeddings."
    ),
    gateway_endpoint(
        "/v1/responses",
        "responses",
        "responses",
        ResponsesRequest,
        "OpenAI Responses, streaming included (billed from the final ``response.completed``).",
    ),
    gateway_endpoint(
        "/v1/messages",
        "anthropicMessages",
        "messages",
        MessagesRequest,
        "Anthropic Messages, streaming included.",
    ),
]
