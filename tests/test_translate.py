"""The translation layer on its own: request mapping both ways (and what it refuses), answers,
usage that agrees with what is billed, and stream translators fed with arbitrary chunkings."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from byokvault.api import translate
from byokvault.api.translate import Untranslatable, chat_to_messages, messages_to_chat
from byokvault.api.translate_stream import ChatToMessagesStream, MessagesToChatStream
from byokvault.api.upstream import SseEvent
from byokvault.engine.pricing import extract

words = st.text(alphabet="abc xyz", min_size=1, max_size=20)


def event(data: dict | str, name: str | None = None) -> tuple[SseEvent, dict | None]:
    text = data if isinstance(data, str) else json.dumps(data)
    return SseEvent(b"", name, text), (None if isinstance(data, str) else data)


# -- requests -------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(system=st.one_of(st.none(), words), turns=st.lists(words, min_size=1, max_size=6))
def test_a_text_conversation_survives_the_round_trip(system: str | None, turns: list[str]) -> None:
    chat = [{"role": "system", "content": system}] if system else []
    chat += [
        {"role": "user" if i % 2 == 0 else "assistant", "content": text}
        for i, text in enumerate(turns)
    ]
    anthropic_body = chat_to_messages({"model": "m", "messages": chat}, 100)
    back = messages_to_chat(anthropic_body, "openai")
    assert back["max_completion_tokens"] == 100
    flat = [
        (m["role"], m["content"] if isinstance(m["content"], str) else m["content"][0]["text"])
        for m in back["messages"]
    ]
    assert flat == [(m["role"], m["content"]) for m in chat]


@settings(max_examples=60, deadline=None)
@given(roles=st.lists(st.sampled_from(["user", "assistant", "tool"]), min_size=1, max_size=8))
def test_anthropic_turns_always_alternate(roles: list[str]) -> None:
    messages = []
    for i, role in enumerate(roles):
        if role == "tool":
            messages.append({"role": "tool", "tool_call_id": f"call_{i}", "content": "ok"})
        else:
            messages.append({"role": role, "content": f"turn {i}"})
    out = chat_to_messages({"model": "m", "messages": messages}, 10)["messages"]
    assert all(a["role"] != b["role"] for a, b in itertools.pairwise(out))
    blocks = sum(len(turn["content"]) for turn in out)
    assert blocks == len(messages)  # merged, never dropped


@pytest.mark.parametrize(
    ("body", "feature"),
    [
        ({"top_k": 5}, "top_k"),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "thinking"),
        ({"stop_sequences": ["END"]}, "stop_sequences"),
        (
            {"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
            "tools.web_search_20250305",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]},
            "messages.0.content.document",
        ),
        ({"messages": [{"role": "user"}]}, "body"),
    ],
)
def test_anthropic_features_without_an_openai_equivalent_are_refused(
    body: dict, feature: str
) -> None:
    request = {
        "model": "m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
        **body,
    }
    problem = translate.check("messages", "chat.completions", request)
    assert problem is not None and problem.feature == feature
    assert problem.reason == f"untranslatable:{feature}"


@pytest.mark.parametrize(
    ("body", "feature"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"temperature": 1.5}, "temperature"),
        ({"reasoning_effort": "high"}, "reasoning_effort"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "strict": True}}]},
            "tools.strict",
        ),
        (
            {"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "late"}]},
            "messages.1.role",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}
                ]
            },
            "messages.0.content.input_audio",
        ),
    ],
)
def test_openai_features_without_an_anthropic_equivalent_are_refused(
    body: dict, feature: str
) -> None:
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **body}
    problem = translate.check("chat.completions", "messages", request)
    assert problem is not None and problem.feature == feature


def test_neutral_defaults_are_not_refused_and_the_cap_comes_from_the_model() -> None:
    request = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "n": 1,
        "presence_penalty": 0,
    }
    assert translate.check("chat.completions", "messages", request) is None
    assert chat_to_messages(request, 4096)["max_tokens"] == 4096
    with pytest.raises(Untranslatable) as error:
        chat_to_messages(request, None)
    assert error.value.feature == "max_tokens"


def test_tool_choice_and_parallel_calls_map_both_ways() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    body = {
        "model": "m",
        "max_tokens": 9,
        "messages": [{"role": "user", "content": "x"}],
        "tools": [tool],
        "tool_choice": "required",
        "parallel_tool_calls": False,
    }
    out = chat_to_messages(body, None)
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    back = messages_to_chat(out, "openai-compatible")
    assert back["tool_choice"] == "required" and back["parallel_tool_calls"] is False
    assert back["tools"] == [tool] and back["max_tokens"] == 9


# -- answers and usage ----------------------------------------------------------------------------
counts = st.integers(min_value=0, max_value=10**6)


@settings(max_examples=80, deadline=None)
@given(uncached=counts, read=counts, output=counts)
def test_translated_usage_prices_the_same_as_the_native_usage(
    uncached: int, read: int, output: int
) -> None:
    """What the client is shown agrees with what the provider's native usage bills."""
    native = {
        "id": "msg_1",
        "model": "claude",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "max_tokens",
        "usage": {
            "input_tokens": uncached,
            "cache_read_input_tokens": read,
            "output_tokens": output,
        },
    }
    shown = translate.message_to_chat(native)
    assert shown["choices"][0]["finish_reason"] == "length"
    assert extract.openai_chat(shown).usage == extract.anthropic_messages(native).usage
    again = translate.chat_to_message(shown)
    assert extract.anthropic_messages(again).usage == extract.anthropic_messages(native).usage


