"""YAML reading and writing that keeps positions, so every error can say file:line:column.

Floats are read as exact ``Decimal`` (never binary floats: money must not pick up artefacts),
timestamps and dates stay strings for pydantic to parse strictly.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError


class _ExactConstructor(RoundTripConstructor):
    """Round-trip constructor that reads floats as Decimal and timestamps as their text."""

    def construct_yaml_float(self, node: Any) -> Decimal:  # type: ignore[override]
        text = str(self.construct_scalar(node)).replace("_", "")
        return Decimal(text)

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> str:  # type: ignore[override]
        return str(self.construct_scalar(node))


_ExactConstructor.add_constructor("tag:yaml.org,2002:float", _ExactConstructor.construct_yaml_float)
_ExactConstructor.add_constructor(
    "tag:yaml.org,2002:timestamp", _ExactConstructor.construct_yaml_timestamp
)


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
