"""Cross-protocol calls end to end: the anthropic SDK calling ``/v1/messages`` with a model the
fake serves over OpenAI Chat Completions, and the openai SDK calling ``/v1/chat/completions`` with
an Anthropic model — plain, streamed, with tools and images. Each call: the answer intact in the
client's protocol, exactly one billing record priced from the provider's native usage."""

from __future__ import annotations

import base64
import json

import anthropic
import openai
import pytest
from gatewaykit import MILLION, Stack, check_record, fresh_fake, price, stack

__all__ = ["fresh_fake", "stack"]  # the module's fixtures

GPT, CLAUDE = "gpt-4o-mini", "claude-haiku-4-5"
PIXEL = base64.b64encode(b"\x89PNG fake image bytes").decode()
WEATHER_ANTHROPIC = {
    "name": "weather",
    "description": "the weather in a city",
    "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
}
WEATHER_OPENAI = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "the weather in a city",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
    },
}


def openai_cost(model: str, prompt: int, cached: int, completion: int):
    return (
        (prompt - cached) * price("openai", model, "input_tokens")
        + cached * price("openai", model, "cache_read_tokens")
        + completion * price("openai", model, "output_tokens")
    ) / MILLION


def anthropic_cost(model: str, uncached: int, completion: int):
    return (
        uncached * price("anthropic", model, "input_tokens")
        + completion * price("anthropic", model, "output_tokens")
    ) / MILLION


# -- Anthropic client, OpenAI provider ------------------------------------------------------------
def test_messages_on_an_openai_model_are_translated_and_billed_from_openai_usage(
    stack: Stack,
) -> None:
    before = stack.records()
    raw = stack.anthropic().messages.with_raw_response.create(
        model=GPT,
        max_tokens=50,
        system="be brief",
        extra_body={"temperature": 0.5},
        messages=[{"role": "user", "content": "tell me something nice"}],
    )
    message = raw.parse()
    assert message.content[0].text == "Echo: tell me something nice"
    assert message.stop_reason == "end_turn" and message.role == "assistant"
    assert raw.headers["x-byokvault-translated"] == "messages->chat.completions"
    (sent,) = stack.fake.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.body["messages"][0] == {"role": "system", "content": "be brief"}
    assert sent.body["max_completion_tokens"] == 50 and sent.body["temperature"] == 0.5
    # The usage the client sees is the provider's, in Anthropic's terms; billed as OpenAI's.
    usage = message.usage
    expected = openai_cost(GPT, usage.input_tokens, 0, usage.output_tokens)
    check_record(stack, raw.headers["x-byokvault-record-id"], expected, "openai", GPT)
    assert stack.records() == before + 1


def test_a_translated_message_stream_is_intact_and_billed_once(stack: Stack) -> None:
    before = stack.records()
    with stack.anthropic().messages.stream(
        model=GPT, max_tokens=50, messages=[{"role": "user", "content": "stream this please"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Echo: stream this please"
    assert final.stop_reason == "end_turn"
    assert stack.records() == before + 1
    native = stack.fake.requests[0].body
    assert native["stream"] is True and native["stream_options"] == {"include_usage": True}
    expected = openai_cost(GPT, final.usage.input_tokens, 0, final.usage.output_tokens)
    assert final.usage.output_tokens > 0
    assert stack.last_record()["raw_cost"] == expected
    assert stack.last_record()["provider_id"] == "openai"


def test_tools_round_trip_through_an_openai_model(stack: Stack) -> None:
    client = stack.anthropic()
    ask = {"role": "user", "content": "use weather Paris today"}
    first = client.messages.create(
        model=GPT, max_tokens=50, tools=[WEATHER_ANTHROPIC], messages=[ask]
    )
    assert first.stop_reason == "tool_use"
    (call,) = first.content
    assert call.type == "tool_use" and call.name == "weather"
    assert call.input == {"query": "Paris today"}
    assert stack.fake.requests[0].body["tools"] == [WEATHER_OPENAI]
    result = {"type": "tool_result", "tool_use_id": call.id, "content": "sunny and warm"}
    answer = client.messages.create(
        model=GPT,
        max_tokens=50,
        tools=[WEATHER_ANTHROPIC],
        messages=[
            ask,
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [result]},
        ],
    )
    assert answer.content[0].text == "Echo: sunny and warm"
    sent = stack.fake.requests[1].body["messages"]
    assert sent[1]["tool_calls"][0]["id"] == call.id
    assert sent[2] == {"role": "tool", "tool_call_id": call.id, "content": "sunny and warm"}
    # Streamed, the tool call arrives as input_json_delta pieces the SDK reassembles.
    with client.messages.stream(
        model=GPT, max_tokens=50, tools=[WEATHER_ANTHROPIC], messages=[ask]
    ) as stream:
        streamed = stream.get_final_message()
    assert streamed.stop_reason == "tool_use"
    assert streamed.content[0].input == {"query": "Paris today"}


def test_an_image_block_becomes_an_image_url_part(stack: Stack) -> None:
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
    }
    stack.anthropic().messages.create(
        model=GPT,
        max_tokens=20,
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "what is it"}]}],
    )
    parts = stack.fake.requests[0].body["messages"][0]["content"]
    assert parts[0] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}
    assert parts[1] == {"type": "text", "text": "what is it"}


