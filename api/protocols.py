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
