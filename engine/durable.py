"""Durability by path: the one fsync every writer (ledger journal and segments, vault
compaction, catalog swaps) uses.

A file's fsync makes its bytes survive a crash; a directory's makes its names survive one, so a
write-then-rename is durable only once the directory holding the new name is synced too.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """fsync ``path``, a file or a directory."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
