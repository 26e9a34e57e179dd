"""YAML reading: a fast reader for plain data, and a round-trip reader that keeps positions so
every error can say file:line:column.

Floats are read as exact ``Decimal`` (never binary floats: money must not pick up artefacts),
timestamps and dates stay strings for pydantic to parse strictly.

``load_plain`` is the fast path (libyaml events through PyYAML's C parser, resolved with the
YAML 1.2 core rules the round-trip reader uses; about 7x faster). Whatever it does not handle
exactly like the round-trip reader (explicit tags, merge keys, octal or underscored numbers,
duplicate keys, syntax errors) it leaves to that reader. Callers validate the plain data and,
only when something is wrong, re-read the file with ``parse_yaml`` to locate the problems.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml as pyyaml
from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError


class _ExactConstructor(RoundTripConstructor):
    """Round-trip constructor that reads floats as Decimal and timestamps as their text."""

    def construct_yaml_float(self, node: Any) -> Decimal | str:  # type: ignore[override]
        text = str(self.construct_scalar(node))
        digits = text.replace("_", "")
        special = SPECIAL_FLOATS.get(digits.lower())
        try:  # inf/nan are kept for validation to refuse with a position
            return Decimal(special or digits)
        except InvalidOperation:  # "._" matches the float pattern but is no number: a string
            return text

    def construct_yaml_int(self, node: Any) -> int | str:  # type: ignore[override]
        try:
            return super().construct_yaml_int(node)
        except (ValueError, IndexError):  # "-_" matches the int pattern but is no number
            return str(self.construct_scalar(node))

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> str:  # type: ignore[override]
        return str(self.construct_scalar(node))


_ExactConstructor.add_constructor("tag:yaml.org,2002:float", _ExactConstructor.construct_yaml_float)
_ExactConstructor.add_constructor("tag:yaml.org,2002:int", _ExactConstructor.construct_yaml_int)
_ExactConstructor.add_constructor(
    "tag:yaml.org,2002:timestamp", _ExactConstructor.construct_yaml_timestamp
)


SPECIAL_FLOATS = {".inf": "Infinity", "+.inf": "Infinity", "-.inf": "-Infinity", ".nan": "NaN"}


def _reader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _ExactConstructor
    yaml.allow_duplicate_keys = False
    return yaml


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a catalog or rules file, located precisely."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class InputError(Exception):
    """Raised with every problem found; callers get all of them at once, and nothing loaded."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def read_yaml(path: Path, display: str | None = None) -> Any:
    """Parse one YAML file keeping positions; a syntax error becomes an InputError."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError([Problem(name, 1, 1, "", f"cannot read file: {exc.strerror}")]) from exc
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> Any:
    try:
        return _reader().load(io.StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(filter(None, [exc.context, exc.problem]))
        raise InputError([Problem(name, line, col, "", f"YAML syntax: {message}")]) from exc


def locate(root: Any, loc: Iterable[str | int]) -> tuple[int, int]:
    """1-based line and column of the deepest node of ``loc`` that exists in ``root``.

    A missing field points at its parent; parts of a pydantic ``loc`` that are not keys (union
    branch tags, validator names) are skipped.
    """
    line, col = 0, 0
    node = root
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            value = node[part]
            is_container = isinstance(value, CommentedMap | CommentedSeq)
            line, col = node.lc.key(part) if is_container else node.lc.value(part)
            node = value
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line, col = node.lc.item(part)
            node = node[part]
    return line + 1, col + 1


def dotted(loc: Iterable[str | int]) -> str:
    return ".".join(str(p) for p in loc)


def problems_from_validation(
    exc: ValidationError, root: Any, file: str, prefix: Sequence[str | int] = ()
) -> list[Problem]:
    """Turn a pydantic error into located problems; ``prefix`` is where the validated object
    sits inside the document ``root``."""
    out = []
    for err in exc.errors(include_url=False):
        loc = [*prefix, *err["loc"]]
        line, col = locate(root, loc)
        out.append(Problem(file, line, col, dotted(loc), err["msg"]))
    return out


def problem_at(root: Any, loc: Sequence[str | int], file: str, message: str) -> Problem:
    line, col = locate(root, loc)
    return Problem(file, line, col, dotted(loc), message)


def to_plain(node: Any) -> Any:
    """ruamel containers to plain dict/list (pydantic validates plain data fastest)."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    return node


