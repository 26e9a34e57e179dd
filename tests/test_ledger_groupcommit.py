"""The shared group-commit primitive (engine/groupcommit.py) used by the ledger writer and the
vault's audit rows: batching, answers only after the commit, failures contained per batch."""

from __future__ import annotations

import threading

import pytest

from byokvault.engine.groupcommit import GroupCommit


def test_items_queued_during_a_commit_share_the_next_batch() -> None:
    release = threading.Event()
    batches: list[list[int]] = []

    def commit(items: list[int]) -> list[int]:
        release.wait(5)  # the first commit is slow: everything else queues behind it
        batches.append(items)
        return [i * 10 for i in items]

    writer: GroupCommit[int, int] = GroupCommit(commit, max_batch=16, name="t")
    futures = [writer.submit(i) for i in range(50)]
    release.set()
    assert [f.result(5) for f in futures] == [i * 10 for i in range(50)]
    writer.close()
    assert [i for batch in batches for i in batch] == list(range(50))  # in order, once each
    assert len(batches) < 50 and max(map(len, batches)) <= 16


def test_no_future_resolves_before_its_batch_is_committed() -> None:
    inside, finish = threading.Event(), threading.Event()

    def commit(items: list[str]) -> list[str]:
        inside.set()
        finish.wait(5)
        return items

    writer: GroupCommit[str, str] = GroupCommit(commit, max_batch=8, name="t")
    future = writer.submit("a")
    assert inside.wait(5)
    assert not future.done()  # the write is still in flight
    finish.set()
    assert future.result(5) == "a"
    writer.close()


def test_an_exception_outcome_fails_only_its_own_item() -> None:
    gate = threading.Event()

    def commit(items: list[int]) -> list[int | BaseException]:
        gate.wait(5)
        return [ValueError(f"odd {i}") if i % 2 else i for i in items]

    writer: GroupCommit[int, int] = GroupCommit(commit, max_batch=64, name="t")
    futures = [writer.submit(i) for i in range(10)]
    gate.set()
    for i, future in enumerate(futures):
        if i % 2:
            with pytest.raises(ValueError, match=f"odd {i}"):
                future.result(5)
        else:
            assert future.result(5) == i
    writer.close()


def test_a_commit_that_raises_fails_its_whole_batch_and_the_writer_goes_on() -> None:
    gate = threading.Event()
    calls: list[list[int]] = []

    def commit(items: list[int]) -> list[int]:
        gate.wait(5)
        calls.append(items)
        if len(calls) == 1:
            raise OSError("disk full")
        return items

    writer: GroupCommit[int, int] = GroupCommit(commit, max_batch=4, name="t")
    futures = [writer.submit(i) for i in range(6)]
    gate.set()
    errors = {i: f.exception(5) for i, f in enumerate(futures)}
    writer.close()
    failed = {i for i, exc in errors.items() if exc is not None}
    assert failed == set(calls[0])  # exactly the first batch, every item of it
    assert all(isinstance(errors[i], OSError) for i in failed)
    assert [futures[i].result() for i in range(6) if i not in failed] == [
        i for batch in calls[1:] for i in batch
    ]  # later batches were committed and answered


def test_a_wrong_number_of_outcomes_fails_the_batch() -> None:
    writer: GroupCommit[int, int] = GroupCommit(lambda items: [], max_batch=4, name="t")
    with pytest.raises(RuntimeError, match="outcomes"):
        writer.submit(1).result(5)
    writer.close()


def test_close_commits_what_is_queued_then_refuses_new_items() -> None:
    gate = threading.Event()

    def commit(items: list[int]) -> list[int]:
        gate.wait(5)
        return items

    writer: GroupCommit[int, int] = GroupCommit(commit, max_batch=2, name="t")
    futures = [writer.submit(i) for i in range(7)]
    closer = threading.Thread(target=writer.close)
    closer.start()
    gate.set()
    closer.join(5)
    assert [f.result(0) for f in futures] == list(range(7))
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(8)


def test_an_item_counts_for_its_size_against_the_batch_limit() -> None:
    release = threading.Event()
    batches: list[list[list[int]]] = []

    def commit(items: list[list[int]]) -> list[int]:
        release.wait(5)
        batches.append(items)
        return [sum(item) for item in items]

    writer: GroupCommit[list[int], int] = GroupCommit(commit, max_batch=10, name="t", size=len)
    futures = [writer.submit([i] * 4) for i in range(12)]  # 4 records each
    release.set()
    assert [f.result(5) for f in futures] == [4 * i for i in range(12)]
    writer.close()
    assert [item[0] for batch in batches for item in batch] == list(range(12))
    # a batch stops once it holds max_batch records or more: at most 3 items of 4 here
    assert max(map(len, batches)) <= 3
