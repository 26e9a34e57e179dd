"""URLs with their credentials taken out, for anything a person or a client may read.

A catalog source may be configured as ``https://user:password@host/...`` or with a key in its
query (``?key=...``, ``?api_key=...``, ``&token=...``); fetch errors quote the URL they failed
on. Everything the server shows or logs about a source (the sync status, its errors, log lines)
passes through :func:`redact_urls`: the userinfo and the value of every query or fragment
parameter whose name looks like a credential become ``<redacted>``; the scheme, host, path and
the other parameters stay, so the message still says which source failed.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

from .vault.secret import REDACTED

# A URL inside free text: up to whitespace, a quote or an angle bracket (``<`` also keeps an
# already redacted URL unchanged, so redaction is idempotent), never ending on punctuation that
# ends the sentence around it (``url: fetch failed``).
_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s'\"<>`]*[^\s'\"<>`.,:;!?)\]]")
# Parameter names that carry credentials: key, api_key, apiKey, x-goog-api-key, token,
# access_token, secret, client_secret, password, passwd, pwd, auth, signature, sig, X-Amz-*.
_CREDENTIAL_NAME = re.compile(
    r"(?i)(key|token|secret|pass|pwd|auth|sig|credential|session|code|jwt|x-amz-)"
)


def redact_url(url: str) -> str:
    """``url`` without userinfo and without the values of credential-named parameters."""
    scheme, found, rest = url.partition("://")
    if not found:
        return url
    ends = [at for at in (rest.find(c) for c in "/?#") if at >= 0]
    authority_end = min(ends) if ends else len(rest)
    authority, tail = rest[:authority_end], rest[authority_end:]
    if "@" in authority:
        authority = f"{REDACTED}@{authority.rpartition('@')[2]}"
    tail, hashed, fragment = tail.partition("#")
    path, asked, query = tail.partition("?")
    query = _redact_params(query) if asked else ""
    fragment = _redact_params(fragment) if hashed else ""
    return f"{scheme}://{authority}{path}{asked}{query}{hashed}{fragment}"


def _redact_params(params: str) -> str:
    parts = []
    for part in re.split(r"([&;])", params):
        name, equals, _ = part.partition("=")
        if equals and _CREDENTIAL_NAME.search(unquote(name)):
            part = f"{name}={REDACTED}"
        parts.append(part)
    return "".join(parts)


def redact_urls(text: str) -> str:
    """``text`` with every URL in it redacted (see :func:`redact_url`)."""
    return _URL.sub(lambda match: redact_url(match.group(0)), text)


def redact_optional(text: str | None) -> str | None:
    return None if text is None else redact_urls(text)


class UrlRedactingFilter(logging.Filter):
    """Renders a record's message (and its traceback) once, with its URLs redacted, so no
    handler or formatter sees the raw URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not take the record's args along
            message = str(record.msg)
        record.msg, record.args = redact_urls(message), None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = redact_urls(text), None
        return True


def redact_logger(name: str) -> None:
    """Redact the URLs of every record logged on logger ``name`` (idempotent). A logger's own
    filters see only its own records, so each logger that may print a source URL is named."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, UrlRedactingFilter) for f in logger.filters):
        logger.addFilter(UrlRedactingFilter())