# -- OpenAI client, Anthropic provider ------------------------------------------------------------
def test_chat_on_an_anthropic_model_is_translated_and_billed_from_anthropic_usage(
    stack: Stack,
) -> None:
    before = stack.records()
    raw = stack.openai().chat.completions.with_raw_response.create(
        model=CLAUDE,
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "tell me something nice"},
        ],
        stop=["###"],
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Echo: tell me something nice"
    assert completion.choices[0].finish_reason == "stop"
    assert raw.headers["x-byokvault-translated"] == "chat.completions->messages"
    (sent,) = stack.fake.requests
    assert sent.path == "/v1/messages" and sent.body["system"] == "be brief"
    assert sent.body["stop_sequences"] == ["###"]
    # No max_tokens from the client: the model's own output limit, as OpenAI would apply.
    assert sent.body["max_tokens"] == 64000
    usage = completion.usage
    expected = anthropic_cost(CLAUDE, usage.prompt_tokens, usage.completion_tokens)
    check_record(stack, raw.headers["x-byokvault-record-id"], expected, "anthropic", CLAUDE)
    assert stack.records() == before + 1


@pytest.mark.parametrize("include_usage", [True, False])
def test_a_translated_chat_stream_is_intact_and_billed_once(
    stack: Stack, include_usage: bool
) -> None:
    before = stack.records()
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = list(
        stack.openai().chat.completions.create(
            model=CLAUDE,
            messages=[{"role": "user", "content": "stream this please"}],
            max_tokens=40,
            stream=True,
            **extra,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: stream this please"
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]
    assert stack.records() == before + 1
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == (1 if include_usage else 0)
    native = stack.fake.requests[0].body
    assert native["max_tokens"] == 40 and "stream_options" not in native
    if include_usage:
        usage = usage_chunks[0].usage
        expected = anthropic_cost(CLAUDE, usage.prompt_tokens, usage.completion_tokens)
        assert stack.last_record()["raw_cost"] == expected


def test_tools_round_trip_through_an_anthropic_model(stack: Stack) -> None:
    client = stack.openai()
    ask = {"role": "user", "content": "use weather Oslo tonight"}
    first = client.chat.completions.create(model=CLAUDE, messages=[ask], tools=[WEATHER_OPENAI])
    assert first.choices[0].finish_reason == "tool_calls"
    (call,) = first.choices[0].message.tool_calls
    assert call.function.name == "weather"
    assert json.loads(call.function.arguments) == {"query": "Oslo tonight"}
    assert stack.fake.requests[0].body["tools"] == [WEATHER_ANTHROPIC]
    answer = client.chat.completions.create(
        model=CLAUDE,
        tools=[WEATHER_OPENAI],
        messages=[
            ask,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "clear skies"},
        ],
    )
    assert answer.choices[0].message.content == "Echo: clear skies"
    sent = stack.fake.requests[1].body["messages"]
    assert sent[1]["content"][0] == {
        "type": "tool_use",
        "id": call.id,
        "name": "weather",
        "input": {"query": "Oslo tonight"},
    }
    assert sent[2]["content"][0]["type"] == "tool_result"
    stream = client.chat.completions.create(
        model=CLAUDE, messages=[ask], tools=[WEATHER_OPENAI], stream=True
    )
    pieces = [tc for c in stream if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert pieces[0].id and pieces[0].function.name == "weather"
    arguments = "".join(p.function.arguments or "" for p in pieces)
    assert json.loads(arguments) == {"query": "Oslo tonight"}


def test_an_image_url_part_becomes_an_image_block(stack: Stack) -> None:
    url = f"data:image/png;base64,{PIXEL}"
    stack.openai().chat.completions.create(
        model=CLAUDE,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is it"},
                    {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
                ],
            }
        ],
    )
    blocks = stack.fake.requests[0].body["messages"][0]["content"]
    assert blocks[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
    }


