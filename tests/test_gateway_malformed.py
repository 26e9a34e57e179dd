"""A provider that answers 200 with something its protocol does not allow: invalid JSON, JSON of
the wrong shape, a usage block that is not one, a stream of garbage events. On every gateway path
(native, translated both ways, the Responses API; whole answers and streams) the client gets a
``provider_error`` problem (a 502, or in-band for a stream whose headers are gone) and nothing is
billed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from gatewaykit import Stack, fresh_fake, stack

__all__ = ["fresh_fake", "stack"]  # the module's fixtures

GPT, CLAUDE = "gpt-4o-mini", "claude-haiku-4-5"
OPENAI_USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
ANTHROPIC_USAGE = {"input_tokens": 5, "output_tokens": 2}
RESPONSES_USAGE = {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}


def _json(doc: object) -> bytes:
    return json.dumps(doc).encode()


# Answers no protocol allows.
ANY_PROTOCOL = {
    "invalid JSON": b'{"id": "chatcmpl-1", "choices": [',
    "empty body": b"",
    "a JSON array": b"[1, 2, 3]",
    "a JSON string": b'"hello"',
    "an empty object": b"{}",
    "a number too large for a token count": b'{"usage": {"prompt_tokens": 1e999}}',
}
# Answers of a provider speaking OpenAI Chat Completions without the fields a completion has.
BAD_CHAT = {
    **ANY_PROTOCOL,
    "choices not a list": _json({"choices": "many", "usage": OPENAI_USAGE}),
    "no choices": _json({"id": "x", "object": "chat.completion", "usage": OPENAI_USAGE}),
    "message not an object": _json({"choices": [{"message": "hi"}], "usage": OPENAI_USAGE}),
    "tool call without a function": _json(
        {
            "choices": [{"message": {"role": "assistant", "tool_calls": [{"type": 3}]}}],
            "usage": OPENAI_USAGE,
        }
    ),
    "usage not numbers": _json(
        {"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": "many"}}
    ),
    "usage not an object": _json({"choices": [{"message": {"content": "hi"}}], "usage": [1]}),
}
# Answers of a provider speaking Anthropic Messages without the fields a message has.
BAD_MESSAGE = {
    **ANY_PROTOCOL,
    "content a string": _json({"type": "message", "content": "hi", "usage": ANTHROPIC_USAGE}),
    "no content": _json({"type": "message", "usage": ANTHROPIC_USAGE}),
    "text block without text": _json(
        {"type": "message", "content": [{"type": "text"}], "usage": ANTHROPIC_USAGE}
    ),
    "block not an object": _json({"type": "message", "content": ["hi"], "usage": ANTHROPIC_USAGE}),
    "tool_use block without a name": _json(
        {"type": "message", "content": [{"type": "tool_use", "id": 1}], "usage": ANTHROPIC_USAGE}
    ),
    "negative usage": _json(
        {
            "type": "message",
            "content": [{"type": "text", "text": "hi"}],
            "usage": {"input_tokens": -5, "output_tokens": 2},
        }
    ),
}
BAD_RESPONSE = {
    **ANY_PROTOCOL,
    "output not a list": _json({"object": "response", "output": "hi", "usage": RESPONSES_USAGE}),
    "no output": _json({"object": "response", "usage": RESPONSES_USAGE}),
    "usage not numbers": _json(
        {"object": "response", "output": [], "usage": {"input_tokens": {"n": 1}}}
    ),
}
# Streams: the provider's whole SSE body.
BAD_CHAT_STREAMS = {
    "garbage lines": b"this is not an event stream\n\n",
    "invalid JSON events": b"data: {not json\n\ndata: [DONE]\n\n",
    "chunks of the wrong shape": b'data: {"choices": "x"}\n\ndata: {"choices": [7]}\n\n'
    b"data: [DONE]\n\n",
    "delta of the wrong shape": b'data: {"choices": [{"delta": "hi"}]}\n\ndata: [DONE]\n\n',
    "usage of the wrong shape": b'data: {"choices": [], "usage": "lots"}\n\ndata: [DONE]\n\n',
    "no usage chunk": b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}}]}\n\n'
    b"data: [DONE]\n\n",
}
BAD_MESSAGE_STREAMS = {
    "garbage lines": b"this is not an event stream\n\n",
    "invalid JSON events": b"event: message_start\ndata: {not json\n\n"
    b'event: message_stop\ndata: {"type": "message_stop"}\n\n',
    "message_start without a message": b'event: message_start\ndata: {"type": "message_start"}\n\n'
    b'event: message_stop\ndata: {"type": "message_stop"}\n\n',
    "usage a string": b"event: message_start\n"
    b'data: {"type": "message_start", "message": {"id": "m", "usage": "ab"}}\n\n'
    b'event: message_stop\ndata: {"type": "message_stop"}\n\n',
    "block delta of the wrong shape": b"event: message_start\n"
    b'data: {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 3}}}\n\n'
    b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, '
    b'"delta": "x"}\n\n'
    b'event: message_stop\ndata: {"type": "message_stop"}\n\n',
}
BAD_RESPONSE_STREAMS = {
    "garbage lines": b"this is not an event stream\n\n",
    "completed without a response": b"event: response.completed\n"
    b'data: {"type": "response.completed"}\n\n',
    "completed with a broken usage": b"event: response.completed\n"
    b'data: {"type": "response.completed", "response": {"usage": {"input_tokens": "x"}}}\n\n',
}

# (client endpoint path, the provider path the model's calls go to, model)
NATIVE_CHAT = ("/v1/chat/completions", "/v1/chat/completions", GPT)
NATIVE_MESSAGES = ("/v1/messages", "/v1/messages", CLAUDE)
CHAT_ON_ANTHROPIC = ("/v1/chat/completions", "/v1/messages", CLAUDE)
MESSAGES_ON_OPENAI = ("/v1/messages", "/v1/chat/completions", GPT)
RESPONSES = ("/v1/responses", "/v1/responses", GPT)
WHOLE_CASES = [
    *[(NATIVE_CHAT, name, body) for name, body in BAD_CHAT.items()],
    *[(MESSAGES_ON_OPENAI, name, body) for name, body in BAD_CHAT.items()],
    *[(NATIVE_MESSAGES, name, body) for name, body in BAD_MESSAGE.items()],
    *[(CHAT_ON_ANTHROPIC, name, body) for name, body in BAD_MESSAGE.items()],
    *[(RESPONSES, name, body) for name, body in BAD_RESPONSE.items()],
]
STREAM_CASES = [
    *[(NATIVE_CHAT, name, body) for name, body in BAD_CHAT_STREAMS.items()],
    *[(MESSAGES_ON_OPENAI, name, body) for name, body in BAD_CHAT_STREAMS.items()],
    *[(NATIVE_MESSAGES, name, body) for name, body in BAD_MESSAGE_STREAMS.items()],
    *[(CHAT_ON_ANTHROPIC, name, body) for name, body in BAD_MESSAGE_STREAMS.items()],
    *[(RESPONSES, name, body) for name, body in BAD_RESPONSE_STREAMS.items()],
]


def _ids(cases: list) -> list[str]:
    return [f"{path}->{upstream}:{name}" for (path, upstream, _), name, _ in cases]


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {stack.token}"}
    with httpx.Client(base_url=stack.base, headers=headers, timeout=30) as http:
        yield http


def request_body(path: str, model: str, stream: bool) -> dict:
    if path == "/v1/responses":
        return {"model": model, "input": "hello there", "stream": stream}
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}], "stream": stream}
    if path == "/v1/messages":
        body["max_tokens"] = 50
    return body


@pytest.mark.parametrize(("route", "name", "answer"), WHOLE_CASES, ids=_ids(WHOLE_CASES))
def test_a_malformed_answer_is_a_provider_error_and_bills_nothing(
    stack: Stack, client: httpx.Client, route: tuple[str, str, str], name: str, answer: bytes
) -> None:
    path, upstream, model = route
    stack.fake.fail(path=upstream, body=answer)
    before = stack.records()
    response = client.post(path, json=request_body(path, model, stream=False))
    assert response.status_code == 502, (name, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "provider_error" and problem["status"] == 502
    assert "provider" in problem["detail"] and problem["error"]["code"] == "provider_error"
    assert [r.path for r in stack.fake.requests] == [upstream]  # the provider was called
    assert stack.records() == before


@pytest.mark.parametrize(("route", "name", "answer"), STREAM_CASES, ids=_ids(STREAM_CASES))
def test_a_malformed_stream_ends_in_a_provider_error_and_bills_nothing(
    stack: Stack, client: httpx.Client, route: tuple[str, str, str], name: str, answer: bytes
) -> None:
    path, upstream, model = route
    stack.fake.fail(path=upstream, body=answer, content_type="text/event-stream")
    before = stack.records()
    response = client.post(path, json=request_body(path, model, stream=True))
    text = response.text
    assert response.status_code == 200, (name, text)  # the headers left before the body broke
    last = [line for line in text.splitlines() if line.startswith("data:")][-1]
    error = json.loads(last.removeprefix("data:"))
    if path == "/v1/messages":
        assert error["type"] == "error" and "provider" in error["error"]["message"]
        assert "event: message_stop" not in text
    else:
        assert error["error"]["code"] == "provider_error", text
        assert "[DONE]" not in text and "event: response.completed" not in text
    assert ": byokvault record=" not in text
    assert stack.records() == before


def test_a_good_answer_after_malformed_ones_is_still_billed(
    stack: Stack, client: httpx.Client
) -> None:
    """The failures leave nothing behind that blocks the next call."""
    before = stack.records()
    for path, _, model in (NATIVE_CHAT, CHAT_ON_ANTHROPIC, MESSAGES_ON_OPENAI, RESPONSES):
        response = client.post(path, json=request_body(path, model, stream=False))
        assert response.status_code == 200, response.text
    assert stack.records() == before + 4
