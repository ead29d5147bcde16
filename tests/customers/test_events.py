"""record_events: per-event results, idempotency, validation, identity resolution, concurrency."""

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connections
from django.urls import reverse
from rest_framework.test import APIClient

from customers import services
from customers.models import (
    Customer,
    CustomerStatus,
    Event,
    EventType,
    Identity,
    IdentityKind,
)
from customers.services import BatchTooLarge

pytestmark = pytest.mark.usefixtures("sql_path")

WHEN = "2025-03-01T10:00:00+01:00"


def _results(events, **kwargs):
    return services.record_events(events=events, **kwargs)


def _statuses(results):
    return [r.status for r in results]


# --- per-event results ------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_event_gets_its_own_result():
    results = _results(
        [
            {"type": "page", "anonymous_id": "a1", "message_id": "m1", "timestamp": WHEN},
            {"type": "track", "event": "product_viewed", "email": "ana@example.com"},
            {"type": "identify", "anonymous_id": "a1", "phone": "600 111 222"},
            {"type": "track", "event": "page_viewed", "email": "not-an-email"},
            {"type": "page", "anonymous_id": "a1", "message_id": "m1"},
        ]
    )

    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    assert _statuses(results) == ["created", "created", "identified", "error", "duplicate"]
    page, product, identified, error, duplicate = results
    assert Event.objects.get(pk=page.event_id).type == EventType.PAGE_VIEWED
    assert Event.objects.get(pk=page.event_id).occurred_at == datetime(2025, 3, 1, 9, tzinfo=UTC)
    assert Event.objects.get(pk=product.event_id).customer_id == product.customer_id
    assert identified.event_id is None
    assert error.error["fields"].keys() == {"email"}
    assert duplicate.event_id is None or duplicate.event_id == page.event_id
    assert Event.objects.count() == 2  # an identify call stores no touchpoint
    # The identify call attached the phone to a1's profile.
    assert (
        Identity.objects.get(kind="phone", value="+34600111222").customer_id
        == Identity.objects.get(kind="anonymous", value="a1").customer_id
        == page.customer_id
    )


@pytest.mark.django_db
def test_duplicates_within_a_batch_and_across_batches_are_stored_once():
    batch = [
        {"type": "track", "event": "cart_updated", "anonymous_id": "a1", "message_id": "m1"},
        {"type": "track", "event": "cart_updated", "anonymous_id": "a1", "message_id": "m1"},
        {"type": "track", "event": "order_placed", "email": "ana@example.com", "message_id": "m2",
         "properties": {"total": "10"}},
    ]  # fmt: skip
    first = _results(batch)
    assert _statuses(first) == ["created", "duplicate", "created"]

    again = _results(batch)

    assert _statuses(again) == ["duplicate", "duplicate", "duplicate"]
    assert again[0].event_id == first[0].event_id
    assert again[2].event_id == first[2].event_id
    assert Event.objects.count() == 2
    assert sorted(Event.objects.values_list("idempotency_key", flat=True)) == ["m1", "m2"]
    # The retried order did not count twice.
    assert Customer.objects.get(pk=first[2].customer_id).traits.orders_count == 1


@pytest.mark.django_db
def test_events_without_message_id_are_all_stored():
    results = _results([{"type": "page", "anonymous_id": "a1"}] * 3)
    assert _statuses(results) == ["created"] * 3
    assert Event.objects.count() == 3


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"email": "ana@@example"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"traits": {"email": "nope"}}, "email"),
        ({"loyalty_card": "   "}, "loyalty_card"),
        ({"pos_id": 42}, "pos_id"),
    ],
)
def test_a_bad_identifier_rejects_only_that_event(event, field):
    results = _results(
        [
            {"type": "page", "anonymous_id": "good-1", "message_id": "ok-1"},
            {"type": "track", "event": "store_visit", "anonymous_id": "bad-dev",
             "message_id": "bad", **event},
            {"type": "page", "anonymous_id": "good-2", "message_id": "ok-2"},
        ]
    )  # fmt: skip

    assert _statuses(results) == ["created", "error", "created"]
    error = results[1].error
    assert field in error["fields"]
    assert error["code"] == "invalid"
    assert error["message"]
    # Nothing of the rejected event was written: no event, no profile, no identity.
    assert set(Event.objects.values_list("idempotency_key", flat=True)) == {"ok-1", "ok-2"}
    assert not Identity.objects.filter(value="bad-dev").exists()
    assert Customer.objects.count() == 2


