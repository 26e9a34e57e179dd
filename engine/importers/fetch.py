"""Reading a source: a local file or an http(s) URL, always parsed with exact decimals."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from ..redact import redact_url, redact_urls

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class FetchError(Exception):
    """A source could not be read or parsed; nothing was imported from it."""


def is_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(("http://", "https://"))


def parse_json(text: str | bytes, origin: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FetchError(f"{origin}: not valid JSON: {exc}") from exc


def read_source(
    location: str | Path,
    *,
    client: httpx.Client | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[Any, str]:
    """The parsed JSON of ``location`` and a printable origin. Any failure raises FetchError:
    a partial download is never returned (the whole body is read and parsed before use)."""
    if is_url(location):
        url = str(location)
        try:
            if client is None:
                with httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=True) as own:
                    response = own.get(url, headers=headers)
            else:
                response = client.get(url, headers=headers)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            failure = f"{url}: fetch failed: {type(exc).__name__}: {exc}"
            raise FetchError(redact_urls(failure)) from None  # httpx's own text quotes the URL
        origin = redact_url(url)  # the origin lands in reports and errors: no credentials
        return parse_json(response.content, origin), origin
    path = Path(location)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise FetchError(f"{path}: cannot read: {exc.strerror}") from exc
    return parse_json(text, str(path)), str(path)


def source_data(source: Any, label: str) -> tuple[Any, str]:
    """Already-parsed data (a mapping, used as is) or a path/URL to read; with its origin."""
    if isinstance(source, Mapping):
        return source, f"{label} data"
    return read_source(source)
