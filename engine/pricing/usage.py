"""The usage vocabulary: what one call consumed, as quantities per usage key.

Key names and meaning follow the ``genai-prices`` ``Usage`` convention where it has one:

* ``input_tokens`` counts ALL input tokens, including the cached (``cache_read_tokens``),
  cache-written (``cache_write_tokens``, itself split into ``cache_write_5m_tokens`` and
  ``cache_write_1h_tokens``) and audio/image/video parts; ``cache_audio_read_tokens`` is the part
  of the cached tokens that is audio.
* ``output_tokens`` counts ALL output tokens, including ``output_reasoning_tokens`` and the
  audio/image parts.

Keys it lacks are ours: per-image, per-second, per-minute, per-page, per-character and per-call
quantities (``output_images``, ``output_video_seconds``, ``realtime_minutes``, ...).

"Part of" is defined once here (``PARTS``), as genai-prices does: a token key is a set of
attributes and a key is a part of every key whose attributes it includes. Pricing charges each
token at the most specific priced key (see :mod:`.cost`), so a part is never charged twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from itertools import compress
from operator import attrgetter
from typing import Any

import msgspec
from msgspec.structs import astuple

# Token keys as attribute sets (direction, token type, modality, cache ttl). A key is a part of
# another when its attributes include the other's. Mirrors genai-prices' unit dimensions.
PARTS: dict[str, frozenset[str]] = {
    "input_tokens": frozenset({"input"}),
    "cache_read_tokens": frozenset({"input", "cache_read"}),
    "cache_write_tokens": frozenset({"input", "cache_write"}),
    "cache_write_5m_tokens": frozenset({"input", "cache_write", "ttl_5m"}),
    "cache_write_1h_tokens": frozenset({"input", "cache_write", "ttl_1h"}),
    "input_audio_tokens": frozenset({"input", "audio"}),
    "cache_audio_read_tokens": frozenset({"input", "audio", "cache_read"}),
    "input_image_tokens": frozenset({"input", "image"}),
    "input_video_tokens": frozenset({"input", "video"}),
    "output_tokens": frozenset({"output"}),
    "output_reasoning_tokens": frozenset({"output", "reasoning"}),
    "output_audio_tokens": frozenset({"output", "audio"}),
    "output_image_tokens": frozenset({"output", "image"}),
}

# Parts that, when the model has no price of their own, are charged at their whole's rate.
# Only where that can never undercharge: reasoning tokens ARE output tokens (OpenAI bills them at
# the output rate); a cache read without a discount is an ordinary input token; the 5-minute
# cache-write split has no dimension of its own (it is the default cache-write rate). Every other
# part (audio, image, video, cache writes, 1-hour writes) costs more than its whole at most
# providers, so using it without a price of its own is an UnpricedError (fail closed).
FALLS_BACK_TO_WHOLE: frozenset[str] = frozenset(
    {"output_reasoning_tokens", "cache_read_tokens", "cache_write_5m_tokens"}
)

# The SQL twin holds quantities as DECIMAL(18, 6): at most 10^12 of anything, 6 decimals.
MAX_QUANTITY = 10**12
MAX_DECIMALS = 6

# Quantities that need not be whole numbers (durations); every other key counts things.
FRACTIONAL_KEYS: frozenset[str] = frozenset(
    {"input_audio_seconds", "output_audio_seconds", "output_video_seconds", "realtime_minutes"}
)


class UsageError(ValueError):
    """A usage that cannot have happened (negative, a part larger than its whole, bad type)."""


def strict_wholes(key: str) -> tuple[str, ...]:
    """The keys ``key`` is a strict part of, most specific first."""
    attrs = PARTS.get(key)
    if attrs is None:
        return ()
    wholes = [k for k, a in PARTS.items() if k != key and a < attrs]
    return tuple(sorted(wholes, key=lambda k: -len(PARTS[k])))


def strict_parts(key: str) -> tuple[str, ...]:
    """The keys that are strict parts of ``key``."""
    attrs = PARTS.get(key)
    if attrs is None:
        return ()
    return tuple(k for k, a in PARTS.items() if k != key and attrs < a)


def depth(key: str) -> int:
    """How specific a key is: parts are deeper than their wholes; independent keys are 1."""
    return len(PARTS.get(key, ("x",)))


class Usage(msgspec.Struct, frozen=True, gc=False):
    """What one call consumed. Absent quantities are 0; ``requests`` is 1 (one call).

    Quantities are ints, or Decimals for durations (floats are refused: they are inexact;
    :meth:`from_mapping` converts JSON numbers exactly)."""

    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    input_audio_tokens: int = 0
    cache_audio_read_tokens: int = 0
    input_image_tokens: int = 0
    input_video_tokens: int = 0
    output_tokens: int = 0
    output_reasoning_tokens: int = 0
    output_audio_tokens: int = 0
    output_image_tokens: int = 0
    embedding_tokens: int = 0
    input_characters: int = 0
    input_document_pages: int = 0
    input_images: int = 0
    output_images: int = 0
    input_audio_seconds: Decimal | int = 0
    output_audio_seconds: Decimal | int = 0
    output_video_seconds: Decimal | int = 0
    realtime_minutes: Decimal | int = 0
    web_searches: int = 0
    tool_calls: int = 0
    requests: int = 1

    def __post_init__(self) -> None:
        values = astuple(self)
        if not _plainly_valid(values):
            _validate(self, values)  # raises, naming the first problem (or accepts)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Usage:
        """A usage from JSON-like data; unknown keys and non-numbers are errors naming the key."""
        if not isinstance(data, Mapping):
            raise UsageError(f"usage must be an object of quantities, got {type(data).__name__}")
        unknown = sorted(set(data) - KEY_SET)
        if unknown:
            raise UsageError(f"unknown usage key(s): {', '.join(map(str, unknown))}")
        values = {k: _checked_number(k, v) for k, v in data.items() if v is not None}
        return cls(**values)

    def used_keys(self) -> tuple[str, ...]:
        """The keys with a non-zero quantity, in vocabulary order."""
        return tuple(compress(USAGE_KEYS, _ALL_VALUES(self)))

    def quantities(self) -> dict[str, Decimal | int]:
        """The non-zero quantities by key (``requests`` included)."""
        out: dict[str, Decimal | int] = {}
        for key in USAGE_KEYS:
            value = getattr(self, key)
            if value:
                out[key] = value
        return out

    def as_dict(self) -> dict[str, Decimal | int]:
        return {key: getattr(self, key) for key in USAGE_KEYS}


USAGE_KEYS: tuple[str, ...] = Usage.__struct_fields__
KEY_SET: frozenset[str] = frozenset(USAGE_KEYS)
_ALL_VALUES = attrgetter(*USAGE_KEYS)
# For validation: every token key with the keys that are strict parts of it, parts first.
_PART_CHECKS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (key, strict_parts(key)) for key in sorted(PARTS, key=lambda k: -len(PARTS[k]))
)


def leaf_form(key: str) -> dict[str, int]:
    """The charged quantity of ``key`` when every key is priced (genai-prices' leaf: the key's
    quantity minus the leaves of its strict parts), as a linear form in the quantities."""
    form = {key: 1}
    for part in strict_parts(key):
        for quantity, coefficient in leaf_form(part).items():
            form[quantity] = form.get(quantity, 0) - coefficient
    return {quantity: c for quantity, c in form.items() if c}


def _parts_hold_source() -> str:
    """Source of a function telling whether every whole holds its parts: each token key's leaf
    (its linear form, over the quantities by position) is >= 0, written as "subtracted terms
    <= added terms". Straight-line code generated once from PARTS: what ``_check_parts``
    computes, without its loops."""
    position = {key: i for i, key in enumerate(USAGE_KEYS)}

    def side(terms: list[tuple[str, int]]) -> str:
        return " + ".join(f"{'' if c == 1 else f'{c} * '}v[{position[q]}]" for q, c in terms)

    tests = []
    for key, parts in _PART_CHECKS:
        if parts:
            form = leaf_form(key).items()
            minus = [(q, -c) for q, c in form if c < 0]
            plus = [(q, c) for q, c in form if c > 0]
            tests.append(f"{side(minus)} <= {side(plus)}")
    return "lambda v: " + " and ".join(tests or ["True"])


_parts_hold: Callable[[tuple], bool] = eval(_parts_hold_source())  # our own text
_encode = msgspec.json.Encoder().encode
_MINUS, _E = ord("-"), ord("e")


def _plainly_valid(values: tuple) -> bool:
    """The common case, decided by a few C-level passes: their sum an int (so every quantity an
    int or a bool: a float, Decimal, None or text makes it something else or fails) at most
    MAX_QUANTITY, no quantity negative or a bool (their JSON text has no '-' and no 'e': true
    and false both have one), every whole holding its parts. False means "not sure":
    :func:`_validate` then decides and names the problem. A property test checks this never
    accepts what :func:`_validate` refuses."""
    try:
        total = sum(values)
    except TypeError:  # a non-number somewhere
        return False
    if type(total) is not int or total > MAX_QUANTITY:
        return False
    try:
        text = _encode(values)
    except (TypeError, ValueError):  # an object whose __radd__ made the sum an int
        return False
    # (bytes as ints: `b"-" in text` would first try, and fail, to read b"-" as an int)
    return _MINUS not in text and _E not in text and _parts_hold(values)


def _validate(usage: Usage, values: tuple) -> None:
    """The full validation, key by key: raises UsageError naming the first problem."""
    for key, value in zip(USAGE_KEYS, values, strict=True):
        if isinstance(value, float):
            raise UsageError(f"{key} is a float: pass an int or Decimal (or from_mapping)")
        _checked_number(key, value)
    _check_parts(usage)


def _checked_number(key: str, value: object) -> Decimal | int:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        raise UsageError(f"{key} must be a number, got {type(value).__name__}")
    number = Decimal(repr(value)) if isinstance(value, float) else value
    if isinstance(number, Decimal) and not number.is_finite():
        raise UsageError(f"{key} must be finite, got {value}")
    if number < 0:
        raise UsageError(f"{key} is negative ({value})")
    if number > MAX_QUANTITY:
        raise UsageError(f"{key} is implausibly large ({value} > 10^12)")
    if key in FRACTIONAL_KEYS:
        if isinstance(number, Decimal) and number.as_tuple().exponent < -MAX_DECIMALS:  # type: ignore[operator]
            raise UsageError(f"{key} has more than {MAX_DECIMALS} decimals ({value})")
        return int(number) if number == int(number) else Decimal(number)
    if number != int(number):
        raise UsageError(f"{key} counts whole units, got {value}")
    return int(number)


def _check_parts(usage: Usage) -> None:
    """Each whole must hold its parts: the genai-prices leaf computation with every key, where a
    negative leaf means the parts add up to more than the whole."""
    leaves: dict[str, Decimal | int] = {}
    for key, parts in _PART_CHECKS:  # parts before their wholes
        leaf = getattr(usage, key)
        for part in parts:
            leaf -= leaves[part]
        if leaf < 0:
            raise UsageError(_overflow_message(usage, key, parts))
        leaves[key] = leaf


def _overflow_message(usage: Usage, key: str, parts: tuple[str, ...]) -> str:
    whole = getattr(usage, key)
    for part in parts:
        if getattr(usage, part) > whole:
            return f"impossible usage: {part} ({getattr(usage, part)}) exceeds {key} ({whole})"
    named = ", ".join(f"{p}={getattr(usage, p)}" for p in parts if getattr(usage, p))
    return f"impossible usage: the parts of {key} ({named}) add up to more than {key} ({whole})"
