"""Usage extraction: each provider's response body → our :class:`Usage` (genai-prices meaning).

Normalizing per provider happens here, once:

* OpenAI chat completions (and OpenAI-compatible local servers: vLLM, llama.cpp, LM Studio,
  Ollama's /v1): ``prompt_tokens`` already includes ``cached_tokens`` and audio;
  ``completion_tokens`` already includes ``reasoning_tokens`` and audio. Streaming: the final
  chunk's ``usage`` (``stream_options.include_usage``).
* OpenAI responses API: ``input_tokens`` / ``output_tokens`` with ``*_details``; each
  ``web_search_call`` output item is one web search. Streaming: ``response.completed``.
* Anthropic messages: ``input_tokens`` EXCLUDES cache reads and writes, so ours is the sum;
  ``cache_creation`` splits writes into 5-minute and 1-hour TTLs. Streaming: ``message_start``
  usage updated by each ``message_delta`` usage.
* Gemini ``usageMetadata``: ``thoughtsTokenCount`` is reported BESIDE ``candidatesTokenCount``,
  so output is their sum (reasoning a part of it); ``cachedContentTokenCount`` is part of
  ``promptTokenCount``; audio input and image output come from the per-modality details (image
  and video INPUT tokens are priced as text by Gemini, so they are not split out).
* Ollama native (/api/chat, /api/generate): ``prompt_eval_count`` / ``eval_count``.
* Embeddings (OpenAI-style ``usage.prompt_tokens``, or ``total_tokens``): ``embedding_tokens``.
* Image generation (OpenAI images): one ``output_images`` per returned image, the size and
  quality taken from the request; gpt-image input tokens split into text and image; the
  output tokens ARE the images, which are billed per image, so they are not counted again.

Each extractor returns an :class:`Extracted` (usage, model name, pricing context facts).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .cost import DEFAULT_CONTEXT, PricingContext
from .usage import Usage, UsageError

Json = Mapping[str, Any]

# Provider tier names → ours.
SERVICE_TIERS = {
    "default": "standard",
    "auto": "standard",
    "standard": "standard",
    "standard_only": "standard",
    "flex": "flex",
    "priority": "priority",
    "batch": "batch",
}


@dataclass(frozen=True, slots=True)
class Extracted:
    usage: Usage
    model: str | None
    context: PricingContext = DEFAULT_CONTEXT


class ExtractionError(ValueError):
    """The body does not carry a usage block of the expected shape."""


def _int(obj: Json | None, *path: str) -> int:
    """An integer at ``path`` (0 when absent or null); anything else is an error."""
    node: Any = obj
    for step in path:
        if not isinstance(node, Mapping) or node.get(step) is None:
            return 0
        node = node[step]
    if isinstance(node, bool) or not isinstance(node, int | Decimal | float):
        raise ExtractionError(f"{'.'.join(path)} is not a number: {node!r}")
    if node != int(node):
        raise ExtractionError(f"{'.'.join(path)} is not a whole number: {node!r}")
    return int(node)


def _usage(**values: int) -> Usage:
    try:
        return Usage(**values)
    except UsageError as exc:
        raise ExtractionError(f"the provider reported an impossible usage: {exc}") from None


def _block(body: Json, key: str) -> Json:
    block = body.get(key) if isinstance(body, Mapping) else None
    if not isinstance(block, Mapping):
        raise ExtractionError(f"no {key!r} object in the response")
    return block


def _tier(body: Json) -> PricingContext:
    tier = body.get("service_tier")
    if isinstance(tier, str) and tier in SERVICE_TIERS:
        return PricingContext(service_tier=SERVICE_TIERS[tier])
    return DEFAULT_CONTEXT


def openai_chat(body: Json) -> Extracted:
    """OpenAI chat completions, and OpenAI-compatible local servers."""
    u = _block(body, "usage")
    usage = _usage(
        input_tokens=_int(u, "prompt_tokens"),
        cache_read_tokens=_int(u, "prompt_tokens_details", "cached_tokens"),
        input_audio_tokens=_int(u, "prompt_tokens_details", "audio_tokens"),
        output_tokens=_int(u, "completion_tokens"),
        output_reasoning_tokens=_int(u, "completion_tokens_details", "reasoning_tokens"),
        output_audio_tokens=_int(u, "completion_tokens_details", "audio_tokens"),
    )
    return Extracted(usage, body.get("model"), _tier(body))


def openai_chat_stream(chunks: Iterable[Json] | str) -> Extracted:
    """The last chunk carrying a usage block (``stream_options: {include_usage: true}``)."""
    final = None
    for chunk in _events(chunks):
        if isinstance(chunk.get("usage"), Mapping):
            final = chunk
    if final is None:
        raise ExtractionError("no chunk with usage: was stream_options.include_usage set?")
    return openai_chat(final)


def openai_responses(body: Json) -> Extracted:
    if body.get("type") == "response.completed":  # a streaming event
        body = _block(body, "response")
    u = _block(body, "usage")
    searches = sum(
        1
        for item in body.get("output") or ()
        if isinstance(item, Mapping) and item.get("type") == "web_search_call"
    )
    usage = _usage(
        input_tokens=_int(u, "input_tokens"),
        cache_read_tokens=_int(u, "input_tokens_details", "cached_tokens"),
        output_tokens=_int(u, "output_tokens"),
        output_reasoning_tokens=_int(u, "output_tokens_details", "reasoning_tokens"),
        web_searches=searches,
    )
    return Extracted(usage, body.get("model"), _tier(body))


def anthropic_messages(body: Json) -> Extracted:
    return _anthropic(_block(body, "usage"), body.get("model"))


def anthropic_stream(events: Iterable[Json] | str) -> Extracted:
    """``message_start`` carries the input side; each ``message_delta`` updates the counts."""
    usage: dict[str, Any] = {}
    model = None
    for event in _events(events):
        if event.get("type") == "message_start":
            message = _block(event, "message")
            model = message.get("model")
            usage.update(_block(message, "usage"))
        elif event.get("type") == "message_delta" and isinstance(event.get("usage"), Mapping):
            usage.update({k: v for k, v in event["usage"].items() if v is not None})
    if not usage:
        raise ExtractionError("no message_start usage in the stream")
    return _anthropic(usage, model)


def _anthropic(u: Json, model: str | None) -> Extracted:
    uncached = _int(u, "input_tokens")
    written = _int(u, "cache_creation_input_tokens")
    read = _int(u, "cache_read_input_tokens")
    written_1h = _int(u, "cache_creation", "ephemeral_1h_input_tokens")
    usage = _usage(
        input_tokens=uncached + written + read,  # Anthropic's input_tokens excludes both
        cache_read_tokens=read,
        cache_write_tokens=written,
        cache_write_5m_tokens=_int(u, "cache_creation", "ephemeral_5m_input_tokens"),
        cache_write_1h_tokens=written_1h,
        output_tokens=_int(u, "output_tokens"),
        web_searches=_int(u, "server_tool_use", "web_search_requests"),
    )
    return Extracted(usage, model, _tier(u))


def gemini(body: Json) -> Extracted:
    u = _block(body, "usageMetadata")
    thoughts = _int(u, "thoughtsTokenCount")
    usage = _usage(
        input_tokens=_int(u, "promptTokenCount") + _int(u, "toolUsePromptTokenCount"),
        cache_read_tokens=_int(u, "cachedContentTokenCount"),
        input_audio_tokens=_modality(u, "promptTokensDetails", "AUDIO"),
        cache_audio_read_tokens=_modality(u, "cacheTokensDetails", "AUDIO"),
        output_tokens=_int(u, "candidatesTokenCount") + thoughts,  # thoughts are reported apart
        output_reasoning_tokens=thoughts,
        output_image_tokens=_modality(u, "candidatesTokensDetails", "IMAGE"),
    )
    return Extracted(usage, body.get("modelVersion"))


def _modality(u: Json, key: str, modality: str) -> int:
    total = 0
    for detail in u.get(key) or ():
        if isinstance(detail, Mapping) and detail.get("modality") == modality:
            total += _int(detail, "tokenCount")
    return total


def ollama(body: Json) -> Extracted:
    """Ollama's native API (/api/chat, /api/generate): counts at the top level."""
    if "prompt_eval_count" not in body and "eval_count" not in body:
        raise ExtractionError("no prompt_eval_count/eval_count in the response")
    usage = _usage(
        input_tokens=_int(body, "prompt_eval_count"), output_tokens=_int(body, "eval_count")
    )
    return Extracted(usage, body.get("model"))


