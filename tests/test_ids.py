"""Random ids from the per-thread urandom pool: the right shape, never handed out twice (across
pool refills, threads and a fork)."""

from __future__ import annotations

import os
import string
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from byokvault.engine.ids import random_hex


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=9000), min_size=1, max_size=40))
def test_each_id_has_the_asked_digits_and_none_repeats(lengths: list[int]) -> None:
    ids = [random_hex(n) for n in lengths]
    assert [len(i) for i in ids] == lengths
    assert all(set(i) <= set(string.hexdigits.lower()) for i in ids)
    long_ones = [i for i in ids if len(i) >= 24]  # short ones may collide by chance, not these
    assert len(set(long_ones)) == len(long_ones)


def test_ids_across_refills_and_threads_are_all_distinct() -> None:
    found: list[list[str]] = [[] for _ in range(4)]

    def draw(slot: list[str]) -> None:
        slot.extend(random_hex(32) for _ in range(2_000))  # ~8 refills of a 4 kB pool each

    threads = [threading.Thread(target=draw, args=(slot,)) for slot in found]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for slot in found for i in slot]
    assert len(every) == 8_000 and len(set(every)) == 8_000


def test_a_forked_child_does_not_reuse_the_parents_pool() -> None:
    random_hex(32)  # the pool now holds unused ids the parent will hand out next
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, random_hex(32).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child_id = os.read(read, 64).decode()
    os.close(read)
    assert len(child_id) == 32
    assert child_id != random_hex(32)
