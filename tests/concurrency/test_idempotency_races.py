"""The idempotency claim under concurrency, with the SQL path and its ORM twin.

A request whose key is claimed by one still in flight waits on the unique index: it replays the
first's response once that commits, and claims the key itself if that one rolls back.
"""

import threading

import pytest
from django.db import connections, transaction

from omni import queries
from omni.idempotency import run_idempotent
from omni.models import IdempotencyKey

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("sql_path")]


def _second_claim_while_first_in_flight(first_commits: bool):
    """Thread A claims and holds its transaction open; B claims the same key meanwhile."""
    claimed, release, outcome = threading.Event(), threading.Event(), {}

    def first():
        try:
            with transaction.atomic():
                outcome["a"] = queries.claim_idempotency_key("s", "k", "fp")
                claimed.set()
                release.wait(10)
                if not first_commits:
                    transaction.set_rollback(True)
        finally:
            connections.close_all()

    def second():
        try:
            claimed.wait(10)
            with transaction.atomic():
                outcome["b"] = queries.claim_idempotency_key("s", "k", "fp")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    claimed.wait(10)
    threads[1].join(0.5)
    outcome["b_waited"] = threads[1].is_alive()  # blocked on the unique index
    release.set()
    for t in threads:
        t.join(20)
    assert not any(t.is_alive() for t in threads)
    return outcome


def test_a_claim_waits_for_the_request_in_flight_and_then_yields():
    outcome = _second_claim_while_first_in_flight(first_commits=True)
    assert outcome["a"] is not None and outcome["a"].pk
    assert outcome["b_waited"]
    assert outcome["b"] is None
    assert IdempotencyKey.objects.filter(scope="s", key="k").count() == 1


def test_a_claim_takes_the_key_when_the_request_in_flight_rolls_back():
    outcome = _second_claim_while_first_in_flight(first_commits=False)
    assert outcome["b_waited"]
    assert outcome["b"] is not None
    assert IdempotencyKey.objects.get(scope="s", key="k").pk == outcome["b"].pk


def test_concurrent_retries_run_the_action_once(concurrently):
    runs = []

    def attempt(i):
        def action():
            runs.append(i)
            return 201, {"n": i}

        return run_idempotent(scope="orders", key="K-1", request_fingerprint="f", action=action)

    results = concurrently(attempt, 8)
    assert len(runs) == 1
    assert [r.replayed for r in results].count(False) == 1
    assert {r.body["n"] for r in results} == {runs[0]}
    assert IdempotencyKey.objects.get(key="K-1").response == {"n": runs[0]}
