"""``POST /v1/responses`` end to end: the official openai SDK (``responses.create``,
``responses.stream``) → ByokVault on loopback → the fake provider's Responses API. Each call: the
answer intact, exactly one correct billing record (cached and reasoning tokens included)."""

from __future__ import annotations

from decimal import Decimal

import openai
import pytest
from gatewaykit import MILLION, Stack, check_record, fresh_fake, price, stack

__all__ = ["fresh_fake", "stack"]  # the module's fixtures

INPUT = [
    {"role": "developer", "content": "answer in one line " * 10},
    {"role": "user", "content": "what is the answer"},
]


def responses_cost(model: str, usage: openai.types.responses.ResponseUsage) -> Decimal:
    """The provider's price of a Responses usage block: cached input at the cache-read rate,
    reasoning tokens inside the output tokens."""
    cached = usage.input_tokens_details.cached_tokens
    return (
        (usage.input_tokens - cached) * price("openai", model, "input_tokens")
        + cached * price("openai", model, "cache_read_tokens")
        + usage.output_tokens * price("openai", model, "output_tokens")
    ) / MILLION


def test_a_response_is_forwarded_intact_and_billed_once_with_its_cache_reads(stack: Stack) -> None:
    client = stack.openai()
    costs = []
    for attempt in range(2):
        before = stack.records()
        raw = client.responses.with_raw_response.create(model="gpt-4o-mini", input=INPUT)
        response = raw.parse()
        assert response.output_text == "Echo: what is the answer"
        assert response.status == "completed" and response.object == "response"
        usage = response.usage
        assert usage is not None
        assert (usage.input_tokens_details.cached_tokens > 0) == (attempt == 1)
        expected = responses_cost("gpt-4o-mini", usage)
        check_record(stack, raw.headers["x-byokvault-record-id"], expected, "openai", "gpt-4o-mini")
        assert raw.headers["x-byokvault-model"] == "openai/gpt-4o-mini"
        assert stack.records() == before + 1
        costs.append(expected)
    sent = stack.fake.requests[-1]
    assert sent.path == "/v1/responses" and sent.body["input"] == INPUT
    assert costs[1] < costs[0]  # the second call read the cached prefix


def test_reasoning_tokens_are_billed_as_output(stack: Stack) -> None:
    raw = stack.openai().responses.with_raw_response.create(model="o4-mini", input="think it over")
    response = raw.parse()
    usage = response.usage
    assert usage is not None and usage.output_tokens_details.reasoning_tokens > 0
    assert [item.type for item in response.output] == ["reasoning", "message"]
    entry = stack.record(raw.headers["x-byokvault-record-id"])
    billed = {u.dimension: u.quantity for u in entry.record.usage}
    # Reasoning is inside OpenAI's output_tokens: billed once, at the output rate.
    assert billed["output_tokens"] == usage.output_tokens
    assert billed["input_tokens"] == usage.input_tokens


def test_the_stream_helper_gets_every_event_and_the_call_is_billed_once(stack: Stack) -> None:
    before = stack.records()
    with stack.openai().responses.stream(model="gpt-4o-mini", input="stream this answer") as s:
        kinds = [event.type for event in s]
        final = s.get_final_response()
    assert final.output_text == "Echo: stream this answer"
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert kinds.count("response.output_text.delta") == 4
    assert stack.records() == before + 1
    assert final.usage is not None
    assert stack.last_record()["raw_cost"] == responses_cost("gpt-4o-mini", final.usage)
    assert "stream_options" not in stack.fake.requests[-1].body  # not a Responses parameter


def test_stream_true_with_an_incomplete_response_is_billed_from_its_final_event(
    stack: Stack,
) -> None:
    before = stack.records()
    events = list(
        stack.openai().responses.create(
            model="gpt-4o-mini", input="one two three four five", max_output_tokens=3, stream=True
        )
    )
    final = events[-1]
    assert final.type == "response.incomplete"
    assert final.response.incomplete_details.reason == "max_output_tokens"
    assert stack.records() == before + 1
    assert stack.last_record()["raw_cost"] == responses_cost("gpt-4o-mini", final.response.usage)


def test_auto_routes_a_response_to_a_provider_speaking_the_responses_api(stack: Stack) -> None:
    raw = stack.openai().responses.with_raw_response.create(
        model="auto", input="hello", extra_body={"byokvault": {"capabilities": ["text.chat"]}}
    )
    provider, model = raw.headers["x-byokvault-model"].split("/", 1)
    assert provider == "openai"
    assert stack.fake.requests[0].body["model"] == model
    assert "byokvault" not in stack.fake.requests[0].body  # hints are not forwarded
    entry = stack.record(raw.headers["x-byokvault-record-id"])
    assert (entry.record.provider_id, entry.record.model_id) == (provider, model)


def test_a_retried_response_with_the_same_key_bills_once(stack: Stack) -> None:
    before = stack.records()
    client = stack.openai()
    headers = {"Idempotency-Key": "responses-retry-0001"}
    first = client.responses.with_raw_response.create(
        model="gpt-4o-mini", input="only once", extra_headers=headers
    )
    second = client.responses.with_raw_response.create(
        model="gpt-4o-mini", input="only once", extra_headers=headers
    )
    assert second.headers["x-byokvault-record-id"] == first.headers["x-byokvault-record-id"]
    assert second.headers["x-byokvault-idempotent-replay"] == "true"
    assert second.parse().model_dump() == first.parse().model_dump()
    assert len(stack.fake.requests) == 1 and stack.records() == before + 1


def test_a_retried_response_stream_with_the_same_key_bills_once(stack: Stack) -> None:
    before = stack.records()
    headers = {"Idempotency-Key": "responses-retry-stream-0001"}
    texts = []
    for _ in range(2):
        with stack.openai().responses.stream(
            model="gpt-4o-mini", input="stream once", extra_headers=headers
        ) as s:
            texts.append(s.get_final_response().output_text)
    assert texts == ["Echo: stream once"] * 2
    assert len(stack.fake.requests) == 1 and stack.records() == before + 1


def test_a_provider_failure_leaves_no_record(stack: Stack) -> None:
    before = stack.records()
    stack.fake.fail(path="/v1/responses", status=500)
    with pytest.raises(openai.APIStatusError) as error:
        stack.openai().responses.create(model="gpt-4o-mini", input="fail please")
    problem = error.value.response.json()
    assert (error.value.status_code, problem["code"]) == (502, "provider_error")
    assert problem["provider_status"] == 500
    stack.fake.fail(path="/v1/responses", break_after_chunks=4)
    with (
        pytest.raises(openai.APIError),
        stack.openai().responses.stream(model="gpt-4o-mini", input="break it") as s,
    ):
        list(s)
    assert stack.records() == before


def test_bad_bodies_and_models_without_the_responses_api_are_4xx(stack: Stack) -> None:
    client = stack.openai()
    with pytest.raises(openai.BadRequestError) as error:
        client.responses.create(model="gpt-4o-mini", input=[])
    assert "input" in str(error.value)
    with pytest.raises(openai.BadRequestError) as error:
        client.responses.create(model="claude-haiku-4-5", input="hi")  # Anthropic: no such API
    assert error.value.response.json()["code"] == "validation_error"
    assert stack.fake.requests == []
