"""Which provider serves which gateway endpoint — natively, or through the translation layer —
and which usage extractor reads the provider's native answer.

A gateway endpoint is what the client speaks (``chat.completions``, ``embeddings``,
``responses``, ``messages``); the upstream endpoint is what the provider is sent. They differ
only when ``api.translate`` converts between OpenAI Chat Completions and Anthropic Messages.
Billing always reads the provider's own answer, before any translation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from byokvault.engine.pricing import extract
from byokvault.engine.pricing.extract import Extracted, ExtractionError

# Endpoints each provider API style serves as they are. The Responses API is OpenAI's own:
# OpenAI-compatible servers are not assumed to implement it.
NATIVE: dict[str, frozenset[str]] = {
    "openai": frozenset({"chat.completions", "embeddings", "responses"}),
    "openai-compatible": frozenset({"chat.completions", "embeddings"}),
    "ollama": frozenset({"chat.completions", "embeddings"}),
    "azure": frozenset({"chat.completions", "embeddings"}),
    "anthropic": frozenset({"messages"}),
}
# client endpoint -> the upstream endpoint it can be translated to (see api.translate).
TRANSLATABLE: dict[str, str] = {"messages": "chat.completions", "chat.completions": "messages"}
# Streamed Responses API events that end a response (each carries the final ``response``).
RESPONSES_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
UPSTREAM_KEY = "upstream_endpoint"  # CallPlan.context key, set when the call is translated
# What a provider's answer may fail with while it is read, checked, extracted or translated: all
# of it means the provider sent something its protocol does not allow (a ``provider_error``).
ANSWER_ERRORS = (ValueError, KeyError, TypeError, AttributeError, IndexError, ArithmeticError)


class MalformedAnswer(ValueError):
    """A provider's answer (or stream event) without the shape its protocol defines."""


def upstream_endpoint(endpoint: str, api_style: str) -> str | None:
    """The endpoint a provider of ``api_style`` is sent for a client ``endpoint``; None when it
    cannot serve it at all."""
    native = NATIVE.get(api_style, frozenset())
    if endpoint in native:
        return endpoint
    translated = TRANSLATABLE.get(endpoint)
    return translated if translated in native else None


def upstream_of(plan: Any) -> str:
    """The endpoint this call's provider is sent (the client's unless translated)."""
    return plan.context.get(UPSTREAM_KEY, plan.endpoint)


def extract_answer(upstream: str, answer: Mapping[str, Any]) -> Extracted:
    """Usage from a provider's whole (non-streamed) answer, in its native protocol."""
    if upstream == "embeddings":
        return extract.embeddings(answer)
    if upstream == "messages":
        return extract.anthropic_messages(answer)
    if upstream == "responses":
        return extract.openai_responses(answer)
    return extract.openai_chat(answer)


def extract_stream(upstream: str, events: Iterable[Mapping[str, Any]]) -> Extracted:
    """Usage from a provider's streamed events, in its native protocol."""
    if upstream == "messages":
        return extract.anthropic_stream(events)
    if upstream == "responses":
        final = [e for e in events if e.get("type") in RESPONSES_TERMINAL]
        if not final or not isinstance(final[-1].get("response"), Mapping):
            raise ExtractionError("the stream ended without a response.completed event")
        return extract.openai_responses(final[-1]["response"])
    return extract.openai_chat_stream(events)


def check_answer(upstream: str, answer: Any) -> Mapping[str, Any]:
    """``answer`` if it has the shape of an ``upstream`` answer (the parts clients and the
    translator read); else ``MalformedAnswer`` naming what is missing."""
    if not isinstance(answer, Mapping):
        raise MalformedAnswer(f"the answer is a JSON {type(answer).__name__}, not an object")
    if upstream == "chat.completions":
        choices = _list_of_objects(answer, "choices")
        if not choices:
            raise MalformedAnswer("choices: empty")
        for at, choice in enumerate(choices):
            message = _object(choice, "message", f"choices.{at}.message")
            _list_of_objects(message, "tool_calls", f"choices.{at}.message.", optional=True)
            for call in message.get("tool_calls") or []:
                _object(call, "function", f"choices.{at}.message.tool_calls.function")
    elif upstream == "messages":
        for at, block in enumerate(_list_of_objects(answer, "content")):
            _content_block(block, f"content.{at}")
    elif upstream == "responses":
        _list_of_objects(answer, "output")
    elif upstream == "embeddings":
        _list_of_objects(answer, "data")
    return answer


def check_event(upstream: str, doc: Mapping[str, Any]) -> None:
    """A streamed event's JSON has the shape its protocol defines (``MalformedAnswer`` if not).
    Responses API events are read only for their final ``response`` (``extract_stream``)."""
    if isinstance(doc.get("error"), Mapping):
        return  # the provider's in-band error, relayed as it is
    if upstream == "chat.completions":
        for at, choice in enumerate(_list_of_objects(doc, "choices", optional=True)):
            if choice.get("delta") is not None:
                _object(choice, "delta", f"choices.{at}.delta")
    elif upstream == "messages":
        kind = doc.get("type")
        if not isinstance(kind, str):
            raise MalformedAnswer("an event without a type")
        part = {
            "message_start": "message",
            "content_block_start": "content_block",
            "content_block_delta": "delta",
            "message_delta": "delta",
        }.get(kind)
        if part is not None:
            _object(doc, part, f"{kind}.{part}")
        if kind == "content_block_start":
            _content_block(doc["content_block"], "content_block")


def _object(parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = parent.get(key) if isinstance(parent, Mapping) else None
    if not isinstance(value, Mapping):
        raise MalformedAnswer(f"{where}: not an object")
    return value


def _list_of_objects(
    parent: Mapping[str, Any], key: str, prefix: str = "", *, optional: bool = False
) -> list[Mapping[str, Any]]:
    value = parent.get(key)
    if value is None and optional:
        return []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise MalformedAnswer(f"{prefix}{key}: not a list of objects")
    return value


def _content_block(block: Mapping[str, Any], where: str) -> None:
    """An Anthropic content block: a ``type``, and what its type needs to be read."""
    kind = block.get("type")
    needs = {"text": ("text",), "tool_use": ("id", "name")}.get(kind, ())  # type: ignore[arg-type]
    if not isinstance(kind, str) or not all(isinstance(block.get(k), str) for k in needs):
        raise MalformedAnswer(f"{where}: a content block without {', '.join(needs) or 'a type'}")
