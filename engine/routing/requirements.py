"""What a request needs, read from its shape: capabilities, limits and an estimated usage.

A request reaches routing as an OpenAI-style body (chat completions, responses, embeddings,
images, audio, realtime, batch) or an Anthropic messages body, optionally wrapped with explicit
capability words (ids or human aliases) and an endpoint name. Everything is folded into one
:class:`Requirements`, the only thing the route query and the fast path look at.

Mappings that are judgement calls, stated once here:

- Image parts: one → ``vision.single_image``, two or more → ``vision.multi_image``. A PDF /
  document part → ``vision.pdf``; a video part → ``video.input``; an ``input_audio`` part →
  ``audio.input``; ``modalities`` containing ``audio`` (or an ``audio`` output config) →
  ``audio.output``.
- Tools: any function tool → ``tools.function_calling``; ``parallel_tool_calls: true`` stated
  explicitly → ``tools.parallel_calls`` (the OpenAI default is not treated as a requirement:
  a model without parallel calls still serves the request, one call per turn); a built-in web
  search tool → ``search.web``.
- ``response_format`` / responses ``text.format`` / Anthropic ``output_format`` of type
  ``json_schema`` → ``structured_output.json_schema``; ``json_object`` →
  ``structured_output.json_mode``.
- Reasoning: Anthropic ``thinking: {type: enabled, budget_tokens: N}`` — the caller sets the
  budget — → ``reasoning.extended_thinking``; ``thinking: {type: adaptive}``, OpenAI
  ``reasoning_effort`` / responses ``reasoning.effort`` (any level but ``none``) and a dynamic
  Gemini budget (``thinking_budget: -1``) — the model decides how long to think — →
  ``reasoning.adaptive_thinking``; a positive Gemini ``thinking_budget`` → extended.
- Image edit (``images.edits``): a ``mask`` → ``image.edit.inpaint``; two or more input images →
  ``image.edit.composite``; otherwise ``image.edit``.
- Batch (endpoint ``batch`` or ``"batch": true`` in the wrapper) → ``batch`` and the batch
  service tier for prices.

Estimated input tokens: ``ceil(characters / 4)`` over every text the model reads (messages,
system / instructions, tool definitions as compact JSON) plus :data:`IMAGE_TOKENS` per image.
Requested output: ``max_tokens`` / ``max_completion_tokens`` / ``max_output_tokens``; when the
body sets none, output limits are not checked and the cost estimate assumes
:data:`DEFAULT_OUTPUT_TOKENS`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..catalog.load import Taxonomy

CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 1_000  # a rough, deliberately generous figure for one image part
DEFAULT_OUTPUT_TOKENS = 1_024  # cost estimate only, when the request caps nothing
DEFAULT_AUDIO_SECONDS = 60  # transcription estimate when the wrapper does not say

# The base capability a model's mode stands for, so a catalog that records the mode but not
# the capability still routes. Loaded into SQL as a table; the single definition lives here.
MODE_CAPABILITIES: dict[str, tuple[str, ...]] = {
    "chat": ("text", "text.chat"),
    "responses": ("text", "text.chat"),
    "completion": ("text",),
    "embedding": ("embeddings", "embeddings.text"),
    "image_generation": ("image", "image.generation"),
    "image_edit": ("image", "image.edit"),
    "video_generation": ("video", "video.generation"),
    "audio_transcription": ("audio", "audio.transcription"),
    "audio_speech": ("audio", "audio.speech"),
    "realtime": ("realtime",),
}

ENDPOINTS = (
    "chat.completions",
    "responses",
    "messages",
    "embeddings",
    "images.generations",
    "images.edits",
    "audio.transcriptions",
    "audio.translations",
    "audio.speech",
    "realtime",
    "batch",
)

ENDPOINT_CAPABILITY: dict[str, str] = {
    "chat.completions": "text.chat",
    "responses": "text.chat",
    "messages": "text.chat",
    "embeddings": "embeddings.text",
    "images.generations": "image.generation",
    "audio.transcriptions": "audio.transcription",
    "audio.translations": "audio.translation",
    "audio.speech": "audio.speech",
}

WEB_SEARCH_TOOLS = ("web_search", "web_search_preview", "google_search")


class RequestError(ValueError):
    """A request body routing cannot read; ``field`` names where (dotted path)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