def test_a_chat_tool_call_answer_becomes_tool_use_blocks() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    answer = {
        "id": "chatcmpl-1",
        "model": "gpt",
        "choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [call]},
                     "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2},
    }  # fmt: skip
    message = translate.chat_to_message(answer)
    assert message["stop_reason"] == "tool_use"
    assert message["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}}
    ]
    back = translate.message_to_chat(message)["choices"][0]["message"]
    assert json.loads(back["tool_calls"][0]["function"]["arguments"]) == {"a": 1}


def text_delta(text: str) -> dict:
    return {"type": "text_delta", "text": text}


# -- streams --------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(pieces=st.lists(words, min_size=1, max_size=8), wants_usage=st.booleans())
def test_anthropic_events_become_chat_chunks_that_reassemble(
    pieces: list[str], wants_usage: bool
) -> None:
    start = {"id": "m", "model": "c", "usage": {"input_tokens": 7}}
    text_block = {"type": "text", "text": ""}
    native = [
        event({"type": "message_start", "message": start}),
        event({"type": "content_block_start", "index": 0, "content_block": text_block}),
        event({"type": "ping"}),
        *[
            event({"type": "content_block_delta", "index": 0, "delta": text_delta(p)})
            for p in pieces
        ],
        event({"type": "content_block_stop", "index": 0}),
        event({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
               "usage": {"output_tokens": 3}}),
        event({"type": "message_stop"}),
    ]  # fmt: skip
    stream = MessagesToChatStream(wants_usage)
    frames = [frame for e, doc in native for frame in stream.feed(e, doc)]
    assert frames[-1].data == "[DONE]"
    chunks = [json.loads(f.data) for f in frames[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "".join(pieces)
    usage = [c["usage"] for c in chunks if "usage" in c]
    expected = {
        "prompt_tokens": 7,
        "completion_tokens": 3,
        "total_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert usage == ([expected] if wants_usage else [])


@settings(max_examples=60, deadline=None)
@given(
    pieces=st.lists(words, min_size=0, max_size=6),
    arguments=st.lists(st.text(alphabet='{}":ab1 ', max_size=5), min_size=0, max_size=4),
)
def test_chat_chunks_become_well_formed_anthropic_events(
    pieces: list[str], arguments: list[str]
) -> None:
    def chunk(delta: dict, finish: str | None = None) -> tuple[SseEvent, dict]:
        return event(
            {
                "id": "c",
                "model": "g",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    native = [chunk({"role": "assistant", "content": ""})]
    native += [chunk({"content": p}) for p in pieces]
    if arguments:
        call = {"index": 0, "id": "call_1", "type": "function"}
        function = {"name": "f", "arguments": ""}
        native.append(chunk({"tool_calls": [{**call, "function": function}]}))
        native += [
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": a}}]}) for a in arguments
        ]
    native.append(chunk({}, "tool_calls" if arguments else "stop"))
    native.append(
        event({"id": "c", "choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}})
    )
    native.append(event("[DONE]"))
    stream = ChatToMessagesStream()
    frames = [frame for e, doc in native for frame in stream.feed(e, doc)]
    names = [f.event for f in frames]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    docs = [json.loads(f.data) for f in frames]
    open_blocks: list[int] = []
    text, partial = "", ""
    for doc in docs:
        if doc["type"] == "content_block_start":
            assert not open_blocks  # one block at a time, each closed before the next
            open_blocks.append(doc["index"])
        elif doc["type"] == "content_block_delta":
            assert open_blocks == [doc["index"]]
            text += doc["delta"].get("text", "")
            partial += doc["delta"].get("partial_json", "")
        elif doc["type"] == "content_block_stop":
            assert open_blocks.pop() == doc["index"]
    assert not open_blocks
    assert text == "".join(pieces) and partial == "".join(arguments)
    final = docs[-2]
    assert final["delta"]["stop_reason"] == ("tool_use" if arguments else "end_turn")
    assert final["usage"]["input_tokens"] == 4 and final["usage"]["output_tokens"] == 2


def test_a_chat_stream_without_done_still_ends_the_message() -> None:
    stream = ChatToMessagesStream()
    chunk = {"id": "c", "model": "g", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    frames = stream.feed(*event(chunk))
    frames += stream.finish()
    assert [f.event for f in frames][-2:] == ["message_delta", "message_stop"]
    assert stream.finish() == []  # ended once
