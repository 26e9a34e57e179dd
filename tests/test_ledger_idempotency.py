"""Idempotency against a simple model: a dict from key to (payload, original record).

Same key and payload → the original record; same key, other payload → a conflict naming the
fields that differ; a new key → the next seq. Batches, restarts and an empty key cache
(answers from the file) must not change any of it."""

from __future__ import annotations

import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from byokvault.engine.ledger import IdempotencyConflict, Ledger, LedgerEntry
from byokvault.engine.ledger.synthetic import make_record
from byokvault.engine.ledger.verify import verify_rows

KEYS = st.sampled_from([f"k{i}" for i in range(5)])
VARIANTS = st.integers(0, 2)
DIFFERING = {  # what changes between payload variants (input tokens 100, 101, 102)
    "usage",
    "pricing.lines",
    "pricing.raw_cost",
    "pricing.billed_amount",
    "pricing.rounding.amount",
}


def _record(key: str, variant: int):
    return make_record(0, tenant_id="t", key=key, input_tokens=100 + variant)


class LedgerModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="ledger-sm-"))
        self.ledger: Ledger | None = Ledger(self.dir / "ledger.duckdb")
        self.model: dict[str, tuple[int, LedgerEntry]] = {}

    def _expect(self, key: str, variant: int, outcome: LedgerEntry | Exception) -> None:
        if key not in self.model:
            assert isinstance(outcome, LedgerEntry), outcome
            assert outcome.seq == len(self.model) + 1
            self.model[key] = (variant, outcome)
            return
        known_variant, original = self.model[key]
        if known_variant == variant:
            assert outcome == original
        else:
            assert isinstance(outcome, IdempotencyConflict), outcome
            assert outcome.original == original
            assert set(outcome.fields) == DIFFERING

    @precondition(lambda self: self.ledger is not None)
    @rule(key=KEYS, variant=VARIANTS)
    def append(self, key: str, variant: int) -> None:
        future = self.ledger.submit(_record(key, variant))
        self._expect(key, variant, future.exception() or future.result())

    @precondition(lambda self: self.ledger is not None)
    @rule(batch=st.lists(st.tuples(KEYS, VARIANTS), min_size=2, max_size=8))
    def append_together(self, batch: list[tuple[str, int]]) -> None:
        futures = [self.ledger.submit(_record(k, v)) for k, v in batch]
        for (key, variant), future in zip(batch, futures, strict=True):
            self._expect(key, variant, future.exception() or future.result())

    @precondition(lambda self: self.ledger is not None)
    @rule(cache=st.sampled_from([0, 100_000]))
    def restart(self, cache: int) -> None:
        self.ledger.close()
        self.ledger = Ledger(self.dir / "ledger.duckdb", recent_keys=cache)

    @invariant()
    def count_and_totals_match_the_model(self) -> None:
        if self.ledger is None:
            return
        assert self.ledger.head()[0] == len(self.model)
        billed = sum(
            (entry.record.pricing.billed_amount for _, entry in self.model.values()), Decimal(0)
        )
        usage = self.ledger.usage("t")
        assert (usage[0].billed_amount if usage else Decimal(0)) == billed

    def teardown(self) -> None:
        try:
            check = verify_rows(self.ledger.store.scan(canonical=True))
            assert check.ok and check.records == len(self.model)
        finally:
            self.ledger.close()
            shutil.rmtree(self.dir, ignore_errors=True)


LedgerModel.TestCase.settings = settings(
    max_examples=20,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_idempotency_matches_the_model = pytest.mark.slow(LedgerModel.TestCase)