@dataclass(frozen=True)
class Requirements:
    """Everything the route needs from a request. Hashable: it is the fast path's cache key.

    ``usage`` is the estimated usage in pricing's vocabulary (genai-prices key names);
    ``output_tokens`` is what the caller capped (``None``: output limits unchecked)."""

    capabilities: frozenset[str] = frozenset()
    input_tokens: int = 0
    output_tokens: int | None = None
    images: int = 0
    usage: tuple[tuple[str, int], ...] = ()
    context: tuple[tuple[str, str], ...] = ()

    def usage_dict(self) -> dict[str, int]:
        return dict(self.usage)

    def context_dict(self) -> dict[str, str]:
        """Price-selecting context: service_tier, image_size, image_quality."""
        return dict(self.context)

    def with_capabilities(self, extra: Iterable[str]) -> Requirements:
        return Requirements(
            self.capabilities | frozenset(extra),
            self.input_tokens,
            self.output_tokens,
            self.images,
            self.usage,
            self.context,
        )


@dataclass
class _Shape:
    """Mutable accumulator while a body is read."""

    caps: set[str] = field(default_factory=set)
    chars: int = 0
    images: int = 0
    output_tokens: int | None = None
    usage: dict[str, int] = field(default_factory=dict)
    context: dict[str, str] = field(default_factory=dict)

    def text(self, value: Any) -> None:
        if isinstance(value, str):
            self.chars += len(value)
        elif value is not None:
            self.chars += len(json.dumps(value, separators=(",", ":"), default=str))


def requirements_for(
    request: Mapping[str, Any], taxonomy: Taxonomy, endpoint: str | None = None
) -> Requirements:
    """Requirements of a request file / API input.

    ``request`` is either a bare body, or a wrapper ``{"endpoint": ..., "body": {...},
    "capabilities": [...], "batch": bool, "audio_seconds": n}``; capability words may be ids or
    human aliases and combine with what the body's shape needs.
    """
    if not isinstance(request, Mapping):
        raise RequestError("", "a request must be a JSON object")
    wrapper_keys = {"body", "capabilities", "endpoint", "batch", "audio_seconds"}
    is_wrapper = bool(wrapper_keys & set(request)) and "messages" not in request
    body: Mapping[str, Any] = request.get("body", {}) if is_wrapper else request
    if not isinstance(body, Mapping):
        raise RequestError("body", "must be a JSON object")
    endpoint = endpoint or (request.get("endpoint") if is_wrapper else None)
    if endpoint is None and body:
        endpoint = guess_endpoint(body)
    if endpoint is not None and endpoint not in ENDPOINTS:
        raise RequestError("endpoint", f"unknown endpoint {endpoint!r}; one of {ENDPOINTS}")
    shape = _Shape()
    if body:
        _read_body(body, endpoint or "chat.completions", shape, request)
    if is_wrapper:
        words = request.get("capabilities", [])
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise RequestError("capabilities", "must be a list of capability ids or aliases")
        try:
            shape.caps |= taxonomy.resolve(words)
        except KeyError as exc:
            raise RequestError("capabilities", f"unknown capability {exc.args[0]!r}") from None
        if request.get("batch") is True:
            shape.caps.add("batch")
            shape.context["service_tier"] = "batch"
    unknown = sorted(c for c in shape.caps if c not in taxonomy.capabilities)
    if unknown:  # a body mapping names a capability the catalog's taxonomy lacks
        raise RequestError("", f"capabilities not in the taxonomy: {unknown}")
    return _finish(shape)


def _finish(shape: _Shape) -> Requirements:
    input_tokens = math.ceil(shape.chars / CHARS_PER_TOKEN) + IMAGE_TOKENS * shape.images
    usage = dict(shape.usage)
    for key in ("input_tokens", "embedding_tokens"):
        if key in usage:
            usage[key] = input_tokens
    if "output_tokens" in usage:
        usage["output_tokens"] = shape.output_tokens or DEFAULT_OUTPUT_TOKENS
    return Requirements(
        capabilities=frozenset(shape.caps),
        input_tokens=input_tokens,
        output_tokens=shape.output_tokens,
        images=shape.images,
        usage=tuple(sorted((k, v) for k, v in usage.items() if v)),
        context=tuple(sorted(shape.context.items())),
    )


