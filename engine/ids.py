"""Random identifiers (record, quote and call ids), cheap enough for every call.

Each id is fresh randomness from ``os.urandom``, as ``uuid4`` or ``secrets.token_hex`` would
give, but drawn from a per-thread pool filled by one urandom call per 4 kB: a system call per
id dropped and re-took the GIL each time, which under load cost a measurable share of the quote
and ledger paths.
"""

from __future__ import annotations

import os
import threading

_POOL_BYTES = 4096
_pool = threading.local()  # per thread: .text (hex digits) and .at (the next unused one)
os.register_at_fork(after_in_child=_pool.__dict__.clear)  # a child must not reuse the parent's


def random_hex(digits: int) -> str:
    """``digits`` random hex digits (4 bits each) never handed out before in this process."""
    text: str = getattr(_pool, "text", "")
    at: int = getattr(_pool, "at", 0)
    if at + digits > len(text):
        text = _pool.text = os.urandom(max(_POOL_BYTES, (digits + 1) // 2)).hex()
        at = 0
    _pool.at = at + digits
    return text[at : at + digits]
