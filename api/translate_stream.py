"""Streamed answers across protocols: the provider's server-sent events rewritten, event by event,
into the client's protocol (Anthropic message events ↔ OpenAI chat completion chunks).

The provider's own events are kept aside for billing; the terminal event of the client's protocol
(``[DONE]``, ``message_stop``) is produced from the provider's, so the gateway holds it back until
the call is billed, as it does for untranslated streams.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from .protocols import ANSWER_ERRORS, MalformedAnswer, check_event, upstream_of
from .translate import (
    FINISH_TO_STOP,
    STOP_TO_FINISH,
    Json,
    anthropic_usage,
    chat_usage,
    is_translated,
    new_id,
)
from .upstream import SseEvent, event_json

NATIVE_EVENTS = "native_events"  # CallPlan.context: the provider's own stream events (billing)


def _frame(event: str | None, data: Json | str) -> SseEvent:
    text = data if isinstance(data, str) else msgspec.json.encode(data).decode()
    raw = ((f"event: {event}\n" if event else "") + f"data: {text}\n\n").encode()
    return SseEvent(raw, event, text)


class MessagesToChatStream:
    """Anthropic message events → OpenAI chat completion chunks."""

    def __init__(self, wants_usage_chunk: bool) -> None:
        self.wants_usage = wants_usage_chunk
        self.base: Json = {"object": "chat.completion.chunk", "created": int(time.time())}
        self.tools: dict[int, int] = {}  # Anthropic block index -> OpenAI tool call index
        self.usage: Json = {}

    def finish(self) -> list[SseEvent]:
        return []  # Anthropic streams always end with message_stop

    def _chunk(self, delta: Json, finish: str | None = None) -> SseEvent:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _frame(None, {**self.base, "choices": [choice]})

    def feed(self, event: SseEvent, doc: Json | None) -> list[SseEvent]:
        kind = (doc or {}).get("type")
        if doc is None or kind == "ping":
            return []
        if kind == "message_start":
            message = doc["message"]
            self.base.update(id=message.get("id"), model=message.get("model"))
            self.usage.update(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._block_start(doc["index"], doc["content_block"])
        if kind == "content_block_delta":
            return self._block_delta(doc["index"], doc["delta"])
        if kind == "message_delta":
            self.usage.update({k: v for k, v in (doc.get("usage") or {}).items() if v is not None})
            reason = (doc.get("delta") or {}).get("stop_reason") or "end_turn"
            return [self._chunk({}, STOP_TO_FINISH.get(reason, "stop"))]
        if kind == "message_stop":
            frames = []
            if self.wants_usage:
                usage_chunk = {**self.base, "choices": [], "usage": chat_usage(self.usage)}
                frames.append(_frame(None, usage_chunk))
            return [*frames, _frame(None, "[DONE]")]
        if kind == "error":
            error = doc.get("error") or {}
            message = error.get("message") or "the provider reported an error"
            return [_frame(None, {"error": {"message": message, "type": error.get("type")}})]
        return []

    def _block_start(self, index: int, block: Json) -> list[SseEvent]:
        if block.get("type") == "tool_use":
            self.tools[index] = len(self.tools)
            function = {"name": block["name"], "arguments": ""}
            call = {"index": self.tools[index], "id": block["id"], "type": "function"}
            return [self._chunk({"tool_calls": [{**call, "function": function}]})]
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        return []

    def _block_delta(self, index: int, delta: Json) -> list[SseEvent]:
        if delta.get("type") == "text_delta":
            return [self._chunk({"content": delta["text"]})]
        if delta.get("type") == "input_json_delta" and index in self.tools:
            call = {"index": self.tools[index], "function": {"arguments": delta["partial_json"]}}
            return [self._chunk({"tool_calls": [call]})]
        return []


class ChatToMessagesStream:
    """OpenAI chat completion chunks → Anthropic message events."""

    def __init__(self) -> None:
        self.started = False
        self.block: tuple[str, int] | None = None  # the open content block: (kind, index)
        self.blocks = 0
        self.tools: dict[int, int] = {}  # OpenAI tool call index -> Anthropic block index
        self.finish_reason = "stop"
        self.refused = False
        self.usage: Json = {}
        self.ended = False

    def feed(self, event: SseEvent, doc: Json | None) -> list[SseEvent]:
        if event.data == "[DONE]":
            return self._end()
        if doc is None:
            return []
        if isinstance(doc.get("error"), dict):
            error = {"type": "api_error", "message": doc["error"].get("message") or "error"}
            return [_frame("error", {"type": "error", "error": error})]
        frames = [] if self.started else [self._start(doc)]
        if isinstance(doc.get("usage"), dict):
            self.usage = doc["usage"]
        for choice in doc.get("choices") or []:
            frames += self._delta(choice.get("delta") or {})
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return frames

    def _start(self, doc: Json) -> SseEvent:
        self.started = True
        message = {
            "id": doc.get("id") or new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": doc.get("model"),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},  # known at the end of the stream
        }
        return _frame("message_start", {"type": "message_start", "message": message})

    def _delta(self, delta: Json) -> list[SseEvent]:
        frames: list[SseEvent] = []
        text = delta.get("content") or delta.get("refusal")
        if delta.get("refusal"):
            self.refused = True
        if text:
            if self.block is None or self.block[0] != "text":
                frames += self._open("text", {"type": "text", "text": ""})
            text_delta = {"type": "text_delta", "text": text}
            frames.append(self._block_delta(text_delta))
        for call in delta.get("tool_calls") or []:
            position = call.get("index", 0)
            function = call.get("function") or {}
            if position not in self.tools:
                block = {"type": "tool_use", "id": call.get("id"), "name": function.get("name")}
                frames += self._open("tool", {**block, "input": {}})
                self.tools[position] = self.blocks - 1
            if function.get("arguments"):
                json_delta = {"type": "input_json_delta", "partial_json": function["arguments"]}
                frames.append(self._block_delta(json_delta, self.tools[position]))
        return frames

    def _open(self, kind: str, block: Json) -> list[SseEvent]:
        frames = self._close()
        self.block = (kind, self.blocks)
        start = {"type": "content_block_start", "index": self.blocks, "content_block": block}
        self.blocks += 1
        return [*frames, _frame("content_block_start", start)]

    def _close(self) -> list[SseEvent]:
        if self.block is None:
            return []
        index, self.block = self.block[1], None
        return [_frame("content_block_stop", {"type": "content_block_stop", "index": index})]

    def _block_delta(self, delta: Json, index: int | None = None) -> SseEvent:
        at = index if index is not None else self.blocks - 1
        data = {"type": "content_block_delta", "index": at, "delta": delta}
        return _frame("content_block_delta", data)

    def finish(self) -> list[SseEvent]:
        """The provider's stream ended: close the message if no ``[DONE]`` did (some
        OpenAI-compatible servers omit it)."""
        return self._end() if self.started and not self.ended else []

    def _end(self) -> list[SseEvent]:
        self.ended = True
        stop = "refusal" if self.refused else FINISH_TO_STOP.get(self.finish_reason, "end_turn")
        delta = {"stop_reason": stop, "stop_sequence": None}
        usage = anthropic_usage(self.usage)
        frames = self._close()
        frames.append(
            _frame("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        )
        frames.append(_frame("message_stop", {"type": "message_stop"}))
        return frames


class TranslatedStream:
    """An upstream stream seen in the client's protocol. The provider's own events are kept in
    ``native`` for billing."""

    def __init__(self, upstream: Any, translator: Any, native: list[Json]) -> None:
        self.upstream = upstream
        self.translator = translator
        self.native = native

    async def events(self) -> AsyncIterator[SseEvent]:
        async for event in self.upstream.events():
            doc = event_json(event)
            if doc is not None:
                self.native.append(doc)
            for frame in self._translated(self.translator.feed, event, doc):
                yield frame
        for frame in self._translated(self.translator.finish):
            yield frame

    @staticmethod
    def _translated(step: Any, *args: Any) -> list[SseEvent]:
        """An event of a shape the protocol does not define cannot be carried on faithfully: the
        stream ends as a malformed one (reported in-band, not billed)."""
        try:
            return step(*args)
        except ANSWER_ERRORS as exc:
            raise MalformedAnswer(
                f"an untranslatable stream event ({type(exc).__name__})"
            ) from None

    async def close(self) -> None:
        await self.upstream.close()


def translate_stream(endpoint: str, wants_usage_chunk: bool, upstream: Any, native: list[Json]):
    """Wrap ``upstream`` so it yields events of the client's ``endpoint`` protocol."""
    if endpoint == "chat.completions":
        translator: Any = MessagesToChatStream(wants_usage_chunk)
    else:
        translator = ChatToMessagesStream()
    return TranslatedStream(upstream, translator, native)


class CheckedStream:
    """An upstream stream whose every JSON event is checked against its protocol
    (``MalformedAnswer`` ends the stream) before it is relayed, translated or billed."""

    def __init__(self, upstream: Any, protocol: str) -> None:
        self.upstream = upstream
        self.protocol = protocol

    async def events(self) -> AsyncIterator[SseEvent]:
        async for event in self.upstream.events():
            doc = event_json(event)
            if doc is not None:
                check_event(self.protocol, doc)
            yield event

    async def close(self) -> None:
        await self.upstream.close()


def client_stream(call: Any, plan: Any, upstream: Any) -> Any:
    """The upstream stream, checked, in the client's protocol (billing reads
    ``context[NATIVE_EVENTS]`` when translated)."""
    checked = CheckedStream(upstream, upstream_of(plan))
    if not is_translated(plan):
        return checked
    native: list[Json] = []
    plan.context[NATIVE_EVENTS] = native
    return translate_stream(plan.endpoint, call.wants_usage_chunk, checked, native)