@pytest.mark.django_db
def test_a_bad_phone_in_an_identify_call_writes_nothing():
    [result] = _results(
        [{"type": "identify", "email": "ana@example.com", "phone": "+34 1", "anonymous_id": "x"}]
    )
    assert result.status == "error"
    assert set(result.error["fields"]) == {"phone"}
    assert not Customer.objects.exists()
    assert not Identity.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"type": "alias"}, "type"),
        ({"channel": "fax"}, "channel"),
        ({"event": ""}, "event"),
        ({"event": None}, "event"),
        ({"event": "x" * 101}, "event"),
        ({"message_id": ""}, "message_id"),
        ({"message_id": "m" * 101}, "message_id"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "2025-03-01T10:00:00"}, "timestamp"),  # naive
        ({"properties": ["a"]}, "properties"),
        ({"properties": {"blob": "x" * 20_000}}, "properties"),
        ({"traits": "Ana"}, "traits"),
        ({"anonymous_id": None}, "anonymous_id"),
    ],
)
def test_malformed_events_name_the_field(event, field):
    raw = {"type": "track", "event": "page_viewed", "anonymous_id": "a1", **event}
    [result] = _results([raw])
    assert result.status == "error"
    assert field in result.error["fields"]
    assert not Event.objects.exists()
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_an_event_that_is_not_an_object_is_an_error():
    results = _results(["page", {"type": "page", "anonymous_id": "a1"}])
    assert _statuses(results) == ["error", "created"]


@pytest.mark.django_db
def test_timestamp_must_be_aware_and_is_kept():
    results = _results(
        [
            {"type": "page", "anonymous_id": "a1", "timestamp": "2025-03-01T10:00:00Z"},
            {"type": "page", "anonymous_id": "a1", "timestamp": "2025-03-01T10:00:00"},
        ]
    )
    assert _statuses(results) == ["created", "error"]
    assert results[1].error["fields"].keys() == {"timestamp"}
    assert Event.objects.get().occurred_at == datetime(2025, 3, 1, 10, tzinfo=UTC)


