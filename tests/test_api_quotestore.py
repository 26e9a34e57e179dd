"""The API's write-behind quote store: only the newest committed quotes stay in memory (older ones
are read back from DuckDB, equal to what was issued); a quote not yet committed is never dropped;
closing commits every queued quote; a batch gathers the quotes of its linger window."""

from __future__ import annotations

import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_pricing_quote import Clock
from test_pricing_support import acme_index

from byokvault.api.quotestore import WriteBehindQuoteStore
from byokvault.engine.pricing.quote import DuckDBQuoteStore, Quoter
from byokvault.engine.pricing.rules import load_rules
from byokvault.engine.pricing.usage import Usage

__all__ = ["acme_index"]
NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)


def quotes(index, store, count: int) -> list:
    quoter = Quoter(index, load_rules(), store, clock=Clock(NOW))
    usage = Usage(input_tokens=1000, output_tokens=100)
    return [quoter.quote("acme", "chat", usage, fund_source="byok") for _ in range(count)]


def test_old_committed_quotes_leave_memory_and_read_back_equal(acme_index, tmp_path: Path) -> None:
    store = WriteBehindQuoteStore(tmp_path / "q.duckdb", recent=5, linger_s=0.001)
    issued = quotes(acme_index, store, 40)
    store.flush()
    issued += quotes(acme_index, store, 1)  # a put after the commits evicts down to ``recent``
    assert len(store._memory) <= 6
    assert all(store.get(q.id) == q for q in issued)
    store.close()
    reopened = DuckDBQuoteStore(tmp_path / "q.duckdb")
    assert all(reopened.get(q.id) == q for q in issued)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(count=st.integers(1, 40), recent=st.integers(0, 8))
def test_an_uncommitted_quote_is_never_dropped(acme_index, count: int, recent: int) -> None:
    """While the writer is held up, memory is every quote's only copy: all of them stay."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "q.duckdb"
        store = WriteBehindQuoteStore(path, recent=recent, linger_s=0.001)
        release = threading.Event()
        put_many = store.durable.put_many
        store.durable.put_many = lambda batch: (release.wait(30), put_many(batch))
        issued = quotes(acme_index, store, count)
        assert len(store._memory) == count and all(store.get(q.id) == q for q in issued)
        release.set()
        store.close()
        assert all(DuckDBQuoteStore(path).get(q.id) == q for q in issued)


def test_a_batch_gathers_its_linger_window(acme_index, tmp_path: Path) -> None:
    store = WriteBehindQuoteStore(tmp_path / "q.duckdb", linger_s=0.3)
    commits = []
    put_many = store.durable.put_many
    store.durable.put_many = lambda batch: (commits.append(len(batch)), put_many(batch))
    quotes(acme_index, store, 50)  # all within the first quote's linger window
    store.close()
    assert commits == [50]


def test_a_failed_commit_keeps_its_quotes_and_the_writer_goes_on(
    acme_index, tmp_path: Path
) -> None:
    """A batch whose commit fails stays in memory (still honored, never evicted); the next
    batches commit as before."""
    store = WriteBehindQuoteStore(tmp_path / "q.duckdb", recent=0, linger_s=0.001)
    put_many = store.durable.put_many
    failures = iter([OSError("disk full")])

    def flaky(batch: list) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        put_many(batch)

    store.durable.put_many = flaky
    assert store.health() == "ok"
    lost = quotes(acme_index, store, 1)
    store.flush()
    # /healthz says so while the quote is live (the test's quotes are made at a fixed time)
    assert store.health(now=lost[0].created_at).startswith("1 quotes not committed")
    assert store.health(now=lost[0].expires_at) == "ok"  # once expired, nothing is owed
    kept = quotes(acme_index, store, 3)
    store.flush()
    assert all(store.get(q.id) == q for q in lost + kept)
    assert [q.id for q in lost] == list(store._memory)  # only the uncommitted one stays
    store.close()
    reopened = DuckDBQuoteStore(tmp_path / "q.duckdb")
    assert all(reopened.get(q.id) == q for q in kept) and reopened.get(lost[0].id) is None
