import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from byokvault.engine.catalog.store import open_catalog
from byokvault.engine.pricing import extract
from byokvault.engine.pricing.cost import price_usage
from byokvault.engine.pricing.index import PriceIndex
from byokvault.engine.pricing.usage import Usage

FIXTURES = Path(__file__).parent / "fixtures" / "pricing"


def load(name: str):
    text = (FIXTURES / name).read_text()
    return text if name.endswith(".sse") else json.loads(text, parse_float=Decimal)


# fixture, extractor, expected non-zero quantities (derived by hand from the body), tier
CASES = [
    (
        "openai_chat.json",
        "openai.chat",
        {"input_tokens": 1117, "cache_read_tokens": 1024, "output_tokens": 46},
        "standard",
    ),
    (
        "openai_chat_reasoning_flex.json",
        "openai.chat",
        {"input_tokens": 75, "output_tokens": 1186, "output_reasoning_tokens": 1024},
        "flex",
    ),
    (
        "openai_chat_audio.json",
        "openai.chat",
        {
            "input_tokens": 280,
            "input_audio_tokens": 240,
            "output_tokens": 150,
            "output_audio_tokens": 120,
        },
        "standard",
    ),
    (
        "openai_chat_stream.sse",
        "openai.chat.stream",
        {"input_tokens": 9, "output_tokens": 12},
        "standard",
    ),
    (
        "openai_responses.json",
        "openai.responses",
        {"input_tokens": 328, "cache_read_tokens": 128, "output_tokens": 52, "web_searches": 1},
        "standard",
    ),
    (
        "anthropic_messages.json",
        "anthropic.messages",
        {
            "input_tokens": 21 + 2051 + 3000,  # Anthropic's input_tokens excludes the cache
            "cache_read_tokens": 3000,
            "cache_write_tokens": 2051,
            "cache_write_5m_tokens": 2000,
            "cache_write_1h_tokens": 51,
            "output_tokens": 393,
            "web_searches": 2,
        },
        "standard",
    ),
    (
        "anthropic_stream.sse",
        "anthropic.messages.stream",
        {"input_tokens": 1225, "cache_read_tokens": 1200, "output_tokens": 15},
        "standard",
    ),
    (
        "gemini.json",
        "gemini",
        {
            "input_tokens": 1500,
            "cache_read_tokens": 1024,
            "input_audio_tokens": 300,
            "output_tokens": 320 + 800,  # thoughts are reported beside the candidates
            "output_reasoning_tokens": 800,
        },
        "standard",
    ),
    (
        "gemini_image.json",
        "gemini",
        {"input_tokens": 12, "output_tokens": 1290, "output_image_tokens": 1290},
        "standard",
    ),
    ("ollama_chat.json", "ollama", {"input_tokens": 26, "output_tokens": 298}, "standard"),
    (
        "vllm_chat.json",
        "openai.chat",
        {"input_tokens": 512, "cache_read_tokens": 496, "output_tokens": 28},
        "standard",
    ),
    ("openai_embeddings.json", "openai.embeddings", {"embedding_tokens": 8}, "standard"),
    ("openai_images_dalle3.json", "openai.images", {"output_images": 1}, "standard"),
    (
        "openai_images_gpt_image.json",
        "openai.images",
        {"input_tokens": 400, "input_image_tokens": 350, "output_images": 2},
        "standard",
    ),
]


@pytest.mark.parametrize(("fixture", "extractor", "expected", "tier"), CASES)
def test_extraction_from_real_response_shapes(fixture, extractor, expected, tier) -> None:
    got = extract.EXTRACTORS[extractor](load(fixture))
    quantities = got.usage.quantities()
    quantities.pop("requests")
    assert quantities == expected
    assert got.context.service_tier == tier