def embeddings(body: Json) -> Extracted:
    u = _block(body, "usage")
    tokens = _int(u, "prompt_tokens") or _int(u, "total_tokens")
    return Extracted(_usage(embedding_tokens=tokens), body.get("model"))


def image_generation(body: Json, request: Json | None = None) -> Extracted:
    """OpenAI images: one output image per ``data`` item; size/quality from the request."""
    data = body.get("data")
    if not isinstance(data, list):
        raise ExtractionError("no 'data' list of images in the response")
    request = request or {}
    u = body.get("usage") if isinstance(body.get("usage"), Mapping) else {}
    usage = _usage(
        input_tokens=_int(u, "input_tokens"),
        input_image_tokens=_int(u, "input_tokens_details", "image_tokens"),
        output_images=len(data),
    )
    context = PricingContext(
        image_size=request.get("size") or body.get("size"),
        image_quality=request.get("quality") or body.get("quality"),
    )
    return Extracted(usage, request.get("model"), context)


def _events(items: Iterable[Json] | str) -> Iterable[Json]:
    """Parsed events, or the JSON ``data:`` lines of an SSE text."""
    if not isinstance(items, str):
        yield from items
        return
    for line in items.splitlines():
        if line.startswith("data:"):
            payload = line[5:].strip()
            if payload and payload != "[DONE]":
                yield json.loads(payload)


EXTRACTORS = {
    "openai.chat": openai_chat,
    "openai.chat.stream": openai_chat_stream,
    "openai.responses": openai_responses,
    "openai.embeddings": embeddings,
    "openai.images": image_generation,
    "anthropic.messages": anthropic_messages,
    "anthropic.messages.stream": anthropic_stream,
    "gemini": gemini,
    "ollama": ollama,
}