def guess_endpoint(body: Mapping[str, Any]) -> str:
    """The endpoint a bare body was meant for, from the keys only that endpoint uses."""
    if "messages" in body:
        anthropic = "system" in body or "thinking" in body or _has_anthropic_blocks(body)
        return "messages" if anthropic else "chat.completions"
    if "mask" in body or ("image" in body and "prompt" in body):
        return "images.edits"
    if "prompt" in body and ("size" in body or "quality" in body or "n" in body or len(body) <= 2):
        return "images.generations"
    if "file" in body:
        return "audio.transcriptions"
    if "voice" in body and "input" in body:
        return "audio.speech"
    if "session" in body or body.get("type") == "realtime":
        return "realtime"
    if "input" in body:
        responses_keys = {"instructions", "tools", "reasoning", "text", "max_output_tokens"}
        if {"encoding_format", "dimensions"} & set(body) or not responses_keys & set(body):
            model = str(body.get("model", ""))
            if "embed" in model or {"encoding_format", "dimensions"} & set(body):
                return "embeddings"
        return "responses"
    raise RequestError("", "cannot tell which endpoint this body is for; pass an endpoint")


def _has_anthropic_blocks(body: Mapping[str, Any]) -> bool:
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, list):
            for part in content:
                if isinstance(part, Mapping) and part.get("type") in (
                    "tool_use",
                    "tool_result",
                    "document",
                ):
                    return True
                if isinstance(part, Mapping) and part.get("type") == "image" and "source" in part:
                    return True
    return False


# --- readers per endpoint --------------------------------------------------------------------


def _read_body(
    body: Mapping[str, Any], endpoint: str, shape: _Shape, wrapper: Mapping[str, Any]
) -> None:
    if endpoint in ENDPOINT_CAPABILITY:
        shape.caps.add(ENDPOINT_CAPABILITY[endpoint])
    if endpoint in ("chat.completions", "messages", "responses", "batch"):
        _read_chat(body, shape)
        if endpoint == "batch":
            shape.caps.add("batch")
            shape.context["service_tier"] = "batch"
    elif endpoint == "embeddings":
        _read_embeddings(body, shape)
    elif endpoint == "images.generations":
        shape.text(body.get("prompt"))
        shape.usage["output_images"] = _positive_int(body, "n", 1)
        _read_image_options(body, shape)
    elif endpoint == "images.edits":
        _read_image_edit(body, shape)
    elif endpoint in ("audio.transcriptions", "audio.translations"):
        seconds = wrapper.get("audio_seconds", DEFAULT_AUDIO_SECONDS)
        shape.usage["input_audio_seconds"] = _positive_int({"s": seconds}, "s", 1)
    elif endpoint == "audio.speech":
        text = body.get("input", "")
        shape.usage["input_characters"] = len(text) if isinstance(text, str) else 0
    elif endpoint == "realtime":
        _read_realtime(body, shape)


def _positive_int(body: Mapping[str, Any], key: str, default: int) -> int:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise RequestError(key, f"must be a positive integer, got {value!r}")
    return value


def _read_chat(body: Mapping[str, Any], shape: _Shape) -> None:
    shape.usage["input_tokens"] = 1
    shape.usage["output_tokens"] = 1
    key = "messages" if "messages" in body else "input"
    messages = body.get(key)
    if isinstance(messages, str) and key == "input":  # responses accept a bare string
        shape.text(messages)
    elif isinstance(messages, list):
        for i, message in enumerate(messages):
            if not isinstance(message, Mapping):
                raise RequestError(f"{key}.{i}", "must be an object")
            _read_content(message.get("content"), shape, f"{key}.{i}.content")
            if "type" in message and message.get("type") != "message":
                _read_part(message, shape)  # responses input items given flat
            shape.text(message.get("tool_calls"))
    elif messages is not None:
        raise RequestError(key, "must be a list of messages")
    for key in ("system", "instructions"):
        system = body.get(key)
        if isinstance(system, list):
            _read_content(system, shape, key)
        else:
            shape.text(system)
    if shape.images == 1:
        shape.caps.add("vision.single_image")
    elif shape.images > 1:
        shape.caps.add("vision.multi_image")
    _read_tools(body, shape)
    _read_format(body, shape)
    _read_reasoning(body, shape)
    _read_audio_out(body, shape)
    tier = body.get("service_tier")
    if tier in ("flex", "priority", "batch"):
        shape.context["service_tier"] = tier
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        if body.get(key) is not None:
            shape.output_tokens = _positive_int(body, key, 1)


def _read_content(content: Any, shape: _Shape, where: str) -> None:
    if content is None or isinstance(content, str):
        shape.text(content)
        return
    if not isinstance(content, list):
        raise RequestError(where, "must be a string or a list of content parts")
    for part in content:
        if isinstance(part, Mapping):
            _read_part(part, shape)
        else:
            shape.text(part)


