"""Computed traits: the set-based rebuild, RFM quintiles and the incremental path agree."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from customers import services
from customers.models import Customer, CustomerStatus, CustomerTraits

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]

ORDER_FIGURES = (
    "orders_count",
    "revenue",
    "average_order_value",
    "first_order_at",
    "last_order_at",
    "last_seen_at",
)


def at(month, day, hour=12):
    return datetime(2025, month, day, hour, tzinfo=UTC)


def event(email, name, when, channel="web", **properties):
    return {
        "type": "track",
        "event": name,
        "email": email,
        "email_verified": True,
        "channel": channel,
        "timestamp": when.isoformat(),
        "properties": properties,
    }


def ingest(*events):
    results = services.record_events(events=list(events))
    assert {r.status for r in results} == {"created"}, results
    return results[0].customer_id


def traits_of(customer_id) -> CustomerTraits:
    return CustomerTraits.objects.get(customer_id=customer_id)


def figures(traits):
    return {name: getattr(traits, name) for name in ORDER_FIGURES}


def test_rebuild_computes_every_trait():
    ana = "ana@example.com"
    ana_id = ingest(
        event(ana, "product_viewed", at(1, 5), category="shoes"),
        event(ana, "product_viewed", at(1, 6), category="shoes"),
        event(ana, "product_viewed", at(1, 7), channel="app", category="shirts"),
        event(ana, "product_viewed", at(1, 8), category="hats"),
        event(ana, "product_viewed", at(1, 9), category="bags"),
        event(ana, "order_placed", at(1, 10), total="100", store="sol", category="shoes"),
        event(
            ana, "order_placed", at(2, 10), "store", total="50.5", store="sol", category="shirts"
        ),
        event(ana, "store_visit", at(3, 1), "store", store="gran-via"),
        event(ana, "page_viewed", at(3, 5)),
    )
    zed_id = ingest(event("zed@example.com", "page_viewed", at(4, 1), channel="app"))
    CustomerTraits.objects.all().delete()  # start from nothing: the nightly job alone

    count = services.recompute_traits()

    assert count == 2
    ana_traits = traits_of(ana_id)
    assert ana_traits.orders_count == 2
    assert ana_traits.revenue == Decimal("150.50")
    assert isinstance(ana_traits.revenue, Decimal)
    assert ana_traits.average_order_value == Decimal("75.25")
    assert ana_traits.first_order_at == at(1, 10)
    assert ana_traits.last_order_at == at(2, 10)
    assert ana_traits.last_seen_at == at(3, 5)
    assert ana_traits.preferred_channel == "web"  # 6 web, 2 store, 1 app
    assert ana_traits.preferred_store == "sol"  # 2 orders there, 1 visit elsewhere
    # Top 3 by count (shoes 3, shirts 2), ties by name (bags before hats).
    assert ana_traits.favourite_categories == ["shoes", "shirts", "bags"]
    assert ana_traits.recency_score is not None

    zed = traits_of(zed_id)
    assert (zed.orders_count, zed.revenue, zed.average_order_value) == (0, 0, 0)
    assert zed.first_order_at is None and zed.last_order_at is None
    assert zed.last_seen_at == at(4, 1)
    assert zed.preferred_channel == "app"
    assert zed.preferred_store == ""
    assert zed.favourite_categories == []
    assert (zed.recency_score, zed.frequency_score, zed.monetary_score) == (None, None, None)
    assert zed.rfm == ""


def test_rfm_quintiles_for_customers_with_orders_and_null_without():
    # Customer n (1..5) places n orders of 10*n each, the last one in month n: R = F = M = n.
    ids = {}
    for n in range(1, 6):
        email = f"c{n}@example.com"
        ids[n] = ingest(
            *[
                event(email, "order_placed", at(n, day), total=str(10 * n))
                for day in range(1, n + 1)
            ]
        )
    browser = ingest(event("browser@example.com", "page_viewed", at(6, 1)))

    services.recompute_traits()

    for n, customer_id in ids.items():
        traits = traits_of(customer_id)
        assert traits.orders_count == n
        assert traits.revenue == Decimal(10 * n * n)
        assert (traits.recency_score, traits.frequency_score, traits.monetary_score) == (n, n, n)
        assert traits.rfm == f"{n}{n}{n}"
    no_orders = traits_of(browser)
    assert (no_orders.recency_score, no_orders.frequency_score, no_orders.monetary_score) == (
        None,
        None,
        None,
    )


def test_rfm_scores_stay_within_one_to_five_and_clear_when_orders_go():
    ids = [
        ingest(event(f"p{n}@example.com", "order_placed", at(1 + n % 12, 1), total=str(5 + n)))
        for n in range(12)
    ]
    services.recompute_traits()

    scores = CustomerTraits.objects.filter(customer_id__in=ids).values_list(
        "recency_score", "frequency_score", "monetary_score"
    )
    assert all(1 <= s <= 5 for row in scores for s in row)
    assert {row[2] for row in scores} == {1, 2, 3, 4, 5}

    # The orders turn out to be test data and are removed: the next rebuild clears RFM.
    Customer.objects.get(pk=ids[0]).events.all().delete()
    services.recompute_traits()
    cleared = traits_of(ids[0])
    assert (cleared.orders_count, cleared.recency_score, cleared.monetary_score) == (0, None, None)


def test_rebuild_for_some_customers_only_and_skips_dead_profiles():
    a = ingest(event("a@example.com", "order_placed", at(1, 1), total="10"))
    b = ingest(event("b@example.com", "order_placed", at(1, 2), total="20"))
    CustomerTraits.objects.all().delete()

    assert services.recompute_traits(customer_ids=[a]) == 1
    assert CustomerTraits.objects.filter(customer_id=a).exists()
    assert not CustomerTraits.objects.filter(customer_id=b).exists()
    assert traits_of(a).recency_score is None  # RFM is the full rebuild's job

    Customer.objects.filter(pk=b).update(status=CustomerStatus.ERASED)
    assert services.recompute_traits() == 1
    assert not CustomerTraits.objects.filter(customer_id=b).exists()


def test_increments_from_record_events_follow_each_batch():
    ana = "ana@example.com"
    customer_id = ingest(
        event(ana, "order_placed", at(2, 10), total="50.5", store="sol"),
        event(ana, "page_viewed", at(2, 11)),
    )
    traits = traits_of(customer_id)
    assert figures(traits) == {
        "orders_count": 1,
        "revenue": Decimal("50.50"),
        "average_order_value": Decimal("50.50"),
        "first_order_at": at(2, 10),
        "last_order_at": at(2, 10),
        "last_seen_at": at(2, 11),
    }
    assert traits.preferred_store == "sol"

    # A late batch with older events: first order moves back, last seen does not.
    ingest(
        event(ana, "order_placed", at(1, 10), total="100"),
        event(ana, "page_viewed", at(1, 1)),
    )
    traits = traits_of(customer_id)
    assert traits.orders_count == 2
    assert traits.revenue == Decimal("150.50")
    assert traits.average_order_value == Decimal("75.25")
    assert traits.first_order_at == at(1, 10)
    assert traits.last_order_at == at(2, 10)
    assert traits.last_seen_at == at(2, 11)

    # A newer visit only moves last seen.
    ingest(event(ana, "page_viewed", at(3, 5)))
    traits = traits_of(customer_id)
    assert traits.last_seen_at == at(3, 5)
    assert traits.orders_count == 2


def test_incremental_and_rebuilt_figures_agree():
    emails = ["ana@example.com", "bea@example.com", "carl@example.com"]
    ids = []
    for n, email in enumerate(emails):
        ids.append(ingest(event(email, "page_viewed", at(1, 1 + n))))
        for day in range(n + 1):
            ingest(
                event(email, "order_placed", at(2, 1 + day), total=f"{12.34 * (day + 1):.2f}"),
                event(email, "product_viewed", at(2, 2 + day), category="shoes"),
            )
    incremental = {pk: figures(traits_of(pk)) for pk in ids}

    services.recompute_traits()

    rebuilt = {pk: figures(traits_of(pk)) for pk in ids}
    assert rebuilt == incremental
    assert [incremental[pk]["orders_count"] for pk in ids] == [1, 2, 3]


def test_nightly_beat_task_rebuilds_traits(settings, make_customer):
    from customers.models import CustomerTraits
    from customers.tasks import recompute_all_traits

    entry = settings.CELERY_BEAT_SCHEDULE["customers-recompute-traits"]
    assert entry["task"] == "customers.tasks.recompute_all_traits"
    customer = make_customer(email="night@example.com")
    CustomerTraits.objects.filter(customer=customer).delete()

    assert recompute_all_traits.delay().get() >= 1
    assert CustomerTraits.objects.filter(customer=customer).exists()


def test_a_touchpoint_from_another_app_is_stored_and_counted_at_once(
    django_assert_num_queries, sql_path
):
    """record_customer_event (carts, checkouts, pickups): the event row and its trait
    increments in one statement (the ORM reference: the insert, the traits row, its update);
    an order adds to the counters, other events move last seen."""
    from customers.models import Event

    customer = Customer.objects.create()
    with django_assert_num_queries(1 if sql_path == "fast_sql" else 3):
        placed = services.record_customer_event(
            customer=customer,
            type="order_placed",
            channel="store",
            properties={"order": "A1", "total": "40.10", "store": "sol"},
        )
    services.record_customer_event(
        customer=customer,
        type="order_placed",
        channel="web",
        properties={"order": "A2", "total": "9.90", "store": "mad"},
    )
    later = services.record_customer_event(
        customer=customer, type="cart_updated", channel="app", properties={"cart": 1}
    )

    assert Event.objects.get(pk=placed.pk).properties["order"] == "A1"
    assert not placed._state.adding and later.pk > placed.pk
    traits = traits_of(customer.pk)
    assert figures(traits) == {
        "orders_count": 2,
        "revenue": Decimal("50.00"),
        "average_order_value": Decimal("25.00"),
        "first_order_at": placed.occurred_at,
        "last_order_at": traits.last_order_at,
        "last_seen_at": later.occurred_at,
    }
    assert traits.last_order_at > placed.occurred_at
    assert traits.preferred_store == "sol"  # the first store seen stays until the nightly run


def test_messages_we_sent_are_on_the_timeline_but_never_in_traits():
    from customers.models import Event
    from customers.services.profiles import record_messages_sent

    ana = ingest(event("ana@example.com", "page_viewed", at(3, 1), channel="app"))
    seen = traits_of(ana).last_seen_at
    count = record_messages_sent(
        sends=[(ana, "email", {"campaign_id": 1}), (ana, "email", {"campaign_id": 2})]
    )
    assert count == 2
    assert Event.objects.filter(customer_id=ana, type="message_sent").count() == 2
    assert traits_of(ana).last_seen_at == seen  # not moved at once
    services.recompute_traits()
    rebuilt = traits_of(ana)
    assert rebuilt.last_seen_at == at(3, 1)  # nor by the nightly rebuild
    assert rebuilt.preferred_channel == "app"  # two e-mails we sent do not make it e-mail


def test_clients_cannot_report_an_outbound_message_as_what_the_shopper_did():
    from customers.models import Event, EventType

    ana = ingest(event("ana@example.com", "message_sent", at(3, 1)))
    stored = Event.objects.get(customer_id=ana)
    assert (stored.type, stored.name) == (EventType.CUSTOM, "message_sent")
