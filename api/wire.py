"""Money on the wire: every ``Decimal`` in a JSON response is a plain decimal string.

msgspec writes a Decimal with ``str()``, which switches to exponent notation for small values
("1.00000000000000000E-7" for a DECIMAL(38,24) tenth of a micro-dollar). ``MoneyResponse``
renders JSON with every Decimal as its plain, normalized form ("0.0000001", "10"): exact,
readable, and parseable by any decimal library.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from litestar import Response
from litestar.serialization import default_serializer
from litestar.types import Serializer


def plain(value: Decimal) -> str:
    """The exact value without exponent or trailing zeros."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _walk(value: Any) -> Any:
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, dict):
        return {k: _walk(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v) for v in value]
    return value


class MoneyResponse(Response[Any]):
    def render(
        self, content: Any, media_type: str, enc_hook: Serializer = default_serializer
    ) -> bytes:
        if not isinstance(content, bytes | str) and "json" in media_type:
            builtins = msgspec.to_builtins(content, builtin_types=(Decimal,), enc_hook=enc_hook)
            content = _walk(builtins)
        return super().render(content, media_type, enc_hook)