@pytest.mark.django_db
def test_unknown_event_names_are_stored_as_custom():
    results = _results(
        [
            {"type": "track", "event": " wishlist_shared ", "anonymous_id": "a1"},
            {"type": "track", "event": "custom", "anonymous_id": "a1"},
            {"type": "track", "event": "store_visit", "anonymous_id": "a1"},
        ]
    )
    assert _statuses(results) == ["created"] * 3
    stored = [Event.objects.get(pk=r.event_id) for r in results]
    assert [(e.type, e.name) for e in stored] == [
        (EventType.CUSTOM, "wishlist_shared"),
        (EventType.CUSTOM, "custom"),
        (EventType.STORE_VISIT, ""),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("properties", [{}, {"total": None}, {"total": "ten"}, {"total": "NaN"}])
def test_order_placed_needs_a_total(properties):
    [result] = _results(
        [{"type": "track", "event": "order_placed", "anonymous_id": "a1", "properties": properties}]
    )
    assert result.status == "error"
    assert "properties.total" in result.error["fields"]
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_order_total_is_stored_as_a_two_decimal_string():
    [result] = _results(
        [
            {
                "type": "track",
                "event": "order_placed",
                "anonymous_id": "a1",
                "properties": {"total": 12.5, "store": "sol"},
            }
        ]
    )
    assert result.status == "created"
    assert Event.objects.get().properties == {"total": "12.50", "store": "sol"}
    traits = Customer.objects.get(pk=result.customer_id).traits
    assert (traits.orders_count, traits.revenue) == (1, Decimal("12.50"))


@pytest.mark.django_db
def test_a_batch_over_the_limit_is_refused_whole(settings):
    settings.EVENTS_BATCH_LIMIT = 3
    events = [{"type": "page", "anonymous_id": f"a{n}"} for n in range(4)]

    with pytest.raises(BatchTooLarge) as excinfo:
        _results(events)

    assert excinfo.value.status_code == 413
    assert excinfo.value.code == "batch_too_large"
    assert excinfo.value.context == {"limit": 3}
    assert "3" in excinfo.value.message
    assert not Event.objects.exists()
    assert not Customer.objects.exists()
    assert _statuses(_results(events[:3])) == ["created"] * 3


@pytest.mark.django_db
def test_the_api_answers_413_with_the_limit():
    batch = [{"type": "page", "anonymous_id": "a1"}] * 501
    response = APIClient().post(reverse("api:events"), {"batch": batch}, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "batch_too_large"
    assert "500" in response.json()["error"]["message"]
    assert not Event.objects.exists()


# --- trust --------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("event", "fields"),
    [
        ({"email": "ana@example.com"}, {"email"}),
        ({"phone": "600111222", "loyalty_card": "LC1"}, {"phone", "loyalty_card"}),
        ({"pos_id": "T1"}, {"pos_id"}),
        ({"traits": {"email": "ana@example.com"}}, {"traits.email"}),
        ({"email_verified": True}, {"email_verified"}),
    ],
)
def test_untrusted_sources_cannot_send_personal_identifiers(event, fields):
    [result] = _results([{"type": "identify", "anonymous_id": "browser-1", **event}], trusted=False)
    assert result.status == "error"
    assert result.error["code"] == "forbidden"
    assert set(result.error["fields"]) == fields
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_untrusted_sources_may_send_anonymous_ids():
    results = _results(
        [
            {"type": "page", "anonymous_id": "browser-1"},
            {"type": "track", "event": "app_opened", "push_token": "tok-1"},
        ],
        trusted=False,
    )
    assert _statuses(results) == ["created", "created"]
    assert results[0].customer_id != results[1].customer_id
    assert Identity.objects.get(kind="push_token").value == "tok-1"
    # A device id or a push token alone does not make a known person (same rule as identify).
    assert Customer.objects.filter(is_anonymous=True).count() == 2
    assert services.identify(identifiers=[(IdentityKind.PUSH_TOKEN, "tok-2")]).is_anonymous


# --- resolution ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_events_resolve_to_one_profile_per_anonymous_id():
    first = _results(
        [
            {"type": "page", "anonymous_id": "a1"},
            {"type": "page", "anonymous_id": "a2"},
            {"type": "track", "event": "product_viewed", "anonymous_id": "a1"},
        ],
        source="app",
    )
    assert first[0].customer_id == first[2].customer_id != first[1].customer_id
    assert Customer.objects.count() == 2
    assert Identity.objects.get(value="a1").source == "app"

    second = _results([{"type": "page", "anonymous_id": "a1"}])

    assert second[0].customer_id == first[0].customer_id
    assert Customer.objects.count() == 2
    assert Identity.objects.filter(value="a1").count() == 1


@pytest.mark.django_db
def test_anonymous_events_join_the_profile_the_id_was_stitched_to(make_customer):
    ana = make_customer(email="ana@example.com", anonymous_id="phone-app-1")
    [result] = _results([{"type": "page", "anonymous_id": "phone-app-1"}])
    assert result.customer_id == ana.pk
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_events_on_a_blocked_device_are_tied_to_nobody(make_customer):
    from customers.models import BlockedIdentifier

    ana = make_customer(email="ana@example.com", anonymous_id="tablet")
    BlockedIdentifier.objects.create(kind="anonymous", value="tablet")

    results = _results([{"type": "page", "anonymous_id": "tablet"}] * 2)

    assert _statuses(results) == ["created", "created"]
    owners = {r.customer_id for r in results}
    assert ana.pk not in owners
    assert len(owners) == 2


@pytest.mark.django_db
def test_identify_traits_fill_the_profile():
    [result] = _results(
        [
            {
                "type": "identify",
                "email": "ana@example.com",
                "email_verified": True,
                "traits": {"first_name": "Ana", "last_name": "García", "birth_date": "x"},
            }
        ]
    )
    assert result.status == "identified"
    customer = Customer.objects.get(pk=result.customer_id)
    assert (customer.first_name, customer.last_name) == ("Ana", "García")
    assert Identity.objects.get(customer=customer).verified


@pytest.mark.django_db
def test_an_identify_call_verifies_a_known_email(make_customer):
    ana = make_customer(email="ana@example.com", verified=False)
    [result] = _results([{"type": "identify", "email": "ana@example.com", "email_verified": True}])
    assert (result.status, result.customer_id) == ("identified", ana.pk)
    # Same rule as identify(): the address is now proven, and unique among live profiles.
    assert Identity.objects.get(customer=ana, kind="email").verified


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("call", "traits"),
    [
        ("identify", {"home_store": "x" * 21}),
        ("track", {"first_name": "A" * 101}),
        ("identify", {"preferred_language": "klingon-tlh"}),
    ],
)
def test_a_bad_profile_trait_rejects_only_that_event(call, traits):
    results = _results(
        [
            {"type": "page", "anonymous_id": "good-1"},
            {"type": call, "event": "page_viewed", "email": "ana@example.com", "traits": traits},
            {"type": "page", "anonymous_id": "good-2"},
        ]
    )

    assert _statuses(results) == ["created", "error", "created"]
    [field] = traits
    assert any(field in name for name in results[1].error["fields"]), results[1].error
    assert not Identity.objects.filter(value="ana@example.com").exists()
    assert Event.objects.count() == 2