def _read_part(part: Mapping[str, Any], shape: _Shape) -> None:
    kind = part.get("type")
    if kind in ("image_url", "input_image", "image"):
        shape.images += 1
    elif kind in ("input_audio", "audio"):
        shape.caps.add("audio.input")
    elif kind in ("document", "file", "input_file"):
        shape.caps.add("vision.pdf")
    elif kind in ("video_url", "input_video", "video"):
        shape.caps.add("video.input")
    elif kind in ("tool_result", "function_call_output"):
        shape.text(part.get("content", part.get("output")))
    elif kind in ("tool_use", "function_call"):
        shape.text(part.get("input", part.get("arguments")))
    else:
        shape.text(part.get("text"))


def _read_tools(body: Mapping[str, Any], shape: _Shape) -> None:
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise RequestError("tools", "must be a list")
    for tool in tools:
        if not isinstance(tool, Mapping):
            raise RequestError("tools", "each tool must be an object")
        kind = str(tool.get("type", "function"))
        if kind.startswith(WEB_SEARCH_TOOLS) or "google_search" in tool:
            shape.caps.add("search.web")
        else:  # function (OpenAI), custom / no type (Anthropic: name + input_schema)
            shape.caps.add("tools.function_calling")
            shape.text(tool)
    if body.get("parallel_tool_calls") is True and tools:
        shape.caps.add("tools.parallel_calls")


def _read_format(body: Mapping[str, Any], shape: _Shape) -> None:
    candidates = [body.get("response_format"), body.get("output_format")]
    text = body.get("text")
    if isinstance(text, Mapping):
        candidates.append(text.get("format"))
    for fmt in candidates:
        kind = fmt.get("type") if isinstance(fmt, Mapping) else None
        if kind == "json_schema":
            shape.caps.add("structured_output.json_schema")
            shape.text(fmt.get("json_schema", fmt.get("schema")))
        elif kind == "json_object":
            shape.caps.add("structured_output.json_mode")


def _read_reasoning(body: Mapping[str, Any], shape: _Shape) -> None:
    thinking = body.get("thinking")
    if isinstance(thinking, Mapping):
        kind = thinking.get("type")
        if kind == "enabled":
            shape.caps.add("reasoning.extended_thinking")
        elif kind == "adaptive":
            shape.caps.add("reasoning.adaptive_thinking")
    effort = body.get("reasoning_effort")
    reasoning = body.get("reasoning")
    if isinstance(reasoning, Mapping):
        effort = reasoning.get("effort", effort)
    if effort is not None and effort != "none":
        shape.caps.add("reasoning.adaptive_thinking")
    config = body.get("thinking_config")
    if isinstance(config, Mapping) and isinstance(config.get("thinking_budget"), int):
        budget = config["thinking_budget"]
        if budget < 0:
            shape.caps.add("reasoning.adaptive_thinking")
        elif budget > 0:
            shape.caps.add("reasoning.extended_thinking")


def _read_audio_out(body: Mapping[str, Any], shape: _Shape) -> None:
    modalities = body.get("modalities") or []
    if "audio" in modalities or isinstance(body.get("audio"), Mapping):
        shape.caps.add("audio.output")


def _read_embeddings(body: Mapping[str, Any], shape: _Shape) -> None:
    value = body.get("input")
    if value is None:
        raise RequestError("input", "an embeddings request needs input")
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        shape.chars += CHARS_PER_TOKEN * len(value)  # already tokens
    else:
        shape.text(value if isinstance(value, str) else list(value))
    shape.usage["embedding_tokens"] = 1  # the catalog prices embeddings on embedding_tokens


def _read_image_edit(body: Mapping[str, Any], shape: _Shape) -> None:
    images = body.get("image")
    count = len(images) if isinstance(images, list) else (1 if images else 0)
    if body.get("mask"):
        shape.caps.add("image.edit.inpaint")
    elif count > 1:
        shape.caps.add("image.edit.composite")
    else:
        shape.caps.add("image.edit")
    shape.text(body.get("prompt"))
    shape.usage["input_images"] = count
    shape.usage["output_images"] = _positive_int(body, "n", 1)
    _read_image_options(body, shape)


def _read_image_options(body: Mapping[str, Any], shape: _Shape) -> None:
    for key in ("size", "quality"):
        if isinstance(body.get(key), str):
            shape.context[f"image_{key}"] = body[key]


def _read_realtime(body: Mapping[str, Any], shape: _Shape) -> None:
    session = body.get("session", body)
    modalities = session.get("modalities") or session.get("output_modalities") or ["text"]
    shape.caps.add("realtime.voice" if "audio" in modalities else "realtime.text")
    shape.text(session.get("instructions"))
    shape.usage["input_tokens"] = 1
    shape.usage["output_tokens"] = 1