# -- refusals, routing, retries, failures ---------------------------------------------------------
def test_an_untranslatable_feature_excludes_the_candidate_with_a_reason(stack: Stack) -> None:
    before = stack.records()
    with pytest.raises(anthropic.UnprocessableEntityError) as error:
        stack.anthropic().messages.create(
            model=GPT,
            max_tokens=10,
            extra_body={"top_k": 5},
            messages=[{"role": "user", "content": "hi"}],
        )
    problem = error.value.response.json()
    assert problem["code"] == "no_candidate"
    # Every provider serving this model id speaks OpenAI chat: each one is excluded for it.
    assert set(problem["exclusion_reasons"]) == {"untranslatable:top_k"}
    assert "top_k" in problem["detail"]
    with pytest.raises(openai.UnprocessableEntityError) as error2:
        stack.openai().chat.completions.create(
            model=CLAUDE, messages=[{"role": "user", "content": "hi"}], n=2
        )
    assert set(error2.value.response.json()["exclusion_reasons"]) == {"untranslatable:n"}
    assert stack.fake.requests == [] and stack.records() == before


def test_auto_crosses_protocols_only_when_the_request_translates(stack: Stack) -> None:
    client = stack.anthropic()
    hello = [{"role": "user", "content": "hello"}]
    cheap = client.messages.with_raw_response.create(model="auto", max_tokens=20, messages=hello)
    # OpenAI models are the cheapest the tenant can pay for: reached through translation.
    assert cheap.headers["x-byokvault-model"].startswith("openai/")
    assert cheap.headers["x-byokvault-translated"] == "messages->chat.completions"
    assert cheap.parse().content[0].text == "Echo: hello"
    # top_k has no OpenAI equivalent: only Anthropic's own models remain.
    native = client.messages.with_raw_response.create(
        model="auto", max_tokens=20, extra_body={"top_k": 3}, messages=hello
    )
    assert native.headers["x-byokvault-model"].startswith("anthropic/")
    assert "x-byokvault-translated" not in native.headers
    assert stack.fake.requests[-1].body["top_k"] == 3
    # A client may also refuse translation outright.
    kept = client.messages.with_raw_response.create(
        model="auto", max_tokens=20, messages=hello, extra_body={"byokvault": {"translate": False}}
    )
    assert kept.headers["x-byokvault-model"].startswith("anthropic/")
    assert "byokvault" not in stack.fake.requests[-1].body
    with pytest.raises(anthropic.UnprocessableEntityError) as error:
        client.messages.create(
            model=GPT, max_tokens=20, messages=hello, extra_body={"byokvault": {"translate": False}}
        )
    assert set(error.value.response.json()["exclusion_reasons"]) == {"untranslatable:disabled"}


def test_a_retried_translated_call_bills_once(stack: Stack) -> None:
    before = stack.records()
    headers = {"Idempotency-Key": "translated-retry-0001"}
    runs = []
    for _ in range(2):
        with stack.anthropic().messages.stream(
            model=GPT,
            max_tokens=20,
            messages=[{"role": "user", "content": "once only"}],
            extra_headers=headers,
        ) as stream:
            runs.append(stream.get_final_message().content[0].text)
    assert runs == ["Echo: once only"] * 2
    assert len(stack.fake.requests) == 1 and stack.records() == before + 1


def test_a_failed_translated_call_bills_nothing(stack: Stack) -> None:
    before = stack.records()
    stack.fake.fail(path="/v1/chat/completions", status=500, times=1)
    with pytest.raises(anthropic.APIStatusError) as error:
        stack.anthropic().messages.create(
            model=GPT, max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert error.value.status_code == 502
    stack.fake.fail(path="/v1/messages", break_after_chunks=4, times=1)
    with pytest.raises(openai.APIError):
        list(
            stack.openai().chat.completions.create(
                model=CLAUDE, messages=[{"role": "user", "content": "a b c d e"}], stream=True
            )
        )
    stack.fake.fail(path="/v1/chat/completions", break_after_chunks=3, times=1)
    with (
        pytest.raises(anthropic.APIError),
        stack.anthropic().messages.stream(
            model=GPT, max_tokens=10, messages=[{"role": "user", "content": "a b c d e"}]
        ) as stream,
    ):
        list(stream)
    assert stack.records() == before
