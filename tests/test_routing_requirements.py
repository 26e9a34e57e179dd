"""Requirements from request shapes: capabilities, limits and the estimated usage."""

from __future__ import annotations

import math

import pytest

from byokvault.engine.catalog.load import Taxonomy, load_catalog
from byokvault.engine.paths import BUNDLED_CATALOG
from byokvault.engine.routing.requirements import (
    CHARS_PER_TOKEN,
    DEFAULT_OUTPUT_TOKENS,
    IMAGE_TOKENS,
    RequestError,
    requirements_for,
)


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_catalog(BUNDLED_CATALOG).taxonomy


IMG = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
ANTHROPIC_IMG = {
    "type": "image",
    "source": {"type": "base64", "media_type": "image/png", "data": "x"},
}
FN_TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}

CASES = [
    ("plain chat", {"messages": [{"role": "user", "content": "hi"}]}, {"text.chat"}),
    (
        "one image",
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "what?"}, IMG]}]},
        {"text.chat", "vision.single_image"},
    ),
    (
        "two images",
        {"messages": [{"role": "user", "content": [IMG, IMG]}]},
        {"text.chat", "vision.multi_image"},
    ),
    (
        "tools",
        {"messages": [{"role": "user", "content": "x"}], "tools": [FN_TOOL]},
        {"text.chat", "tools.function_calling"},
    ),
    (
        "parallel tools",
        {"messages": [], "tools": [FN_TOOL], "parallel_tool_calls": True},
        {"text.chat", "tools.function_calling", "tools.parallel_calls"},
    ),
    (
        "json schema",
        {"messages": [], "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
        {"text.chat", "structured_output.json_schema"},
    ),
    (
        "json mode",
        {"messages": [], "response_format": {"type": "json_object"}},
        {"text.chat", "structured_output.json_mode"},
    ),
    (
        "openai reasoning effort",
        {"messages": [], "reasoning_effort": "high"},
        {"text.chat", "reasoning.adaptive_thinking"},
    ),
    ("reasoning effort none", {"messages": [], "reasoning_effort": "none"}, {"text.chat"}),
    (
        "anthropic extended thinking",
        {
            "system": "be brief",
            "max_tokens": 2048,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "user", "content": [ANTHROPIC_IMG]}],
        },
        {"text.chat", "reasoning.extended_thinking", "vision.single_image"},
    ),
    (
        "anthropic adaptive thinking",
        {"thinking": {"type": "adaptive"}, "messages": [], "max_tokens": 10},
        {"text.chat", "reasoning.adaptive_thinking"},
    ),
    (
        "anthropic tool (no type) and pdf",
        {
            "system": "s",
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "document", "source": {"type": "base64", "data": "x"}}],
                }
            ],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        },
        {"text.chat", "tools.function_calling", "vision.pdf"},
    ),
    (
        "audio in and out",
        {
            "modalities": ["text", "audio"],
            "audio": {"voice": "alloy", "format": "wav"},
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "input_audio", "input_audio": {"data": "x"}}],
                }
            ],
        },
        {"text.chat", "audio.input", "audio.output"},
    ),
    (
        "responses api",
        {
            "model": "m",
            "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}],
            "reasoning": {"effort": "low"},
            "text": {"format": {"type": "json_schema", "schema": {}}},
            "tools": [{"type": "web_search_preview"}],
        },
        {
            "text.chat",
            "vision.single_image",
            "reasoning.adaptive_thinking",
            "structured_output.json_schema",
            "search.web",
        },
    ),
    ("embeddings", {"model": "text-embedding-3-small", "input": ["a", "b"]}, {"embeddings.text"}),
    ("image generation", {"prompt": "a cat", "size": "1024x1024"}, {"image.generation"}),
    ("inpaint", {"prompt": "p", "image": "img", "mask": "m"}, {"image.edit.inpaint"}),
    ("composite", {"prompt": "p", "image": ["a", "b", "c"]}, {"image.edit.composite"}),
    ("single image edit", {"prompt": "p", "image": "a"}, {"image.edit"}),
    ("transcription", {"file": "a.wav", "model": "whisper-1"}, {"audio.transcription"}),
    ("speech", {"input": "hello", "voice": "alloy"}, {"audio.speech"}),
    ("realtime voice", {"session": {"modalities": ["audio", "text"]}}, {"realtime.voice"}),
]


