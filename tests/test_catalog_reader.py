"""The fast YAML reader gives exactly what the position-keeping reader gives, or defers to it."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from byokvault.engine.catalog.yamlio import InputError, load_plain, parse_yaml, to_plain


def _typed(value: Any) -> Any:
    """Values with their (base) types, Decimals by their exact text: equal means identical."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, Decimal):
        return ("Decimal", str(value))
    if isinstance(value, bool) or value is None:
        return value
    for base in (int, str):
        if isinstance(value, base):
            return (base.__name__, base(value))
    return (type(value).__name__, repr(value))


def _outcome(read: Any, text: str) -> Any:
    try:
        return _typed(read(text))
    except InputError:
        return "InputError"


def _slow(text: str) -> Any:
    return to_plain(parse_yaml(text, "t.yaml"))


def _fast(text: str) -> Any:
    return load_plain(text, "t.yaml")


TRICKY = [
    "1",
    "-1",
    "+1",
    "0",
    "-0",
    "007",
    "0o17",
    "0x1F",
    "0b101",
    "1_000",
    "1.5",
    "1.",
    ".5",
    "-.5",
    "1e-06",
    "1E6",
    "1.5e+3",
    "1e5",
    "+1.0e-7",
    "0.000001",
    "1_0.5",
    ".inf",
    "-.inf",
    ".NaN",
    ".nan",
    "~",
    "null",
    "Null",
    "NULL",
    "",
    "true",
    "True",
    "FALSE",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "2025-01-01",
    "2025-01-01T00:00:00Z",
    "2025-01-01 10:00:00+02:00",
    "2025-1-1 1:00:00",
    "10:30",
    "09:00:00",
    "1:20",
    "<<",
    "=",
    "'quoted'",
    '"dq"',
    "!!str 5",
    "!!int 5",
    "!custom x",
    "&a 5",
    "*a",
    "a: b",
    "[1, 2]",
    "{a: 1}",
    "- x",
    "#c",
    "a #c",
    "@x",
    "`x",
    "%x",
    "1.2.3",
    "+",
    "-",
    ".",
    "e5",
    "0.1e",
    "12:30:45.5",
    "3:25:45",
]


@settings(max_examples=int(os.environ.get("READER_EXAMPLES", "300")), deadline=None)
@given(
    st.sampled_from(TRICKY)
    | st.text(alphabet="0123456789+-._eExob:~ntrufaTFN'\"!&*<=# []{},?|>\t", max_size=8)
)
@example("1e-06")
def test_scalars_read_alike(scalar: str) -> None:
    """Whatever the position-keeping reader reads, the fast one reads identically. (libyaml
    accepts a few things ruamel calls syntax errors, e.g. ``k: >#``; those read the same as
    libyaml reads them, and never differ on a document ruamel accepts.)"""
    for doc in (f"k: {scalar}\n", f"- {scalar}\n", f"[{scalar}]\n", f"k: [{scalar}, 2]\n"):
        slow = _outcome(_slow, doc)
        if slow != "InputError":
            assert _outcome(_fast, doc) == slow, doc


@pytest.mark.parametrize(
    "doc",
    [
        "a: &x {b: 1}\nc: *x\n",
        "a: &x {b: 1}\nc:\n  <<: *x\n  d: 2\n",
        "a: 1\na: 2\n",
        "1: x\n",
        "a: !!str 012\n",
        "%YAML 1.1\n---\na: yes\n",
        "a: 1\n---\nb: 2\n",
        "a: |\n  line one\n  line two\nb: >\n  folded\n  text\n",
        "a: 'it''s'\nb: \"tab\\tnew\\nline\"\n",
        "a: [1, 2\n",
        "a:\n  - b\n - c\n",
        "",
        "# only a comment\n",
        "- [a, {b: [c, {d: e}]}]\n",
        "amount: 0.150\nother: 1e-18\n",
    ],
)
def test_documents_read_alike(doc: str) -> None:
    assert _outcome(_fast, doc) == _outcome(_slow, doc)


def test_money_is_exact_decimal() -> None:
    data = _fast("a: 1e-06\nb: 0.1\nc: 0.30000000000000004\n")
    assert data == {
        "a": Decimal("0.000001"),
        "b": Decimal("0.1"),
        "c": Decimal("0.30000000000000004"),
    }
    assert all(type(v) is Decimal for v in data.values())


def test_syntax_error_is_located() -> None:
    with pytest.raises(InputError) as caught:
        load_plain("a: 1\nb: [1, 2\n", "x.yaml")
    [problem] = caught.value.problems
    assert (problem.file, problem.line) == ("x.yaml", 3)
    assert problem.message.startswith("YAML syntax:")
