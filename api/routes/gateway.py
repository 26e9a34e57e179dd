"""OpenAI- and Anthropic-compatible gateway endpoints. Point the official SDKs here with a
ByokVault tenant token as the API key.

Async handlers: they await the provider over the network; planning and settlement (DuckDB) run
in worker threads inside ``Gateway``. The typed body documents and checks what the gateway
reads; the raw body is what is forwarded, so the provider receives every field the client sent
(the model id aside).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from ..auth import Principal, provide_principal
from ..gateway import Gateway
from ..schemas import ChatCompletionRequest, EmbeddingsRequest, MessagesRequest, ResponsesRequest

GATEWAY = {"dependencies": {"principal": Provide(provide_principal)}, "tags": ["gateway"]}


def _gateway(request: Request[Any, Any, Any]) -> Gateway:
    return request.app.state.gateway


async def _call(request: Request[Any, Any, Any], who: Principal, endpoint: str) -> Any:
    raw = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    return await _gateway(request).handle(endpoint, raw, headers, who)


@post("/v1/chat/completions", operation_id="chatCompletions", status_code=200, **GATEWAY)
async def chat_completions(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    data: JSONBody[ChatCompletionRequest],
) -> Any:
    """OpenAI Chat Completions, streaming included (usage always billed)."""
    return await _call(request, principal, "chat.completions")


@post("/v1/embeddings", operation_id="embeddings", status_code=200, **GATEWAY)
async def embeddings(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    data: JSONBody[EmbeddingsRequest],
) -> Any:
    """OpenAI Embeddings."""
    return await _call(request, principal, "embeddings")


@post("/v1/messages", operation_id="anthropicMessages", status_code=200, **GATEWAY)
async def messages(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    data: JSONBody[MessagesRequest],
) -> Any:
    """Anthropic Messages, streaming included."""
    return await _call(request, principal, "messages")


@post("/v1/responses", operation_id="responses", status_code=200, **GATEWAY)
async def responses(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    data: JSONBody[ResponsesRequest],
) -> Any:
    """OpenAI Responses, streaming included (billed from the final ``response.completed``)."""
    return await _call(request, principal, "responses")


GATEWAY_HANDLERS = [chat_completions, embeddings, responses, messages]
