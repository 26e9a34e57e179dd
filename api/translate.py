"""Translation between OpenAI Chat Completions and Anthropic Messages, both ways: requests and
whole answers here, streamed answers in ``api.translate_stream``.

A client speaking one protocol can be served by a provider speaking the other: the request is
rewritten for the provider, the provider's answer (or its SSE events) rewritten for the client.
Billing never reads a translation: usage is extracted from the provider's native answer.

Faithful or refused: every request field is either mapped to an equivalent or the request is
``Untranslatable`` with a reason code (``untranslatable:<feature>``), and routing excludes the
candidate instead of silently dropping what the client asked for. Deliberate choices:

- Anthropic ``cache_control`` markers are dropped going to OpenAI: OpenAI caches prompt prefixes
  automatically (a cost hint, not semantics); cache reads come back as ``cache_read_input_tokens``.
- OpenAI chat without ``max_tokens`` gets the model's catalog ``max_output_tokens`` (Anthropic
  requires a cap; OpenAI's default is the model's own limit); unknown limit: untranslatable.
- Anthropic ``stop_sequences`` are refused going to OpenAI: its ``finish_reason: stop`` does not say
  whether (or which) sequence matched, so ``stop_reason``/``stop_sequence`` could not be given.
- An image's OpenAI ``detail`` hint has no Anthropic equivalent and is dropped (it changes OpenAI's
  token count, not the answer); unknown fields and every other feature are refused.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import msgspec

from .protocols import UPSTREAM_KEY

Json = dict[str, Any]

TRANSLATED_BODY = "translated_body"  # CallPlan.context: the body sent to the provider
OPENAI_MAX_STOPS = 4


class Untranslatable(ValueError):
    """A request feature with no faithful equivalent in the other protocol."""

    def __init__(self, feature: str, why: str) -> None:
        super().__init__(f"{feature}: {why}")
        self.feature = feature
        self.why = why

    @property
    def reason(self) -> str:
        """The routing exclusion reason code."""
        return f"untranslatable:{self.feature}"


def translate_request(
    endpoint: str, upstream: str, body: Json, *, api_style: str, max_output_tokens: int | None
) -> Json:
    """The client's ``endpoint`` body as the provider's ``upstream`` body (model left as sent).
    A body too malformed to read is untranslatable too (the provider would refuse it)."""
    try:
        return _translate(endpoint, upstream, body, api_style, max_output_tokens)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
        if isinstance(exc, Untranslatable):
            raise
        raise Untranslatable("body", f"malformed ({type(exc).__name__}: {exc})") from None


def check(endpoint: str, upstream: str, body: Json) -> Untranslatable | None:
    """Why ``body`` cannot be sent to an ``upstream`` provider (None: it can). The output cap is
    model-specific and checked once a model is chosen."""
    try:
        translate_request(endpoint, upstream, body, api_style="openai", max_output_tokens=1)
    except Untranslatable as exc:
        return exc
    return None


def _translate(endpoint: str, upstream: str, body: Json, api_style: str, cap: int | None) -> Json:
    if (endpoint, upstream) == ("messages", "chat.completions"):
        return messages_to_chat(body, api_style)
    if (endpoint, upstream) == ("chat.completions", "messages"):
        return chat_to_messages(body, cap)
    raise Untranslatable("endpoint", f"no translation from {endpoint} to {upstream}")


def _refuse_unknown(body: Json, known: frozenset[str], defaults: Json) -> None:
    for key, value in body.items():
        if key in known or (key in defaults and value == defaults[key]):
            continue
        raise Untranslatable(key, "has no equivalent in the provider's protocol")


# -- Anthropic Messages request → OpenAI Chat Completions -------------------------------------
_MESSAGES_KNOWN = frozenset(
    {"model", "messages", "max_tokens", "system", "temperature", "top_p", "stream", "tools"}
    | {"tool_choice", "metadata", "cache_control"}  # cache markers: see the module docstring
)
_MESSAGES_DEFAULTS: Json = {"stop_sequences": [], "service_tier": "auto"}


def messages_to_chat(body: Json, api_style: str) -> Json:
    _refuse_unknown(body, _MESSAGES_KNOWN, _MESSAGES_DEFAULTS)
    out: Json = {"model": body["model"]}
    cap = "max_completion_tokens" if api_style == "openai" else "max_tokens"
    out[cap] = body["max_tokens"]
    messages: list[Json] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": _system_text(system)})
    for index, message in enumerate(body["messages"]):
        messages += _anthropic_message_to_chat(message, f"messages.{index}")
    out["messages"] = messages
    for key in ("temperature", "top_p", "stream"):
        if key in body:
            out[key] = body[key]
    user = (body.get("metadata") or {}).get("user_id")
    if user:
        out["user"] = user
    if body.get("tools"):
        out["tools"] = [_anthropic_tool_to_chat(tool) for tool in body["tools"]]
    if body.get("tool_choice"):
        out.update(_anthropic_tool_choice(body["tool_choice"]))
    return out


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    texts = []
    for block in system:
        if not isinstance(block, dict) or block.get("type") != "text":
            raise Untranslatable("system", "only text blocks translate")
        texts.append(block["text"])
    return "\n\n".join(texts)


def _anthropic_message_to_chat(message: Json, where: str) -> list[Json]:
    role, content = message.get("role"), message.get("content")
    if role not in ("user", "assistant"):
        raise Untranslatable(f"{where}.role", f"role {role!r}")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if role == "assistant":
        return [_anthropic_assistant_to_chat(content, where)]
    tool_messages: list[Json] = []
    parts: list[Json] = []
    for block in content:
        kind = block.get("type")
        if kind == "tool_result":
            tool_messages.append(_tool_result_to_chat(block, where))
        elif kind == "text":
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "image":
            parts.append(_anthropic_image_to_chat(block["source"], where))
        else:
            raise Untranslatable(f"{where}.content.{kind}", "no Chat Completions equivalent")
    # OpenAI wants each tool answer right after the assistant turn that called the tool.
    return tool_messages + ([{"role": "user", "content": parts}] if parts else [])


def _anthropic_assistant_to_chat(content: list[Json], where: str) -> Json:
    texts: list[str] = []
    calls: list[Json] = []
    for block in content:
        kind = block.get("type")
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            arguments = json.dumps(block.get("input") or {}, separators=(",", ":"))
            function = {"name": block["name"], "arguments": arguments}
            calls.append({"id": block["id"], "type": "function", "function": function})
        else:
            raise Untranslatable(f"{where}.content.{kind}", "no Chat Completions equivalent")
    out: Json = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        out["tool_calls"] = calls
    return out


def _tool_result_to_chat(block: Json, where: str) -> Json:
    if block.get("is_error"):
        raise Untranslatable(f"{where}.tool_result.is_error", "OpenAI tool results have no flag")
    content = block.get("content") or ""
    if not isinstance(content, str):
        if any(part.get("type") != "text" for part in content):
            raise Untranslatable(f"{where}.tool_result.content", "only text translates")
        content = "".join(part["text"] for part in content)
    return {"role": "tool", "tool_call_id": block["tool_use_id"], "content": content}


def _anthropic_image_to_chat(source: Json, where: str) -> Json:
    if source.get("type") == "base64":
        url = f"data:{source['media_type']};base64,{source['data']}"
    elif source.get("type") == "url":
        url = source["url"]
    else:
        raise Untranslatable(f"{where}.image.source", f"source {source.get('type')!r}")
    return {"type": "image_url", "image_url": {"url": url}}


def _anthropic_tool_to_chat(tool: Json) -> Json:
    if tool.get("type", "custom") != "custom":
        raise Untranslatable(f"tools.{tool['type']}", "a server tool runs at Anthropic only")
    function = {"name": tool["name"], "parameters": tool.get("input_schema") or {}}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _anthropic_tool_choice(choice: Json) -> Json:
    kind = choice.get("type")
    mapped: Any = {"auto": "auto", "any": "required", "none": "none"}.get(kind)
    if kind == "tool":
        mapped = {"type": "function", "function": {"name": choice["name"]}}
    if mapped is None:
        raise Untranslatable("tool_choice", f"type {kind!r}")
    out: Json = {"tool_choice": mapped}
    if choice.get("disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False
    return out


# -- OpenAI Chat Completions request → Anthropic Messages -------------------------------------
_CHAT_KNOWN = frozenset(
    {"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p"}
    | {"stream", "stream_options", "stop", "tools", "tool_choice", "parallel_tool_calls", "user"}
)
_CHAT_DEFAULTS: Json = {
    "n": 1,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "logprobs": False,
    "store": False,
    "modalities": ["text"],
    "response_format": {"type": "text"},
    "service_tier": "auto",
}


def chat_to_messages(body: Json, max_output_tokens: int | None) -> Json:
    _refuse_unknown(body, _CHAT_KNOWN, _CHAT_DEFAULTS)
    cap = body.get("max_completion_tokens") or body.get("max_tokens") or max_output_tokens
    if not cap:
        raise Untranslatable("max_tokens", "Anthropic needs a cap and the model's is unknown")
    out: Json = {"model": body["model"], "max_tokens": cap}
    system, messages = _chat_messages_to_anthropic(body["messages"])
    if system:
        out["system"] = system
    out["messages"] = messages
    temperature = body.get("temperature")
    if temperature is not None:
        if temperature > 1:
            raise Untranslatable("temperature", "Anthropic's range ends at 1")
        out["temperature"] = temperature
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    if body.get("stream"):
        out["stream"] = True
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("user"):
        out["metadata"] = {"user_id": body["user"]}
    if body.get("tools"):
        out["tools"] = [_chat_tool_to_anthropic(tool) for tool in body["tools"]]
    choice = _chat_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice and body.get("tools"):
        out["tool_choice"] = choice
    return out


def _chat_messages_to_anthropic(messages: list[Json]) -> tuple[str, list[Json]]:
    system: list[str] = []
    turns: list[Json] = []
    for index, message in enumerate(messages):
        where = f"messages.{index}"
        role = message.get("role")
        if role in ("system", "developer"):
            if turns:
                raise Untranslatable(f"{where}.role", "a system message after the conversation")
            system.append(_chat_text(message.get("content"), where))
        elif role == "user":
            _append(turns, "user", _chat_user_blocks(message.get("content"), where))
        elif role == "assistant":
            _append(turns, "assistant", _chat_assistant_blocks(message, where))
        elif role == "tool":
            content = _chat_text(message.get("content"), where)
            result = {"type": "tool_result", "tool_use_id": message["tool_call_id"]}
            _append(turns, "user", [{**result, "content": content}])
        else:
            raise Untranslatable(f"{where}.role", f"role {role!r}")
    return "\n\n".join(system), turns


def _append(turns: list[Json], role: str, blocks: list[Json]) -> None:
    """Consecutive turns of one role become one (Anthropic alternates user and assistant)."""
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"] += blocks
    else:
        turns.append({"role": role, "content": blocks})


def _chat_text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if any(part.get("type") != "text" for part in content):
        raise Untranslatable(f"{where}.content", "only text parts translate here")
    return "".join(part["text"] for part in content)


def _chat_user_blocks(content: Any, where: str) -> list[Json]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks: list[Json] = []
    for part in content or []:
        kind = part.get("type")
        if kind == "text":
            blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(_chat_image_to_anthropic(part["image_url"]["url"], where))
        else:
            raise Untranslatable(f"{where}.content.{kind}", "no Anthropic Messages equivalent")
    return blocks


def _chat_image_to_anthropic(url: str, where: str) -> Json:
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type, _, encoding = header[5:].partition(";")
        if encoding != "base64":
            raise Untranslatable(f"{where}.image_url", "a data URL that is not base64")
        source = {"type": "base64", "media_type": media_type, "data": data}
    else:
        source = {"type": "url", "url": url}
    return {"type": "image", "source": source}


def _chat_assistant_blocks(message: Json, where: str) -> list[Json]:
    if message.get("function_call") or message.get("audio"):
        raise Untranslatable(f"{where}.function_call", "legacy function calls and audio")
    text = _chat_text(message.get("content"), where)
    blocks: list[Json] = [{"type": "text", "text": text}] if text else []
    for call in message.get("tool_calls") or []:
        if call.get("type", "function") != "function":
            raise Untranslatable(f"{where}.tool_calls", f"type {call.get('type')!r}")
        try:
            arguments = json.loads(call["function"].get("arguments") or "{}")
        except ValueError:
            raise Untranslatable(f"{where}.tool_calls.arguments", "not JSON") from None
        tool_use = {"type": "tool_use", "id": call["id"], "name": call["function"]["name"]}
        blocks.append({**tool_use, "input": arguments})
    return blocks


def _chat_tool_to_anthropic(tool: Json) -> Json:
    if tool.get("type") != "function":
        raise Untranslatable(f"tools.{tool.get('type')}", "only function tools translate")
    function = tool["function"]
    if function.get("strict"):
        raise Untranslatable("tools.strict", "Anthropic does not enforce the schema strictly")
    schema = function.get("parameters") or {"type": "object", "properties": {}}
    out: Json = {"name": function["name"], "input_schema": schema}
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _chat_tool_choice(choice: Any, parallel: Any) -> Json | None:
    if choice is None and parallel is not False:
        return None
    if isinstance(choice, dict):
        mapped: Json = {"type": "tool", "name": choice["function"]["name"]}
    else:
        kind = {None: "auto", "auto": "auto", "required": "any", "none": "none"}.get(choice)
        if kind is None:
            raise Untranslatable("tool_choice", f"{choice!r}")
        mapped = {"type": kind}
    if parallel is False and mapped["type"] != "none":
        mapped["disable_parallel_tool_use"] = True
    return mapped


# -- answers ------------------------------------------------------------------------------------
STOP_TO_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
FINISH_TO_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def translate_answer(endpoint: str, answer: Json) -> Json:
    """The provider's whole answer in the client's protocol (``endpoint`` is the client's)."""
    if endpoint == "chat.completions":
        return message_to_chat(answer)
    return chat_to_message(answer)


def message_to_chat(answer: Json) -> Json:
    """An Anthropic message as an OpenAI chat completion."""
    texts = []
    calls = []
    for block in answer.get("content") or []:
        if block.get("type") == "text":
            texts.append(block["text"])
        elif block.get("type") == "tool_use":
            arguments = json.dumps(block.get("input") or {}, separators=(",", ":"))
            function = {"name": block["name"], "arguments": arguments}
            calls.append({"id": block["id"], "type": "function", "function": function})
    message: Json = {"role": "assistant", "content": "".join(texts) or None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    finish = STOP_TO_FINISH.get(answer.get("stop_reason") or "end_turn", "stop")
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    return {
        "id": answer.get("id") or new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.get("model"),
        "choices": [choice],
        "usage": chat_usage(answer.get("usage") or {}),
    }


def chat_usage(usage: Json) -> Json:
    """Anthropic usage in OpenAI's terms: prompt tokens include cache reads and writes."""
    cached = usage.get("cache_read_input_tokens") or 0
    prompt = (usage.get("input_tokens") or 0) + (usage.get("cache_creation_input_tokens") or 0)
    prompt += cached
    completion = usage.get("output_tokens") or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def chat_to_message(answer: Json) -> Json:
    """An OpenAI chat completion as an Anthropic message."""
    choice = (answer.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    blocks: list[Json] = []
    text = message.get("content") or message.get("refusal")
    if text:
        blocks.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        tool_use = {"type": "tool_use", "id": call["id"], "name": function.get("name")}
        blocks.append({**tool_use, "input": _json_or_raw(function.get("arguments"))})
    finish = choice.get("finish_reason") or "stop"
    stop = "refusal" if message.get("refusal") else FINISH_TO_STOP.get(finish, "end_turn")
    return {
        "id": answer.get("id") or new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": answer.get("model"),
        "content": blocks,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": anthropic_usage(answer.get("usage") or {}),
    }


def anthropic_usage(usage: Json) -> Json:
    """OpenAI usage in Anthropic's terms: input tokens exclude the cache reads."""
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return {
        "input_tokens": (usage.get("prompt_tokens") or 0) - cached,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": usage.get("completion_tokens") or 0,
    }


def _json_or_raw(arguments: Any) -> Any:
    try:
        return json.loads(arguments or "{}")
    except ValueError:
        return {"arguments": arguments}  # the provider's malformed arguments, kept visible


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


# -- the gateway's seams ------------------------------------------------------------------------
def is_translated(plan: Any) -> bool:
    return UPSTREAM_KEY in plan.context


def client_answer(plan: Any, answer: Json, content: bytes) -> bytes:
    """The bytes the client gets: the provider's as sent, or translated to the client's protocol."""
    if not is_translated(plan):
        return content
    return msgspec.json.encode(translate_answer(plan.endpoint, answer))
