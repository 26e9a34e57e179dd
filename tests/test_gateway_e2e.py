"""The gateway end to end: the official openai and anthropic SDKs → ByokVault served by uvicorn on
loopback → the fake provider. Each call: the answer intact, exactly one correct billing record.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from gatewaykit import (
    ANTHROPIC_KEY,
    MILLION,
    OPENAI_KEY,
    TENANT,
    Stack,
    check_record,
    fresh_fake,
    price,
    stack,
)

__all__ = ["fresh_fake", "stack"]  # the module's fixtures

CHAT = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "tell me something nice"},
]


# -- OpenAI ----------------------------------------------------------------------------------
def test_openai_chat_is_forwarded_intact_and_billed_once(stack: Stack) -> None:
    before = stack.records()
    raw = stack.openai().chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=CHAT
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Echo: tell me something nice"
    usage = completion.usage
    assert usage is not None
    # The provider got its own key and model id, not the tenant's ByokVault token.
    (sent,) = stack.fake.requests
    assert sent.key == OPENAI_KEY and sent.body["model"] == "gpt-4o-mini"
    assert stack.records() == before + 1
    expected = (
        usage.prompt_tokens * price("openai", "gpt-4o-mini", "input_tokens")
        + usage.completion_tokens * price("openai", "gpt-4o-mini", "output_tokens")
    ) / MILLION
    record_id = raw.headers["x-byokvault-record-id"]
    check_record(stack, record_id, expected, "openai", "gpt-4o-mini")
    assert raw.headers["x-byokvault-model"] == "openai/gpt-4o-mini"
    assert (
        Decimal(raw.headers["x-byokvault-cost"])
        == stack.record(record_id).record.pricing.rounding.amount
    )
    assert float(raw.headers["x-byokvault-overhead-ms"]) >= 0


def test_openai_stream_with_usage_chunk_is_intact_and_billed(stack: Stack) -> None:
    before = stack.records()
    stream = stack.openai().chat.completions.create(
        model="gpt-4o-mini", messages=CHAT, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: tell me something nice"
    usage = chunks[-1].usage
    assert usage is not None and chunks[-1].choices == []
    assert stack.records() == before + 1
    expected = (
        usage.prompt_tokens * price("openai", "gpt-4o-mini", "input_tokens")
        + usage.completion_tokens * price("openai", "gpt-4o-mini", "output_tokens")
    ) / MILLION
    (usage_total,) = stack.ledger.usage(TENANT)
    assert usage_total.records == before + 1
    last = stack.app.state.resources.ledger.store.find_record_by_seq(stack.ledger.head()[0])
    assert last["raw_cost"] == expected


def test_openai_stream_without_usage_request_still_bills_and_hides_the_usage_chunk(
    stack: Stack,
) -> None:
    before = stack.records()
    chunks = list(
        stack.openai().chat.completions.create(model="gpt-4o-mini", messages=CHAT, stream=True)
    )
    assert all(c.choices for c in chunks)  # the client did not ask for a usage-only chunk
    assert all(getattr(c, "usage", None) is None for c in chunks)
    # ... but the gateway asked the provider for one, so the call is billed.
    assert stack.fake.requests[0].body["stream_options"] == {"include_usage": True}
    assert stack.records() == before + 1


def test_openai_embeddings(stack: Stack) -> None:
    before = stack.records()
    raw = stack.openai().embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["one two three", "four"]
    )
    result = raw.parse()
    assert len(result.data) == 2 and len(result.data[0].embedding) == 8
    expected = result.usage.prompt_tokens * price(
        "openai", "text-embedding-3-small", "embedding_tokens"
    )
    check_record(
        stack,
        raw.headers["x-byokvault-record-id"],
        expected / MILLION,
        "openai",
        "text-embedding-3-small",
    )
    assert stack.records() == before + 1


# -- Anthropic ------------------------------------------------------------------------------
def test_anthropic_messages_with_cache_write_then_read(stack: Stack) -> None:
    system = [
        {"type": "text", "text": "shared rules " * 20, "cache_control": {"type": "ephemeral"}}
    ]
    client = stack.anthropic()
    costs = []
    for _ in range(2):
        raw = client.messages.with_raw_response.create(
            model="claude-haiku-4-5",
            max_tokens=100,
            system=system,
            messages=[{"role": "user", "content": "hello there"}],
        )
        message = raw.parse()
        assert message.content[0].text == "Echo: hello there"
        u = message.usage
        expected = (
            u.input_tokens * price("anthropic", "claude-haiku-4-5", "input_tokens")
            + (u.cache_creation_input_tokens or 0)
            * price("anthropic", "claude-haiku-4-5", "cache_write_tokens")
            + (u.cache_read_input_tokens or 0)
            * price("anthropic", "claude-haiku-4-5", "cache_read_tokens")
            + u.output_tokens * price("anthropic", "claude-haiku-4-5", "output_tokens")
        ) / MILLION
        record_id = raw.headers["x-byokvault-record-id"]
        check_record(stack, record_id, expected, "anthropic", "claude-haiku-4-5")
        costs.append(expected)
    first, _ = stack.fake.requests
    assert first.key == ANTHROPIC_KEY and first.headers["anthropic-version"]
    assert costs[1] < costs[0]  # the second call read the cache the first one wrote


def test_anthropic_stream_is_intact_and_billed(stack: Stack) -> None:
    before = stack.records()
    with stack.anthropic().messages.stream(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=[{"role": "user", "content": "stream this please"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Echo: stream this please"
    assert stack.records() == before + 1
    expected = (
        final.usage.input_tokens * price("anthropic", "claude-haiku-4-5", "input_tokens")
        + final.usage.output_tokens * price("anthropic", "claude-haiku-4-5", "output_tokens")
    ) / MILLION
    last = stack.ledger.store.find_record_by_seq(stack.ledger.head()[0])
    assert last["raw_cost"] == expected and last["model_id"] == "claude-haiku-4-5"


# -- idempotency ----------------------------------------------------------------------------
def test_a_retried_request_with_the_same_key_bills_once(stack: Stack) -> None:
    before = stack.records()
    client = stack.openai()
    headers = {"Idempotency-Key": "retry-me-0001"}
    first = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=CHAT, extra_headers=headers
    )
    second = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=CHAT, extra_headers=headers
    )
    assert second.headers["x-byokvault-record-id"] == first.headers["x-byokvault-record-id"]
    assert second.headers["x-byokvault-idempotent-replay"] == "true"
    assert second.parse().model_dump() == first.parse().model_dump()
    assert len(stack.fake.requests) == 1  # the provider was called once
    assert stack.records() == before + 1
    # The same key with another body is refused, not billed.
    with pytest.raises(openai.ConflictError):
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "different"}],
            extra_headers=headers,
        )
    assert stack.records() == before + 1


def test_a_key_billed_before_its_answer_was_forgotten_is_refused_not_resent(
    stack: Stack,
) -> None:
    """The held answers are gone (a restart, or evicted): the ledger still knows the key, so
    the retry is a 409 naming the record and the provider is not paid twice."""
    client = stack.openai()
    headers = {"Idempotency-Key": "billed-then-forgotten-0001"}
    first = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=CHAT, extra_headers=headers
    )
    before = stack.records()
    gateway = stack.app.state.catalog.get().gateway
    gateway.idempotency._entries.clear()  # what a restart leaves: the ledger, no answers
    with pytest.raises(openai.ConflictError) as refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=CHAT, extra_headers=headers)
    problem = refused.value.response.json()
    assert problem["code"] == "idempotency_conflict"
    assert problem["record_id"] == first.headers["x-byokvault-record-id"]
    assert len(stack.fake.requests) == 1 and stack.records() == before


def test_a_retried_stream_with_the_same_key_bills_once(stack: Stack) -> None:
    before = stack.records()
    headers = {"Idempotency-Key": "retry-stream-0001"}
    runs = []
    for _ in range(2):
        stream = stack.openai().chat.completions.create(
            model="gpt-4o-mini", messages=CHAT, stream=True, extra_headers=headers
        )
        runs.append("".join(c.choices[0].delta.content or "" for c in stream if c.choices))
    assert runs[0] == runs[1] == "Echo: tell me something nice"
    assert len(stack.fake.requests) == 1
    assert stack.records() == before + 1


# -- failures -------------------------------------------------------------------------------
def test_a_provider_failure_is_a_502_problem_and_bills_nothing(stack: Stack) -> None:
    before = stack.records()
    stack.fake.fail(path="/v1/chat/completions", status=500)
    with pytest.raises(openai.APIStatusError) as error:
        stack.openai().chat.completions.create(model="gpt-4o-mini", messages=CHAT)
    problem = error.value.response.json()
    assert (error.value.status_code, problem["code"]) == (502, "provider_error")
    assert problem["provider_status"] == 500 and problem["provider_id"] == "openai"
    assert stack.records() == before


def test_a_provider_timeout_is_a_504_problem(stack: Stack) -> None:
    before = stack.records()
    resources = stack.app.state.resources
    stack.fake.fail(path="/v1/chat/completions", delay=2.0, times=1)
    resources.http.timeout = httpx.Timeout(0.3)
    try:
        with pytest.raises(openai.APIStatusError) as error:
            stack.openai().chat.completions.create(model="gpt-4o-mini", messages=CHAT)
    finally:
        resources.http.timeout = httpx.Timeout(120.0, connect=10.0)
    assert (error.value.status_code, error.value.response.json()["code"]) == (
        504,
        "provider_timeout",
    )
    assert stack.records() == before


def test_a_stream_broken_by_the_provider_is_reported_in_band_and_not_billed(stack: Stack) -> None:
    before = stack.records()
    stack.fake.fail(path="/v1/chat/completions", break_after_chunks=3)
    with pytest.raises(openai.APIError):
        list(
            stack.openai().chat.completions.create(model="gpt-4o-mini", messages=CHAT, stream=True)
        )
    assert stack.records() == before


def test_an_unknown_model_and_a_bad_body_are_4xx(stack: Stack) -> None:
    with pytest.raises(openai.UnprocessableEntityError):
        stack.openai().chat.completions.create(model="no-such-model", messages=CHAT)
    with pytest.raises(openai.BadRequestError) as error:
        stack.openai().chat.completions.create(model="gpt-4o-mini", messages=[])
    assert "messages" in str(error.value)
    assert stack.fake.requests == []


def test_auto_routes_to_a_funded_model_and_bills_it(stack: Stack) -> None:
    raw = stack.openai().chat.completions.with_raw_response.create(model="auto", messages=CHAT)
    provider, model = raw.headers["x-byokvault-model"].split("/", 1)
    assert (
        provider == "openai"
    )  # the cheapest funded provider (Anthropic, by translation, costs more)
    entry = stack.record(raw.headers["x-byokvault-record-id"])
    assert (entry.record.provider_id, entry.record.model_id) == (provider, model)
    assert stack.fake.requests[0].body["model"] == model


def test_the_admin_token_cannot_make_gateway_calls(stack: Stack) -> None:
    from apikit import ADMIN_TOKEN

    client = openai.OpenAI(api_key=ADMIN_TOKEN, base_url=stack.base + "/v1", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="gpt-4o-mini", messages=CHAT)


def test_secrets_never_reach_a_response(stack: Stack, tmp_path: Path) -> None:
    headers = {"authorization": f"Bearer {stack.token}"}
    for path in ("/v1/credentials", "/v1/credentials/access-log", "/v1/receipts", "/metrics"):
        text = httpx.get(stack.base + path, headers=headers).text
        assert OPENAI_KEY not in text and ANTHROPIC_KEY not in text


def test_a_rejected_tenant_key_is_byok_invalid_and_marks_the_credential(stack: Stack) -> None:
    before = stack.records()
    stack.fake.fail(key=ANTHROPIC_KEY, status=401, times=1)
    with pytest.raises(anthropic.APIStatusError) as error:
        stack.anthropic().messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    problem = error.value.response.json()
    assert (error.value.status_code, problem["code"]) == (502, "byok_invalid")
    assert stack.records() == before
    listing = httpx.get(
        stack.base + "/v1/credentials",
        params={"provider_id": "anthropic"},
        headers={"authorization": f"Bearer {stack.token}"},
    ).json()
    assert listing[0]["status"] == "revoked"
    # The tenant fixes its key: the next call is routed and billed again.
    credential_id = listing[0]["credential_id"]
    rotated = httpx.put(
        f"{stack.base}/v1/credentials/{credential_id}/secret",
        headers={"authorization": f"Bearer {stack.token}"},
        json={"secret": ANTHROPIC_KEY},
    )
    assert rotated.status_code == 200
