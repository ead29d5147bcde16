import threading
from collections.abc import Callable

import pytest
from django.db import connections


def run_in_threads(target: Callable[[int], object], count: int, timeout: float = 120):
    """Start ``count`` threads that each call ``target(i)`` on its own database connection.

    All threads wait at a barrier so the calls really overlap. Returns the results in order;
    an exception raised by ``target`` is returned as the result, not raised.
    """
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[i] = target(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    return results


@pytest.fixture
def concurrently():
    return run_in_threads
