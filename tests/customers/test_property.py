"""Must show: identity invariants hold after any sequence of identify / record_events / merges.

After every sequence (domain errors allowed):
* every deterministic identifier (phone, loyalty card, till id, verified e-mail) belongs to
  exactly one live customer, and every identity to a live customer;
* no event is lost (events stored == "created" results) and none points at a dead profile;
* every merged profile has its Merge audit row and its merged_into chain ends at a live profile.
"""

import contextlib
from collections import defaultdict

import pytest
from django.db import transaction
from django.db.models import Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers import services
from customers.models import (
    Customer,
    CustomerStatus,
    Event,
    Identity,
    IdentityKind,
    Merge,
)
from omni.exceptions import DomainError

EMAILS = ["ana@example.com", "bea@example.com", "carl@example.com"]
PHONES = ["600 111 001", "600 111 002", "+34 600 111 003"]
CARDS = ["lc 1", "LC2"]
ANONYMOUS_IDS = ["dev-1", "dev-2", "dev-3", "dev-4"]
MESSAGE_IDS = [f"m{n}" for n in range(6)]

identifiers = st.one_of(
    st.tuples(st.just(IdentityKind.EMAIL), st.sampled_from(EMAILS), st.booleans()),
    st.tuples(st.just(IdentityKind.PHONE), st.sampled_from(PHONES), st.just(False)),
    st.tuples(st.just(IdentityKind.LOYALTY_CARD), st.sampled_from(CARDS), st.just(False)),
    st.tuples(st.just(IdentityKind.ANONYMOUS), st.sampled_from(ANONYMOUS_IDS), st.just(False)),
)

identify_ops = st.tuples(st.just("identify"), st.lists(identifiers, min_size=1, max_size=4))


@st.composite
def events(draw):
    event = {
        "type": draw(st.sampled_from(["track", "track", "page", "identify"])),
        "event": draw(st.sampled_from(["product_viewed", "order_placed", "wishlist_shared"])),
        "properties": {"total": draw(st.sampled_from(["10", "25.50"]))},
    }
    if draw(st.booleans()):
        event["anonymous_id"] = draw(st.sampled_from(ANONYMOUS_IDS))
    personal = draw(st.sampled_from([None, "email", "phone", "loyalty_card"]))
    if personal == "email":
        event["email"] = draw(st.sampled_from([*EMAILS, "not-an-email"]))
        event["email_verified"] = draw(st.booleans())
    elif personal == "phone":
        event["phone"] = draw(st.sampled_from([*PHONES, "12"]))
    elif personal == "loyalty_card":
        event["loyalty_card"] = draw(st.sampled_from(CARDS))
    message_id = draw(st.sampled_from([None, *MESSAGE_IDS]))
    if message_id:
        event["message_id"] = message_id
    return event


event_ops = st.tuples(st.just("events"), st.lists(events(), min_size=1, max_size=4))
merge_ops = st.tuples(st.just("merge"), st.integers(0, 15), st.integers(0, 15))
operations = st.lists(st.one_of(identify_ops, event_ops, merge_ops), min_size=1, max_size=10)


def run(op) -> int:
    """Apply one operation; returns the number of events it reported as created."""
    if op[0] == "identify":
        services.identify(identifiers=op[1])
        return 0
    if op[0] == "events":
        results = services.record_events(events=op[1])
        return sum(r.status == "created" for r in results)
    customers = list(Customer.objects.order_by("pk"))
    if not customers:
        return 0
    survivor, absorbed = customers[op[1] % len(customers)], customers[op[2] % len(customers)]
    services.merge_customers(survivor=survivor, absorbed=absorbed, cause="property test")
    return 0


def check_invariants(created: int) -> None:
    live = set(Customer.objects.filter(status=CustomerStatus.LIVE).values_list("pk", flat=True))

    # Every identity hangs off a live customer.
    owners = defaultdict(set)
    for kind, value, verified, customer_id in Identity.objects.values_list(
        "kind", "value", "verified", "customer_id"
    ):
        assert customer_id in live, (kind, value, customer_id)
        owners[(kind, value, verified)].add(customer_id)

    # Every deterministic identifier belongs to exactly one live customer.
    deterministic = Identity.objects.filter(
        Q(kind__in=[IdentityKind.PHONE, IdentityKind.LOYALTY_CARD, IdentityKind.POS_ID])
        | Q(kind=IdentityKind.EMAIL, verified=True)
    )
    for kind, value in deterministic.values_list("kind", "value").distinct():
        holders = {
            c for (k, v, _verified), ids in owners.items() if (k, v) == (kind, value) for c in ids
        }
        assert len(holders) == 1, (kind, value, holders)

    # No event lost, none on a dead profile.
    assert Event.objects.count() == created
    assert set(Event.objects.values_list("customer_id", flat=True)) <= live

    # Every merge is audited and leads to a live profile.
    merged = dict(
        Customer.objects.filter(status=CustomerStatus.MERGED).values_list("pk", "merged_into_id")
    )
    audited = set(Merge.objects.values_list("absorbed_id", flat=True))
    assert set(merged) <= audited, set(merged) - audited
    assert Merge.objects.count() == len(merged)
    for pk in merged:
        seen, target = {pk}, merged[pk]
        while target in merged:
            assert target not in seen, f"merge cycle through {target}"
            seen.add(target)
            target = merged[target]
        assert target in live, (pk, target)


@pytest.mark.django_db
@pytest.mark.usefixtures("sql_path")
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_identity_invariants_hold_after_any_sequence(ops):
    with transaction.atomic():
        created = 0
        for op in ops:
            # Refused merges, dead profiles: allowed; the invariants must hold all the same.
            with contextlib.suppress(DomainError):
                created += run(op)
        check_invariants(created)
        transaction.set_rollback(True)
