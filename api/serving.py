"""The HTTP protocol ``byokvault serve`` runs under uvicorn: httptools, with each response's
head and body leaving in one ``send``.

uvicorn writes a response's status line and headers as soon as the app sends
``http.response.start``, and the body separately. On loopback each ``send`` is a system call
that also runs the receiving side's TCP path, and the two of them were ~40% of the event loop's
busy time under a quote load. Writes made during one event-loop step are gathered here and go
out together at the end of that step: a whole small response in one system call, a stream's
chunks at most one loop step later than before.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _GatheringTransport:
    """A transport whose writes within one loop step are sent as one (everything else is the
    real transport's)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()  # a response written just before the close still leaves first
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GatheringHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        gathered: Any = _GatheringTransport(transport, self.loop)  # type: ignore[arg-type]
        super().connection_made(gathered)
