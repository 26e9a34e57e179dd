"""The single ledger writer: idempotent, gap-free, chained, group-committed appends.

Callers on any thread ``submit`` a record and get a Future (or ``submit_many`` records and
get one Future for all of them). The shared group-commit writer
(``byokvault.engine.groupcommit``) hands each queued batch to ``_process``, which resolves
idempotency (TigerBeetle style: same key and payload returns the original record,
same key and another payload is a conflict naming the differing fields), numbers and chains
the new records, writes the whole batch in one durable append, updates the tenants' running
totals, and answers each job; the futures resolve only after that. While a commit is in flight
the next batch queues up, so throughput grows with load without a timer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import msgspec

from ..groupcommit import GroupCommit
from .batch import Prepared, chain_batch, prepare
from .record import BillingRecord, Kind, LedgerEntry, differing_fields, reversal_of
from .rows import entry_of
from .store import DuckDBStore, DuplicateKeys, LedgerStore
from .validate import RecordError, validate

Key = tuple[str, str]


class IdempotencyConflict(Exception):
    """The key was used before with a different payload; nothing was written."""

    def __init__(self, original: LedgerEntry, fields: list[str]) -> None:
        self.original = original
        self.fields = fields
        rec = original.record
        super().__init__(
            f"idempotency key {rec.idempotency_key!r} of tenant {rec.tenant_id!r} was used by "
            f"record {original.record_id} (seq {original.seq}) with different "
            f"{', '.join(fields)}"
        )


class ReversalError(ValueError):
    """A reversal that cannot be recorded (unknown record, not a charge, already reversed)."""


@dataclass(frozen=True)
class TenantUsage:
    tenant_id: str
    currency: str
    records: int
    raw_cost: Decimal
    billed_amount: Decimal
    rounded_amount: Decimal


# The jobs: a charge (``Prepared``: validated, canonical bytes made by the submitter), several
# charges under one Future, or a reversal. All untracked by the cyclic GC (gc=False: they hold
# no cycles): thousands sit in the queue under load, and every collection would walk them.
class _Many(msgspec.Struct, gc=False):
    charges: list[Prepared]


class _Reverse(msgspec.Struct, gc=False):
    record_id: str
    idempotency_key: str
    reason: str


_Job = Prepared | _Many | _Reverse
_Outcome = LedgerEntry | BaseException
Outcomes = list[LedgerEntry | BaseException]  # what a submit_many Future resolves to


def _size(job: _Job) -> int:
    """The records a job holds (what the group commit's batch limit counts)."""
    return len(job.charges) if job.__class__ is _Many else 1  # type: ignore[union-attr]


class Ledger:
    """The ledger's only writer. Use as a context manager, or call ``close()``."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        store: LedgerStore | None = None,
        max_batch: int = 4096,
        recent_keys: int = 100_000,
    ) -> None:
        self.store: LedgerStore = store or DuckDBStore(path)
        self._seq, self._head = self.store.head()
        self._max_batch = max_batch
        self._recent: OrderedDict[Key, LedgerEntry] = OrderedDict()
        self._recent_limit = recent_keys
        # hash((tenant, key)) of every stored record: a new key (the common case) needs no
        # query; a hit (a retry, or a rare hash collision) is looked up in the store. The
        # unique constraint in the store stays the backstop. ~60 bytes per stored record.
        self._index: set[int] = {hash(key) for key in self.store.stored_keys()}
        self._closed = False
        self._totals_lock = threading.Lock()
        self._totals: dict[tuple[str, str], list] = {
            (tenant, currency): [records, raw, billed, rounded]
            for tenant, currency, records, raw, billed, rounded in self.store.totals()
        }
        self._writer: GroupCommit[_Job, LedgerEntry | Outcomes] = GroupCommit(
            self._process, max_batch=max_batch, name="ledger", size=_size
        )

    # ---- the caller's side -------------------------------------------------------------

    def submit(self, record: BillingRecord) -> Future[LedgerEntry]:
        """Queue a charge; the Future resolves once it is durable (or with the original)."""
        return self._writer.submit(_charge(record))  # type: ignore[return-value]

    def submit_many(self, records: Iterable[BillingRecord]) -> Future[Outcomes]:
        """Queue several charges at once under one Future. It resolves once all of them are
        durable, to one outcome per record, in order: its entry (new, or the original of a
        retried key), or the IdempotencyConflict that refused it; it fails as a whole only if
        their write failed. All are validated first: a bad record raises RecordError and none
        of them is queued."""
        charges = [_charge(record) for record in records]
        return self._writer.submit(_Many(charges))  # type: ignore[return-value]

    def append(self, record: BillingRecord, timeout: float | None = None) -> LedgerEntry:
        return self.submit(record).result(timeout)

    def reverse(self, record_id: str, idempotency_key: str, reason: str) -> Future[LedgerEntry]:
        """Queue the reversal of a charge (the only way to correct one)."""
        return self._writer.submit(_Reverse(record_id, idempotency_key, reason))  # type: ignore[return-value]

    def usage(self, tenant_id: str) -> list[TenantUsage]:
        """The tenant's running totals per currency, current as of the last acknowledgement."""
        with self._totals_lock:
            return [
                TenantUsage(tenant, currency, *values)
                for (tenant, currency), values in sorted(self._totals.items())
                if tenant == tenant_id
            ]

    def find(self, record_id: str) -> LedgerEntry | None:
        """An acknowledged record by id (e.g. for its receipt)."""
        row = self.store.find_record(record_id)
        return None if row is None else entry_of(row)

    def find_key(self, tenant_id: str, idempotency_key: str) -> LedgerEntry | None:
        """The stored record for a key; a key never stored is answered from memory."""
        key = (tenant_id, idempotency_key)
        entry = self._recent.get(key)
        if entry is not None or hash(key) not in self._index:
            return entry
        rows = self.store.find_keys([key])
        return entry_of(rows[0]) if rows else None

    def head(self) -> tuple[int, str]:
        """(last acknowledged seq, its row hash)."""
        return self._seq, self._head

    def health(self) -> str:
        """Either "ok" or what has failed: the store fails closed after a failed write."""
        return self.store.health()

    def close(self) -> None:
        """Finish what is queued (every future resolves), then close the store."""
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the writer thread (called by the group commit with each batch) -------------------

    def _process(self, jobs: list[_Job]) -> list[LedgerEntry | Outcomes | BaseException]:
        """One outcome per job: for a charge or a reversal its entry (new, or the original of a
        retried key) or the error that refused it; for several charges the list of theirs. The
        new records are durable before this returns."""
        items: list[Prepared | BaseException] = []  # every job's records, in order
        reversed_now: set[str] = set()
        for job in jobs:
            if job.__class__ is Prepared:
                items.append(job)  # type: ignore[arg-type]
            elif job.__class__ is _Many:
                items += job.charges  # type: ignore[union-attr]
            else:
                items.append(self._reversal(job, reversed_now))  # type: ignore[arg-type]
        outcomes = self._settle(items)
        answers: list[LedgerEntry | Outcomes | BaseException] = []
        at = 0
        for job in jobs:
            if job.__class__ is _Many:
                end = at + len(job.charges)  # type: ignore[union-attr]
                answers.append(outcomes[at:end])
                at = end
            else:
                answers.append(outcomes[at])
                at += 1
        return answers

    def _settle(self, items: list[Prepared | BaseException]) -> list[_Outcome]:
        """Each record's outcome: a key's first record is written unless it is stored; every
        record with that key is then answered against what is stored."""
        keys: list[Key | None] = []
        first: dict[Key, Prepared] = {}
        for item in items:
            if item.__class__ is Prepared:
                record = item.record  # type: ignore[union-attr]
                key = (record.tenant_id, record.idempotency_key)
                if key not in first:
                    first[key] = item  # type: ignore[assignment]
                keys.append(key)
            else:
                keys.append(None)
        known = self._known(first)
        known.update(self._commit({k: p for k, p in first.items() if k not in known}))
        return [
            item if key is None else _outcome(known[key], item.record)  # type: ignore[union-attr,misc]
            for item, key in zip(items, keys, strict=True)
        ]

    def _known(self, keys: Iterable[Key]) -> dict[Key, LedgerEntry]:
        """The stored entries among ``keys``: from the recent cache, else from the store for
        the few keys the index says may be stored (retries); a new key costs no query."""
        known: dict[Key, LedgerEntry] = {}
        probe: list[Key] = []
        for key in keys:
            entry = self._recent.get(key)
            if entry is not None:
                known[key] = entry
            elif hash(key) in self._index:
                probe.append(key)
        for row in self.store.find_keys(probe) if probe else ():
            entry = entry_of(row)
            key = (entry.record.tenant_id, entry.record.idempotency_key)
            known[key] = entry
            self._remember(key, entry)
        return known

    def _reversal(self, job: _Reverse, reversed_now: set[str]) -> Prepared | Exception:
        """The reversal record for ``job``, ready to number, or the error that refuses it."""
        row = self.store.find_record(job.record_id)
        problem = None
        if row is None:
            problem = f"no record {job.record_id!r} in the ledger"
        elif row["kind"] != Kind.charge:
            problem = f"record {job.record_id!r} is a {row['kind']}; only a charge is reversed"
        elif job.record_id in reversed_now:
            problem = f"record {job.record_id!r} is already being reversed"
        else:
            earlier = self.store.reversal_of(job.record_id)
            prior = None if earlier is None else self.store.find_record(earlier)
            # The same key again is a retry: the idempotency path answers it.
            if prior is not None and prior["idempotency_key"] != job.idempotency_key:
                problem = f"record {job.record_id!r} is already reversed by {earlier}"
        if problem is not None:
            return ReversalError(problem)
        reversed_now.add(job.record_id)
        record = reversal_of(entry_of(row), job.idempotency_key, job.reason)
        try:
            money = validate(record)
        except RecordError as exc:
            return exc
        return prepare(record, money=money)

    def _commit(self, new: dict[Key, Prepared]) -> dict[Key, LedgerEntry]:
        """Write the new records in one durable append; keys already stored return their entry."""
        found: dict[Key, LedgerEntry] = {}
        while new:
            entries, rows = chain_batch(
                list(new.values()), self._seq, self._head, datetime.now(UTC)
            )
            try:
                self.store.append(rows)
            except DuplicateKeys:
                # The backstop: the unique constraint caught a key the index missed (it
                # cannot, short of a bug). Answer with the stored record, write the rest.
                stored = self.store.find_keys(list(new))
                if not stored:
                    raise
                for row in stored:
                    entry = entry_of(row)
                    key = (entry.record.tenant_id, entry.record.idempotency_key)
                    found[key] = entry
                    new.pop(key, None)
                continue
            self._acknowledge(entries)
            found.update(zip(new, entries, strict=True))
            break
        self._remember_all(found)
        return found

    def _acknowledge(self, entries: list[LedgerEntry]) -> None:
        """After COMMIT: advance the head and the tenants' running totals."""
        self._seq, self._head = entries[-1].seq, entries[-1].row_hash
        with self._totals_lock:
            for entry in entries:
                p = entry.record.pricing
                key = (entry.record.tenant_id, p.currency)
                totals = self._totals.get(key)
                if totals is None:
                    totals = self._totals[key] = [0, Decimal(0), Decimal(0), Decimal(0)]
                totals[0] += 1
                totals[1] += p.raw_cost
                totals[2] += p.billed_amount
                totals[3] += p.rounding.amount

    def _remember(self, key: Key, entry: LedgerEntry) -> None:
        self._remember_all({key: entry})

    def _remember_all(self, entries: dict[Key, LedgerEntry]) -> None:
        self._index.update(map(hash, entries))
        self._recent.update(entries)
        while len(self._recent) > self._recent_limit:
            self._recent.popitem(last=False)


def _charge(record: BillingRecord) -> Prepared:
    """A validated charge with its canonical bytes, made in the submitter's thread."""
    if record.kind is not Kind.charge:
        raise RecordError([("kind", "submit charges; record corrections with reverse()")])
    return prepare(record, money=validate(record))


def _outcome(original: LedgerEntry, submitted: BillingRecord) -> _Outcome:
    """The answer to a submission of ``submitted`` whose key is stored as ``original``."""
    if original.record is submitted or original.record == submitted:  # (a new key: itself)
        return original
    return IdempotencyConflict(original, differing_fields(original.record, submitted))
