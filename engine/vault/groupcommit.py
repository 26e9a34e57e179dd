"""Group commit for the vault's audit rows (access events, resolutions).

Callers on any thread ``submit`` a row and get a Future; the shared group-commit writer
(``byokvault.engine.groupcommit``) hands everything queued to ``commit`` as one batch, then
resolves the futures. The vault's ``commit`` is the audit log's one synced write
(``auditlog.py``: journal first, tables right after).

A caller that waits on its Future knows its row is durable: "no audit row, no secret" still
holds. If a batch fails, each row is retried alone so that one bad row (one the log cannot
encode) fails only its own caller. A failed synced write fails them all: the log then refuses
every write until the vault is reopened. (A reused call id is refused before its row is
submitted: ``store.py``.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ..groupcommit import GroupCommit

log = logging.getLogger(__name__)

# write(rows) writes every row of one batch inside the caller's transaction.
BatchWriter = Callable[[Sequence["AuditRow"]], None]


@dataclass(frozen=True, slots=True)
class AuditRow:
    table: str  # a key the writer understands ("access", "resolution")
    values: tuple[Any, ...]


class GroupCommitter:
    """Audit rows group-committed; ``commit(rows)`` is called with each batch and must be
    atomic."""

    def __init__(self, commit: BatchWriter, *, max_batch: int = 1024, name: str = "audit") -> None:
        self._commit = commit
        self.batches = 0  # commits made (for tests and metrics)
        self._writer: GroupCommit[AuditRow, None] = GroupCommit(
            self._write, max_batch=max_batch, name=name
        )

    def submit(self, table: str, values: tuple[Any, ...]) -> Future[None]:
        return self._writer.submit(AuditRow(table, values))

    def close(self) -> None:
        """Commit everything queued (every future resolves), then stop the thread."""
        self._writer.close()

    def _write(self, batch: list[AuditRow]) -> list[Exception | None]:
        """One outcome per row: None once committed, or the exception that row alone hit."""
        try:
            self._commit(batch)
        except Exception as exc:
            if len(batch) > 1:  # isolate the bad row: the others still commit
                return [outcome for row in batch for outcome in self._write([row])]
            log.error("audit write failed (%s): %s", batch[0].table, type(exc).__name__)
            return [exc]
        self.batches += 1
        return [None] * len(batch)
