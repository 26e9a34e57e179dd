"""The fake provider speaks each real wire protocol: checked with httpx and the official SDKs."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from byokvault.engine.fakeprovider import FakeProvider

KEY = "sk-fake-valid-0001"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        server.add_key(KEY)
        yield server


@pytest.fixture(autouse=True)
def _reset(fake: FakeProvider) -> None:
    fake.reset()


def chat_body(**extra: object) -> dict:
    messages = [
        {"role": "system", "content": "you are terse"},
        {"role": "user", "content": "say hello to the world"},
    ]
    return {"model": "gpt-4o-mini", "messages": messages, **extra}


# -- auth per style ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("style", "path", "good", "bad"),
    [
        ("openai", "/models", {"authorization": f"Bearer {KEY}"}, {"authorization": "Bearer no"}),
        ("anthropic", "/models", {"x-api-key": KEY}, {"x-api-key": "no"}),
        ("google", "/models", {"x-goog-api-key": KEY}, {"x-goog-api-key": "no"}),
    ],
)
def test_models_listing_checks_the_key_where_each_provider_expects_it(
    fake: FakeProvider, style: str, path: str, good: dict, bad: dict
) -> None:
    url = fake.base_url(style) + path
    assert httpx.get(url, headers=good).status_code == 200
    denied = httpx.get(url, headers=bad)
    assert denied.status_code == (400 if style == "google" else 401)
    assert httpx.get(url).status_code in (400, 401)  # no key at all


def test_gemini_accepts_the_key_as_a_query_parameter(fake: FakeProvider) -> None:
    response = httpx.get(fake.base_url("google") + "/models", params={"key": KEY})
    names = [m["name"] for m in response.json()["models"]]
    assert "models/gemini-2.5-flash" in names
    bad = httpx.get(fake.base_url("google") + "/models", params={"key": "wrong"})
    assert bad.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"


def test_ollama_tags_need_no_key(fake: FakeProvider) -> None:
    tags = httpx.get(fake.base_url("ollama") + "/api/tags").json()
    assert [m["name"] for m in tags["models"]] == fake.models["ollama"]


def test_the_key_used_is_recorded(fake: FakeProvider) -> None:
    httpx.get(fake.base_url("anthropic") + "/models", headers={"x-api-key": KEY})
    assert [(r.style, r.path, r.key) for r in fake.requests] == [("anthropic", "/v1/models", KEY)]


# -- OpenAI ----------------------------------------------------------------------------------
def openai_client(fake: FakeProvider, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=fake.base_url("openai"), max_retries=0)


def test_openai_sdk_chat_completion_with_usage(fake: FakeProvider) -> None:
    completion = openai_client(fake).chat.completions.create(**chat_body())
    assert completion.choices[0].message.content == "Echo: say hello to the world"
    usage = completion.usage
    assert usage is not None
    # 3 per message + one per word: (3 + 3) + (3 + 5); the reply has 6 words.
    assert (usage.prompt_tokens, usage.completion_tokens) == (14, 6)
    assert usage.total_tokens == 20
    assert usage.prompt_tokens_details.cached_tokens == 0


def test_openai_repeated_prefix_reports_cached_tokens(fake: FakeProvider) -> None:
    client = openai_client(fake)
    client.chat.completions.create(**chat_body())
    again = client.chat.completions.create(**chat_body())
    assert again.usage.prompt_tokens_details.cached_tokens == 6  # the system message


def test_openai_reasoning_tokens_are_inside_completion_tokens(fake: FakeProvider) -> None:
    usage = openai_client(fake).chat.completions.create(**chat_body(model="o4-mini")).usage
    reasoning = usage.completion_tokens_details.reasoning_tokens
    assert reasoning == 12
    assert usage.completion_tokens == 6 + reasoning


def test_openai_sdk_stream_ends_with_a_usage_chunk(fake: FakeProvider) -> None:
    stream = openai_client(fake).chat.completions.create(
        **chat_body(), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: say hello to the world"
    assert [c.usage is not None for c in chunks].count(True) == 1
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 20


def test_openai_stream_without_include_usage_has_no_usage(fake: FakeProvider) -> None:
    chunks = list(openai_client(fake).chat.completions.create(**chat_body(), stream=True))
    assert all(getattr(c, "usage", None) is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_openai_sdk_embeddings_default_base64_decodes(fake: FakeProvider) -> None:
    result = openai_client(fake).embeddings.create(
        model="text-embedding-3-small", input=["a b c", "d"], dimensions=4
    )
    assert [len(d.embedding) for d in result.data] == [4, 4]
    assert result.usage.prompt_tokens == 4
    raw = httpx.post(
        fake.base_url("openai") + "/embeddings",
        headers={"authorization": f"Bearer {KEY}"},
        json={"model": "m", "input": "a b c", "dimensions": 4, "encoding_format": "base64"},
    ).json()
    decoded = struct.unpack("<4f", base64.b64decode(raw["data"][0]["embedding"]))
    assert decoded == pytest.approx(result.data[0].embedding)


def test_openai_sdk_responses_api(fake: FakeProvider) -> None:
    response = openai_client(fake).responses.create(model="gpt-4o-mini", input="hi there")
    assert response.output_text == "Echo: hi there"
    assert response.usage.input_tokens == 5 and response.usage.output_tokens == 3


def test_openai_missing_field_is_a_400_naming_it(fake: FakeProvider) -> None:
    with pytest.raises(openai.BadRequestError) as error:
        openai_client(fake).chat.completions.create(model="gpt-4o-mini", messages=[])
    assert error.value.body["param"] == "messages"


def test_openai_unknown_key_is_401(fake: FakeProvider) -> None:
    with pytest.raises(openai.AuthenticationError):
        openai_client(fake, key="sk-unknown").models.list()


# -- Anthropic ------------------------------------------------------------------------------
def anthropic_client(fake: FakeProvider, key: str = KEY) -> anthropic.Anthropic:
    # The SDK appends /v1/messages itself, so its base URL stops before /v1.
    base = fake.base_url("anthropic").removesuffix("/v1")
    return anthropic.Anthropic(api_key=key, base_url=base, max_retries=0)


def messages_body(**extra: object) -> dict:
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hello there friend"}],
        **extra,
    }


def test_anthropic_sdk_message_with_usage(fake: FakeProvider) -> None:
    message = anthropic_client(fake).messages.create(**messages_body())
    assert message.content[0].text == "Echo: hello there friend"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (6, 4)


def test_anthropic_cache_write_then_read_with_ttls_apart(fake: FakeProvider) -> None:
    system = [
        {"type": "text", "text": "long shared instructions " * 10, "cache_control": {
            "type": "ephemeral", "ttl": "1h"}},
    ]  # fmt: skip
    client = anthropic_client(fake)
    first = client.messages.create(**messages_body(system=system)).usage
    assert first.cache_creation_input_tokens == 33
    assert first.cache_creation.ephemeral_1h_input_tokens == 33
    assert first.cache_creation.ephemeral_5m_input_tokens == 0
    assert first.input_tokens == 6  # uncached input excludes the cached prefix
    second = client.messages.create(**messages_body(system=system)).usage
    assert (second.cache_read_input_tokens, second.cache_creation_input_tokens) == (33, 0)


def test_anthropic_sdk_stream_events_and_final_usage(fake: FakeProvider) -> None:
    client = anthropic_client(fake)
    with client.messages.stream(**messages_body()) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and "message_delta" in kinds
    assert final.content[0].text == "Echo: hello there friend"
    assert final.usage.output_tokens == 4 and final.usage.input_tokens == 6


def test_anthropic_missing_max_tokens_is_a_400(fake: FakeProvider) -> None:
    response = httpx.post(
        fake.base_url("anthropic") + "/messages",
        headers={"x-api-key": KEY},
        json={"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "x"}]},
    )
    assert response.status_code == 400
    assert "max_tokens" in response.json()["error"]["message"]


# -- Gemini and Ollama generation -----------------------------------------------------------
def test_gemini_generate_reports_thoughts_beside_candidates(fake: FakeProvider) -> None:
    response = httpx.post(
        fake.base_url("google") + "/models/gemini-2.5-pro:generateContent",
        headers={"x-goog-api-key": KEY},
        json={"contents": [{"role": "user", "parts": [{"text": "one two"}]}]},
    )
    usage = response.json()["usageMetadata"]
    assert usage["candidatesTokenCount"] == 3 and usage["thoughtsTokenCount"] == 6
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + 3 + 6


def test_ollama_chat_counts(fake: FakeProvider) -> None:
    response = httpx.post(
        fake.base_url("ollama") + "/api/chat",
        json={"model": "llama3.2:latest", "messages": [{"role": "user", "content": "a b"}]},
    ).json()
    assert (response["prompt_eval_count"], response["eval_count"]) == (5, 3)


# -- injected behaviours --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
    ],
)
def test_injected_status_per_key(fake: FakeProvider, status: int, error: type) -> None:
    other = fake.add_key("sk-fake-other")
    fake.fail(key=KEY, status=status)
    with pytest.raises(error):
        openai_client(fake).chat.completions.create(**chat_body())
    # Only that key is affected.
    assert openai_client(fake, other).chat.completions.create(**chat_body()).choices


def test_injected_anthropic_overload_has_the_anthropic_shape(fake: FakeProvider) -> None:
    fake.fail(path="/v1/messages", status=529, times=1)
    response = httpx.post(
        fake.base_url("anthropic") + "/messages", headers={"x-api-key": KEY}, json=messages_body()
    )
    assert response.status_code == 529
    assert response.json()["error"]["type"] == "overloaded_error"
    # times=1: the next call succeeds.
    assert anthropic_client(fake).messages.create(**messages_body()).content


def test_rate_limit_carries_retry_after(fake: FakeProvider) -> None:
    fake.fail(style="openai", status=429)
    response = httpx.get(
        fake.base_url("openai") + "/models", headers={"authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 429 and response.headers["retry-after"] == "1"


def test_injected_delay_trips_a_client_timeout(fake: FakeProvider) -> None:
    fake.fail(path="/v1/chat/completions", delay=1.0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            fake.base_url("openai") + "/chat/completions",
            headers={"authorization": f"Bearer {KEY}"},
            json=chat_body(),
            timeout=0.2,
        )


def test_injected_mid_stream_failure_breaks_the_stream(fake: FakeProvider) -> None:
    fake.fail(path="/v1/chat/completions", break_after_chunks=2)
    received = []
    with (
        pytest.raises(httpx.HTTPError),
        httpx.stream(
            "POST",
            fake.base_url("openai") + "/chat/completions",
            headers={"authorization": f"Bearer {KEY}"},
            json=chat_body(stream=True),
        ) as response,
    ):
        for line in response.iter_lines():
            received.append(line)
    assert "[DONE]" not in "".join(received)


def test_injected_usage_replaces_the_computed_block(fake: FakeProvider) -> None:
    usage = {"prompt_tokens": 2000, "completion_tokens": 10, "total_tokens": 2010}
    fake.fail(key=KEY, usage=usage)
    completion = openai_client(fake).chat.completions.create(**chat_body())
    assert completion.usage.prompt_tokens == 2000


def test_openai_sdk_streams_a_response_as_typed_events(fake: FakeProvider) -> None:
    with openai_client(fake).responses.stream(model="o4-mini", input="stream me now") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed" and "response.output_text.delta" in kinds
    assert final.output_text == "Echo: stream me now"
    assert final.usage.output_tokens_details.reasoning_tokens > 0  # a reasoning model


def test_tools_are_called_on_request_in_both_protocols(fake: FakeProvider) -> None:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    messages = [{"role": "user", "content": "use lookup the moon"}]
    completion = openai_client(fake).chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=[tool]
    )
    (call,) = completion.choices[0].message.tool_calls
    assert completion.choices[0].finish_reason == "tool_calls"
    assert call.function.arguments == '{"query": "the moon"}'
    message = anthropic_client(fake).messages.create(
        model="claude-haiku-4-5",
        max_tokens=20,
        tools=[{"name": "lookup", "input_schema": {"type": "object"}}],
        messages=messages,
    )
    assert message.stop_reason == "tool_use" and message.content[0].input == {"query": "the moon"}


def test_messages_each_api_would_refuse_are_a_400(fake: FakeProvider) -> None:
    orphan = [{"role": "tool", "tool_call_id": "call_x", "content": "r"}]
    with pytest.raises(openai.BadRequestError):
        openai_client(fake).chat.completions.create(model="gpt-4o-mini", messages=orphan)
    with pytest.raises(anthropic.BadRequestError):
        anthropic_client(fake).messages.create(
            model="claude-haiku-4-5",
            max_tokens=5,
            messages=[{"role": "system", "content": "not a role here"}],
        )
