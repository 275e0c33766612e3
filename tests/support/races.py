"""Races with real commits on PostgreSQL: threads released together on a barrier."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def race(n: int, action: Callable[[int], Any]) -> list[Any]:
    """Run `action(i)` in n threads that all start at the same moment; return the results in order."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action(i)
        except BaseException as error:  # surfaced below: a thread's exception must fail the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a racer hung (deadlock?)"
    if errors:
        raise errors[0]
    return results
