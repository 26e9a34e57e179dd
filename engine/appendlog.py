"""An append-only file whose appends are durable when ``write`` returns: the file mechanics
every journal-first writer shares (the ledger's journal, the vault's audit log).

The file is opened ``O_DSYNC``, so one gathered ``writev`` is both the write and the sync
(~0.2 ms on an idle disk): a lone append costs one system call, and one GIL hand-off, which
under load can cost as much as the sync itself. What the bytes mean (frames, checksums, replay)
is the caller's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .durable import fsync_path

IOV_MAX = 1024  # buffers per writev (the Linux limit)


class AppendLog:
    """The open file: ``write`` appends and returns once the bytes are durable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        created = not path.exists()
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_DSYNC, 0o600)
        if created:  # the file's directory entry must survive a crash too
            fsync_path(path.parent)
        self.size = os.fstat(self._fd).st_size

    def write(self, buffers: Sequence[bytes]) -> None:
        """Append ``buffers`` with one gathered write; durable when it returns."""
        if len(buffers) > IOV_MAX:
            buffers = [b"".join(buffers)]
        size = sum(map(len, buffers))
        written = os.writev(self._fd, buffers)
        if written < size:  # a short write (rare): finish it plainly
            view = memoryview(b"".join(buffers))[written:]
            while view:
                view = view[os.write(self._fd, view) :]
        self.size += size

    def reset(self) -> None:
        """Empty the file (only once whatever it holds is durable elsewhere)."""
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)
        self.size = 0

    def close(self) -> None:
        os.close(self._fd)
