"""The secret type: a provider key that is hard to leak by accident.

``Secret`` redacts itself in ``repr``/``str``/``format``, refuses pickling and copying, and is
not JSON-serialisable. The only way to read it is ``reveal()`` — one greppable name for every
place the plaintext leaves the vault (the provider call, the health probe). ``RedactingFilter``
scrubs key-shaped strings from log records as a second line of defence.
"""

from __future__ import annotations

import hmac
import logging
import re
from typing import Any, NoReturn

REDACTED = "<redacted>"


class Secret:
    """A plaintext provider key held in memory only for the duration of one use."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("a secret must be a non-empty string")
        object.__setattr__(self, "_value", value.strip())

    def reveal(self) -> str:
        """The plaintext. Call it only where the key goes onto the wire to its provider."""
        return self._value  # type: ignore[no-any-return]

    def fingerprint(self) -> str:
        """The last four characters: enough for a person to recognise the key, no more."""
        return self._value[-4:]  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    __hash__ = None  # type: ignore[assignment]

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled or serialised")

    def __copy__(self) -> NoReturn:
        raise TypeError("a Secret cannot be copied")

    def __deepcopy__(self, memo: Any) -> NoReturn:
        raise TypeError("a Secret cannot be copied")


# Key shapes worth scrubbing even when they reach a log line some other way: provider key
# prefixes, bearer tokens and api-key header/query values.
_KEY_PATTERNS = [
    re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-+/=]{8,}"),
    re.compile(
        r"(?i)((?:x-api-key|x-goog-api-key|api[_-]?key|key)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,]{8,}"
    ),
]


def redact_text(text: str) -> str:
    for pattern in _KEY_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.lastindex else "") + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Renders each record's message once, scrubbed, so no formatter sees raw arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not take the log line's args along
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        return True


def install_log_redaction(*handlers: logging.Handler) -> None:
    """Attach the filter to ``handlers`` (default: every handler of the root logger),
    idempotently. Handler filters see records from every logger that propagates to them."""
    for handler in handlers or tuple(logging.getLogger().handlers):
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