def test_model_names_and_image_context() -> None:
    assert extract.openai_chat(load("openai_chat.json")).model == "gpt-4o-2024-08-06"
    assert extract.gemini(load("gemini.json")).model == "gemini-2.5-flash"
    assert extract.anthropic_stream(load("anthropic_stream.sse")).model.startswith("claude-opus")
    got = extract.image_generation(
        load("openai_images_dalle3.json"),
        {"model": "dall-e-3", "size": "1024x1792", "quality": "hd"},
    )
    assert (got.model, got.context.image_size, got.context.image_quality) == (
        "dall-e-3",
        "1024x1792",
        "hd",
    )
    got = extract.image_generation(load("openai_images_gpt_image.json"))
    assert (got.context.image_size, got.context.image_quality) == ("1024x1536", "high")


@pytest.mark.parametrize(
    ("fixture", "provider_id", "extractor", "api_flavor"),
    [
        ("openai_chat.json", "openai", "openai.chat", "chat"),
        ("openai_chat_reasoning_flex.json", "openai", "openai.chat", "chat"),
        ("openai_responses.json", "openai", "openai.responses", "responses"),
        ("anthropic_messages.json", "anthropic", "anthropic.messages", "default"),
        ("gemini.json", "google", "gemini", "default"),
    ],
)
def test_agrees_with_genai_prices_extraction(fixture, provider_id, extractor, api_flavor) -> None:
    from genai_prices import extract_usage

    body = json.loads((FIXTURES / fixture).read_text())
    theirs = extract_usage(body, provider_id=provider_id, api_flavor=api_flavor).usage
    ours = extract.EXTRACTORS[extractor](body).usage
    for key, value in theirs.__dict__.items():
        if not key.startswith("_") and hasattr(ours, key):
            assert getattr(ours, key) == value, key


@pytest.mark.parametrize(
    "body",
    [{}, {"usage": "many"}, {"usage": {"prompt_tokens": "ten"}}, {"usage": {"prompt_tokens": 1.5}}],
)
def test_malformed_bodies_are_clear_errors(body) -> None:
    with pytest.raises(extract.ExtractionError):
        extract.openai_chat(body)


def test_impossible_reported_usage_is_an_error() -> None:
    body = {"usage": {"prompt_tokens": 5, "prompt_tokens_details": {"cached_tokens": 9}}}
    with pytest.raises(extract.ExtractionError, match="impossible"):
        extract.openai_chat(body)
    with pytest.raises(extract.ExtractionError, match="include_usage"):
        extract.openai_chat_stream([{"choices": [], "usage": None}])


@pytest.fixture(scope="module")
def bundled_index(tmp_path_factory) -> PriceIndex:
    from byokvault.engine.paths import BUNDLED_CATALOG

    _catalog, con = open_catalog(BUNDLED_CATALOG, tmp_path_factory.mktemp("snaps"))
    return PriceIndex.from_connection(con)


@pytest.mark.parametrize(
    ("fixture", "extractor", "provider_id", "request_body"),
    [
        ("openai_chat.json", "openai.chat", "openai", None),
        ("openai_responses.json", "openai.responses", "openai", None),
        ("anthropic_messages.json", "anthropic.messages", "anthropic", None),
        ("gemini.json", "gemini", "google", None),
        ("openai_embeddings.json", "openai.embeddings", "openai", None),
        (
            "openai_images_gpt_image.json",
            "openai.images",
            "openai",
            {"model": "gpt-image-1"},
        ),
    ],
)
def test_extracted_usage_prices_on_the_bundled_catalog(
    bundled_index, fixture, extractor, provider_id, request_body
) -> None:
    """End to end: a real response shape, extracted, resolved by name, priced (no error)."""
    fn = extract.EXTRACTORS[extractor]
    got = fn(load(fixture), request_body) if request_body else fn(load(fixture))
    model_id = bundled_index.resolve(provider_id, got.model)
    at = datetime(2026, 6, 1, tzinfo=UTC)
    b = price_usage(bundled_index, provider_id, model_id, got.usage, at, got.context)
    assert b.total > 0
    charged = sum(i.quantity for i in b.line_items if i.usage_key.startswith("input"))
    assert charged <= got.usage.input_tokens or got.usage.input_tokens == 0
    assert isinstance(got.usage, Usage)