@pytest.mark.django_db
def test_an_event_whose_profile_is_merged_later_in_the_batch_lands_on_the_survivor(
    make_customer,
):
    ana = make_customer(email="ana@example.com")
    results = _results(
        [
            # A new phone: a new profile for now...
            {"type": "track", "event": "store_visit", "phone": "600111222", "message_id": "m1"},
            # ...which this identify call merges into Ana's older verified profile.
            {"type": "identify", "email": "ana@example.com", "email_verified": True,
             "phone": "600111222"},
            {"type": "page", "phone": "600111222", "message_id": "m2"},
        ]
    )  # fmt: skip

    assert _statuses(results) == ["created", "identified", "created"]
    [live] = Customer.objects.filter(status=CustomerStatus.LIVE)
    # No event may point at a merged profile.
    assert set(Event.objects.values_list("customer_id", flat=True)) == {live.pk}
    assert {r.customer_id for r in results} == {live.pk}
    # The older verified profile survives, also when the batch runs inside a longer
    # transaction (here: the test's, where PostgreSQL's now() is the transaction's start).
    assert live.pk == ana.pk, "the phone profile created by the batch absorbed Ana's older one"


# --- concurrency ------------------------------------------------------------------------------

THREADS = 8


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_the_same_batch_from_eight_threads_is_stored_once():
    anonymous_ids = [f"device-{n}" for n in range(6)]
    batch = [
        {
            "type": "track",
            "event": "product_viewed" if n % 2 else "page_viewed",
            "anonymous_id": anonymous_ids[n % len(anonymous_ids)],
            "message_id": f"msg-{n}",
            "properties": {"n": n},
        }
        for n in range(30)
    ]
    barrier = threading.Barrier(THREADS)
    outcomes, errors = [], []

    def send():
        try:
            barrier.wait(timeout=10)
            outcomes.append(services.record_events(events=batch))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(outcomes) == THREADS
    # Each message_id exactly once in the table, and "created" for exactly one sender.
    assert Event.objects.count() == len(batch)
    assert sorted(Event.objects.values_list("idempotency_key", flat=True)) == sorted(
        e["message_id"] for e in batch
    )
    for index in range(len(batch)):
        statuses = [results[index].status for results in outcomes]
        assert statuses.count("created") == 1, (index, statuses)
        assert statuses.count("duplicate") == THREADS - 1
    # One profile per anonymous id, and every event on its device's profile.
    assert Customer.objects.count() == len(anonymous_ids)
    for value in anonymous_ids:
        identity = Identity.objects.get(kind=IdentityKind.ANONYMOUS, value=value)
        assert set(
            Event.objects.filter(
                idempotency_key__in=[e["message_id"] for e in batch if e["anonymous_id"] == value]
            ).values_list("customer_id", flat=True)
        ) == {identity.customer_id}