@pytest.mark.parametrize(("name", "body", "caps"), CASES, ids=[c[0] for c in CASES])
def test_shape_gives_capabilities(name: str, body: dict, caps: set[str], taxonomy: Taxonomy):
    assert set(requirements_for(body, taxonomy).capabilities) == caps


def test_every_derived_capability_is_in_the_taxonomy(taxonomy: Taxonomy) -> None:
    derived = set().union(*(requirements_for(b, taxonomy).capabilities for _, b, _ in CASES))
    assert derived <= set(taxonomy.capabilities)


def test_token_estimate_is_chars_over_four_plus_images(taxonomy: Taxonomy) -> None:
    text = "x" * 401
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": text}, IMG, IMG]}]}
    req = requirements_for(body, taxonomy)
    assert req.input_tokens == math.ceil(401 / CHARS_PER_TOKEN) + 2 * IMAGE_TOKENS
    assert req.images == 2
    assert req.output_tokens is None
    assert req.usage_dict() == {
        "input_tokens": req.input_tokens,
        "output_tokens": DEFAULT_OUTPUT_TOKENS,
    }


@pytest.mark.parametrize("key", ["max_tokens", "max_completion_tokens", "max_output_tokens"])
def test_requested_output_is_the_cap(key: str, taxonomy: Taxonomy) -> None:
    req = requirements_for({"messages": [], key: 777}, taxonomy)
    assert req.output_tokens == 777
    assert req.usage_dict()["output_tokens"] == 777


def test_explicit_capabilities_and_aliases_combine_with_shape(taxonomy: Taxonomy) -> None:
    request = {
        "capabilities": ["json schema", "reasoning.extended_thinking"],
        "body": {"messages": [{"role": "user", "content": [IMG]}]},
    }
    caps = requirements_for(request, taxonomy).capabilities
    assert caps == {
        "text.chat",
        "vision.single_image",
        "structured_output.json_schema",
        "reasoning.extended_thinking",
    }
    alone = requirements_for({"capabilities": ["inpainting", "Vision"]}, taxonomy)
    assert alone.capabilities == {"image.edit.inpaint", "vision.single_image"}


def test_batch_sets_capability_and_price_tier(taxonomy: Taxonomy) -> None:
    req = requirements_for({"batch": True, "body": {"messages": []}}, taxonomy)
    assert "batch" in req.capabilities
    assert req.context_dict() == {"service_tier": "batch"}


def test_image_generation_usage_and_context(taxonomy: Taxonomy) -> None:
    req = requirements_for({"prompt": "p", "n": 3, "size": "512x512", "quality": "hd"}, taxonomy)
    assert req.usage_dict() == {"output_images": 3}
    assert req.context_dict() == {"image_size": "512x512", "image_quality": "hd"}


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"capabilities": ["teleportation"]}, "capabilities"),
        ({"capabilities": "vision"}, "capabilities"),
        ({"endpoint": "fax", "body": {}}, "endpoint"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
        ({"messages": [], "max_tokens": -1}, "max_tokens"),
        ({"messages": "hi"}, "messages"),
        ({"mystery": 1}, ""),
    ],
)
def test_bad_requests_name_the_field(request_: dict, field: str, taxonomy: Taxonomy) -> None:
    with pytest.raises(RequestError) as info:
        requirements_for(request_, taxonomy)
    assert info.value.field == field


def test_embeddings_usage_is_embedding_tokens(taxonomy: Taxonomy) -> None:
    req = requirements_for({"model": "text-embedding-3-small", "input": "x" * 40}, taxonomy)
    assert req.usage_dict() == {"embedding_tokens": 10}