# --- the fast path ----------------------------------------------------------------------------

_CParser = getattr(pyyaml, "CSafeLoader", None)  # None when PyYAML was built without libyaml
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
# The YAML 1.2 float and int patterns of the round-trip reader (ruamel.yaml.resolver), verbatim.
_RT_FLOAT = re.compile(
    r"[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
    r"|[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)
_RT_INT = re.compile(r"[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+")
_CONSTANTS: dict[str, Any] = {
    "": None,
    "~": None,
    "null": None,
    "Null": None,
    "NULL": None,
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
}


class _Unsupported(Exception):
    """Something the fast path leaves to the round-trip reader."""


def _plain_scalar(text: str) -> Any:
    """Resolve an untagged plain scalar exactly as the round-trip reader does (YAML 1.2)."""
    if text in _CONSTANTS:
        return _CONSTANTS[text]
    if text[0] in "-+0123456789.":
        if _RT_FLOAT.fullmatch(text):
            if "_" in text or text[-1] in "fFnN":  # underscores, .inf, .nan
                raise _Unsupported(text)
            return Decimal(text)
        if _RT_INT.fullmatch(text):
            if not _INT.fullmatch(text):  # octal, hex, binary, underscores, leading zeros
                raise _Unsupported(text)
            return int(text)
    elif text in ("<<", "="):
        raise _Unsupported(text)  # merge key, value key
    return text


def _fast_load(text: str) -> Any:
    """Plain data from libyaml's event stream, or _Unsupported / a PyYAML error."""
    assert _CParser is not None
    loader = _CParser(text)
    stack: list[Any] = []  # open containers; for a mapping, the pending key follows it
    keys: list[Any] = []
    root: Any = None
    documents = 0
    no_key = keys  # a sentinel no key can equal
    try:
        while True:
            event = loader.get_event()
            kind = type(event)
            if kind is pyyaml.ScalarEvent:
                if event.tag is None and event.implicit[0]:
                    value = _plain_scalar(event.value)
                elif event.tag is None:
                    value = event.value
                else:
                    raise _Unsupported(event.tag)
            elif kind is pyyaml.MappingStartEvent or kind is pyyaml.SequenceStartEvent:
                if event.tag is not None:
                    raise _Unsupported(event.tag)
                value = {} if kind is pyyaml.MappingStartEvent else []
            elif kind is pyyaml.MappingEndEvent or kind is pyyaml.SequenceEndEvent:
                stack.pop()
                keys.pop()
                continue
            elif kind is pyyaml.DocumentStartEvent:
                documents += 1
                if documents > 1 or event.version is not None or event.tags:
                    raise _Unsupported("directives or several documents")
                continue
            elif kind is pyyaml.StreamEndEvent:
                return root
            elif kind is pyyaml.AliasEvent:
                raise _Unsupported("alias")  # libyaml and ruamel disagree on anchor names
            else:
                continue
            if event.anchor is not None:
                raise _Unsupported("anchor")
            if not stack:
                root = value
            else:
                top = stack[-1]
                if type(top) is list:
                    top.append(value)
                elif keys[-1] is no_key:
                    if type(value) is not str or value in top:
                        raise _Unsupported("non-string or duplicate key")
                    keys[-1] = value
                else:
                    top[keys[-1]] = value
                    keys[-1] = no_key
            if kind is pyyaml.MappingStartEvent or kind is pyyaml.SequenceStartEvent:
                stack.append(value)
                keys.append(no_key)
    finally:
        loader.dispose()


def load_plain(text: str, name: str) -> Any:
    """Plain data (dict, list, str, int, Decimal, bool, None) of one YAML document.

    Same result as ``to_plain(parse_yaml(text, name))``, faster; a syntax error raises the
    round-trip reader's located InputError.
    """
    if _CParser is not None and "\t" not in text:  # tabs: libyaml is more lenient than ruamel
        try:
            return _fast_load(text)
        except (_Unsupported, pyyaml.YAMLError):
            pass
    return to_plain(parse_yaml(text, name))
