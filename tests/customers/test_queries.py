"""customers/queries.py: each fast function and its ORM reference twin give the same answers.

Every test runs the same input through both paths (``settings.OMNI_FAST_SQL`` on, then off)
and compares: these fail if the twins diverge.
"""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from customers import queries, services
from customers.models import (
    BlockedIdentifier,
    Customer,
    CustomerStatus,
    CustomerTraits,
    Event,
    Identity,
    IdentityKind,
)
from customers.services import Identifier
from customers.traits import apply_event_increments, recompute_traits

pytestmark = pytest.mark.django_db

TRAIT_FIELDS = [
    f.attname for f in CustomerTraits._meta.concrete_fields if f.attname != "updated_at"
]


def at(day, hour=12):
    return datetime(2025, 1, 1, hour, tzinfo=UTC) + timedelta(days=day)


def both_ways(settings, run):
    """``run()`` with the SQL path, then with the ORM twin: (fast result, ORM result)."""
    settings.OMNI_FAST_SQL = True
    fast = run()
    settings.OMNI_FAST_SQL = False
    orm = run()
    return fast, orm


def traits_snapshot() -> dict[int, dict]:
    return {
        row["customer_id"]: row
        for row in CustomerTraits.objects.order_by("pk").values(*TRAIT_FIELDS)
    }


def add_events(customer, *rows):
    """rows: (type, channel, day, properties)."""
    Event.objects.bulk_create(
        [
            Event(customer=customer, type=t, channel=ch, occurred_at=at(day), properties=props)
            for t, ch, day, props in rows
        ]
    )


def trait_world():
    """Customers whose events hit every rule and edge of the rebuild."""
    people = [Customer.objects.create(is_anonymous=False) for _ in range(9)]
    ana, bea, carl = people[:3]
    add_events(
        ana,
        ("product_viewed", "web", 1, {"category": "shoes"}),
        ("product_viewed", "web", 2, {"category": "Shoes"}),  # case matters, code point order
        ("product_viewed", "app", 3, {"category": "bags"}),
        ("product_viewed", "app", 4, {"category": "hats"}),
        ("order_placed", "store", 5, {"total": "0.01", "store": "sol", "category": "shoes"}),
        ("order_placed", "store", 6, {"total": "0.04", "store": "mad"}),  # average 0.025
        ("store_visit", "store", 7, {"store": "a-very-long-store-code-over-twenty"}),
        ("store_visit", "store", 8, {"store": "a-very-long-store-code-over-twenty"}),
        ("page_viewed", "web", 9, {"store": "ignored", "category": "ignored"}),
    )
    add_events(
        bea,
        ("order_placed", "web", 1, {"total": "1e3"}),  # not a total: counts, adds nothing
        ("order_placed", "web", 2, {"total": "12.345"}),
        ("order_placed", "web", 3, {"total": 40.5, "store": 7}),  # JSON numbers
        ("order_placed", "app", 4, {"total": "-5", "store": ""}),  # an empty store counts
        ("order_placed", "app", 5, {"total": None, "category": True}),
        ("product_viewed", "app", 6, {"category": 12}),
        ("pickup_collected", "store", 7, {"store": "7"}),
    )
    add_events(carl, ("page_viewed", "sms", 3, {}))  # no orders: zeros, no RFM
    for n, person in enumerate(people[3:], start=1):  # RFM: 7 with orders, not a multiple of 5
        add_events(
            person,
            *[("order_placed", "web", 10 + n, {"total": str(10 * n)}) for _ in range(n % 3 + 1)],
        )
    ghost = Customer.objects.create(status=CustomerStatus.ERASED)
    add_events(ghost, ("order_placed", "web", 1, {"total": "99"}))
    return people


def test_trait_rebuild_and_rfm_give_every_value_alike(settings):
    people = trait_world()
    CustomerTraits.objects.create(customer=people[2], recency_score=3, frequency_score=3)

    settings.OMNI_FAST_SQL = True
    assert recompute_traits() == len(people)
    fast = traits_snapshot()
    # From nothing, and over rows holding wrong values: the ORM twin writes the same.
    CustomerTraits.objects.filter(customer__in=people[:4]).delete()
    CustomerTraits.objects.update(
        orders_count=77, revenue=1, average_order_value=1, preferred_store="x", recency_score=1
    )
    CustomerTraits.objects.create(customer=people[2], recency_score=3, frequency_score=3)
    settings.OMNI_FAST_SQL = False
    assert recompute_traits() == len(people)
    orm = traits_snapshot()

    assert orm == fast
    ana, bea = fast[people[0].pk], fast[people[1].pk]
    assert ana["average_order_value"] == Decimal("0.03")  # half away from zero, as round()
    assert ana["favourite_categories"] == ["shoes", "Shoes", "bags"]
    assert ana["preferred_store"] == "a-very-long-store-co"  # 2 visits, cut to 20 characters
    assert (bea["orders_count"], bea["revenue"]) == (5, Decimal("35.50"))
    assert (bea["preferred_store"], bea["favourite_categories"]) == ("7", ["12", "true"])
    scored = sorted(r["recency_score"] for r in fast.values() if r["orders_count"])
    assert scored == [1, 1, 2, 2, 3, 3, 4, 5]  # 8 customers with orders in 5 buckets
    assert fast[people[2].pk]["recency_score"] is None


def test_rfm_buckets_are_postgresqls_ntile(settings):
    for n in range(7):  # 7 rows in 5 buckets: 2, 2, 1, 1, 1
        add_events(
            Customer.objects.create(is_anonymous=False),
            ("order_placed", "web", n, {"total": "10"}),
        )
    fast, orm = both_ways(
        settings,
        lambda: (
            recompute_traits(),
            sorted(CustomerTraits.objects.values_list("recency_score", flat=True)),
        ),
    )
    assert fast == orm
    assert fast[1] == [1, 1, 2, 2, 3, 4, 5]


def test_rebuild_for_some_customers_alike(settings):
    people = trait_world()

    def run():
        CustomerTraits.objects.all().delete()
        count = recompute_traits(customer_ids=[p.pk for p in people[:2]] + [10**9])
        return count, traits_snapshot()

    fast, orm = both_ways(settings, run)
    assert fast == orm
    assert fast[0] == 2 and set(fast[1]) == {people[0].pk, people[1].pk}


def test_event_increments_alike(settings):
    ana, bea, carl = (Customer.objects.create() for _ in range(3))
    CustomerTraits.objects.create(
        customer=bea,
        orders_count=2,
        revenue=Decimal("30.00"),
        average_order_value=Decimal("15.00"),
        first_order_at=at(3),
        last_order_at=at(4),
        last_seen_at=at(20),
        preferred_store="",
    )
    CustomerTraits.objects.create(customer=carl, last_seen_at=at(1), preferred_store="sol")
    before = list(CustomerTraits.objects.all())
    events = [
        Event(customer=ana, type="order_placed", occurred_at=at(5), properties={"total": "10.01"}),
        Event(customer=ana, type="page_viewed", occurred_at=at(6), properties={}),
        Event(
            customer=bea,
            type="order_placed",
            occurred_at=at(1),
            properties={"total": "0.01", "store": "mad"},
        ),
        Event(customer=bea, type="page_viewed", occurred_at=at(2), properties={}),
        Event(
            customer=carl,
            type="order_placed",
            occurred_at=at(7),
            properties={"total": "5", "store": "bcn"},
        ),
    ]

    def run():
        CustomerTraits.objects.all().delete()
        CustomerTraits.objects.bulk_create(before)
        apply_event_increments(events)
        return traits_snapshot()

    fast, orm = both_ways(settings, run)
    assert fast == orm
    assert fast[bea.pk]["average_order_value"] == Decimal("10.00")  # 30.01 / 3
    assert fast[bea.pk]["first_order_at"] == at(1) and fast[bea.pk]["last_seen_at"] == at(20)
    assert fast[bea.pk]["preferred_store"] == "mad" and fast[carl.pk]["preferred_store"] == "sol"


def test_record_event_alike(settings):
    customer = Customer.objects.create()

    def run():
        Event.objects.all().delete()
        CustomerTraits.objects.all().delete()
        event = services.record_customer_event(
            customer=customer,
            type="order_placed",
            channel="store",
            properties={"total": "40.10", "store": "sol", "lines": [1, 2]},
        )
        stored = Event.objects.filter(pk=event.pk).values(
            "customer_id", "channel", "type", "name", "properties", "identity_id"
        )
        traits = {  # the event's time (now) named, so that the two runs compare
            pk: {k: "occurred_at" if v == event.occurred_at else v for k, v in row.items()}
            for pk, row in traits_snapshot().items()
        }
        return (not event._state.adding, list(stored), traits)

    fast, orm = both_ways(settings, run)
    assert fast == orm
    assert fast[0] and len(fast[1]) == 1
    assert fast[2][customer.pk]["last_order_at"] == "occurred_at"


def test_insert_events_skips_stored_keys_alike(settings):
    customer = Customer.objects.create()
    Event.objects.create(
        customer=customer,
        channel="web",
        type="page_viewed",
        occurred_at=at(0),
        idempotency_key="seen",
    )

    def new(key, n):
        props = {"n": n, "name": "ñ"}
        return queries.NewEvent(
            customer_id=customer.pk,
            channel="web",
            type="custom",
            name=f"e{n}",
            properties=props,
            properties_json=json.dumps(props),
            occurred_at=at(n),
            idempotency_key=key,
        )

    batch = [new("k1", 1), new(None, 2), new("seen", 3), new(None, 4), new("k5", 5)]

    def run():
        with transaction.atomic():
            ids = queries.insert_events(batch, received_at=at(9))
            rows = {
                pk: Event.objects.filter(pk=pk).values(
                    "channel", "type", "name", "properties", "occurred_at", "idempotency_key"
                )[0]
                for pk in ids
                if pk is not None
            }
            shape = [None if pk is None else rows[pk] for pk in ids]
            transaction.set_rollback(True)
        return shape

    fast, orm = both_ways(settings, run)
    assert fast == orm
    assert fast[2] is None and [r["name"] for r in fast if r] == ["e1", "e2", "e4", "e5"]


def test_identifier_look_ups_alike(settings):
    ana = services.identify(identifiers=[(IdentityKind.EMAIL, "ana@example.com", True)])
    bea = services.identify(
        identifiers=[(IdentityKind.EMAIL, "bea@example.com", True), (IdentityKind.ANONYMOUS, "d1")]
    )
    gone = services.identify(identifiers=[(IdentityKind.ANONYMOUS, "d2")])
    Customer.objects.filter(pk=gone.pk).update(status=CustomerStatus.MERGED)
    BlockedIdentifier.objects.create(kind=IdentityKind.ANONYMOUS, value="tablet")
    asked = [
        Identifier(IdentityKind.EMAIL, "ana@example.com"),
        Identifier(IdentityKind.EMAIL, "bea@example.com"),
        Identifier(IdentityKind.ANONYMOUS, "d1"),
        Identifier(IdentityKind.ANONYMOUS, "d2"),
        Identifier(IdentityKind.ANONYMOUS, "tablet"),
        Identifier(IdentityKind.PHONE, "+34600000000"),
    ]

    def run():
        profiles = queries.customers_by_id([ana.pk, bea.pk, 10**9])
        return (
            queries.blocked_values(asked),
            queries.live_owners(asked),
            {pk: (c.is_anonymous, c.status, c.created_at) for pk, c in profiles.items()},
            [
                (i.pk, i.kind, i.value, i.verified, i.source, i.created_at)
                for i in queries.identities_of(bea.pk)
            ],
        )

    fast, orm = both_ways(settings, run)
    assert fast == orm
    assert fast[0] == {(IdentityKind.ANONYMOUS, "tablet")}
    assert fast[1] == {
        (IdentityKind.EMAIL, "ana@example.com"): {ana.pk},
        (IdentityKind.EMAIL, "bea@example.com"): {bea.pk},
        (IdentityKind.ANONYMOUS, "d1"): {bea.pk},
    }


def test_profile_and_identity_writes_alike(settings):
    now = at(3)

    def run():
        with transaction.atomic():
            ids = queries.create_profiles([True, False, True], now)
            queries.add_identities(
                [
                    queries.NewIdentity(ids[0], IdentityKind.EMAIL, "x@example.com", True),
                    queries.NewIdentity(ids[1], IdentityKind.ANONYMOUS, "dev", False),
                ],
                source="app",
                now=now,
            )
            customer = Customer.objects.get(pk=ids[1])
            customer.is_anonymous = False
            queries.save_is_anonymous(customer)
            rank = {pk: n for n, pk in enumerate(ids)}
            shape = (
                [
                    (rank[c["pk"]], c)
                    for c in Customer.objects.filter(pk__in=ids)
                    .order_by("pk")
                    .values(
                        "pk",
                        "first_name",
                        "last_name",
                        "preferred_language",
                        "home_store",
                        "status",
                        "is_anonymous",
                        "user_id",
                    )
                ],
                sorted(
                    (rank[i.customer_id], i.kind, i.value, i.verified, i.source, i.last_seen_at)
                    for i in Identity.objects.filter(customer_id__in=ids)
                ),
            )
            transaction.set_rollback(True)
        for _rank, row in shape[0]:
            row.pop("pk")
        return shape

    fast, orm = both_ways(settings, run)
    assert fast == orm
    assert [row["is_anonymous"] for _r, row in fast[0]] == [False, False, False]


def ingest_batch():
    return [
        {
            "type": "track",
            "event": "product_viewed",
            "anonymous_id": "new-1",
            "message_id": "m1",
            "timestamp": "2025-03-01T10:00:00+00:00",
            "properties": {"category": "shoes"},
        },
        {
            "type": "page",
            "anonymous_id": "known-device",
            "message_id": "m2",
            "timestamp": "2025-03-01T10:01:00+00:00",
            "channel": "app",
        },
        {
            "type": "track",
            "event": "order_placed",
            "email": "ana@example.com",
            "email_verified": True,
            "anonymous_id": "new-2",
            "message_id": "m3",
            "timestamp": "2025-03-01T10:02:00+00:00",
            "properties": {"total": "12.5", "store": "sol"},
        },
        {
            "type": "identify",
            "email": "bea@example.com",
            "email_verified": True,
            "traits": {"first_name": "Bea"},
            "message_id": "m4",
        },
        {
            "type": "track",
            "event": "my_thing",
            "anonymous_id": "tablet",
            "message_id": "m5",
            "timestamp": "2025-03-01T10:03:00+00:00",
        },
        {
            "type": "track",
            "event": "page_viewed",
            "anonymous_id": "new-3",
            "timestamp": "2025-03-01T10:04:00+00:00",
        },
        {
            "type": "track",
            "event": "page_viewed",
            "anonymous_id": "new-1",
            "message_id": "old",
            "timestamp": "2025-03-01T10:05:00+00:00",
        },
        {
            "type": "track",
            "event": "order_placed",
            "anonymous_id": "x",
            "message_id": "m8",
            "properties": {"total": "abc"},
        },
    ]


def test_ingest_stores_the_same_rows_both_ways(settings):
    """Same events → same results, profiles, identities, events and traits."""
    ana = services.identify(identifiers=[(IdentityKind.EMAIL, "ana@example.com", True)])
    services.identify(identifiers=[(IdentityKind.ANONYMOUS, "known-device")])
    BlockedIdentifier.objects.create(kind=IdentityKind.ANONYMOUS, value="tablet")
    services.record_events(events=[{"type": "page", "anonymous_id": "z", "message_id": "old"}])
    existing = set(Customer.objects.values_list("pk", flat=True))

    def run():
        with transaction.atomic():
            results = services.record_events(events=ingest_batch())
            shape = ingest_shape(results, existing)
            transaction.set_rollback(True)
        return shape

    fast, orm = both_ways(settings, run)
    assert fast == orm
    statuses = [r[0] for r in fast[0]]
    assert statuses == [
        "created",
        "created",
        "created",
        "identified",
        "created",
        "created",
        "duplicate",
        "error",
    ]
    assert fast[0][2][1] == ("old", ana.pk)


def ingest_shape(results, existing: set[int]):
    """The rows an ingest wrote, new profiles named by their order of creation."""
    new = list(
        Customer.objects.exclude(pk__in=existing).order_by("pk").values_list("pk", flat=True)
    )
    name = {pk: ("new", n) for n, pk in enumerate(new)} | {pk: ("old", pk) for pk in existing}

    def who(pk):
        return None if pk is None else name[pk]

    events = Event.objects.exclude(idempotency_key="old").order_by("occurred_at", "name")
    return (
        [(r.status, who(r.customer_id), r.error) for r in results],
        [
            (who(c["pk"]), c["is_anonymous"], c["status"], c["first_name"])
            for c in Customer.objects.order_by("pk").values(
                "pk", "is_anonymous", "status", "first_name"
            )
        ],
        sorted(
            (who(i.customer_id), i.kind, i.value, i.verified, i.source)
            for i in Identity.objects.all()
        ),
        [
            (
                who(e.customer_id),
                e.channel,
                e.type,
                e.name,
                e.properties,
                e.occurred_at,
                e.idempotency_key,
            )
            for e in events
        ],
        sorted(
            (who(pk), tuple(row[f] for f in TRAIT_FIELDS if f != "customer_id"))
            for pk, row in traits_snapshot().items()
        ),
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["fast_sql", "orm"])
def test_the_customer_lock_statement_and_its_orm_twin_lock_and_load_alike(path, make_customer):
    """Orders pipelines ``customer_lock_statement``; ``locks.customer_for_no_key_update`` is its
    ORM twin: both load the same profile, and both hold the row against another transaction's
    ``FOR UPDATE`` until commit."""
    import psycopg
    from django.db import connection

    from customers import locks
    from omni import sql as fast_sql

    customer = make_customer(email="lock@example.com")
    other = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    try:
        with transaction.atomic():
            if path == "fast_sql":
                statement = queries.customer_lock_statement()
                row = fast_sql.cursor().execute(statement, [customer.pk]).fetchone()
                loaded = queries.customer_from_row(row)
            else:
                loaded = locks.customer_for_no_key_update(customer.pk)
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute(
                    f"SELECT 1 FROM {Customer._meta.db_table} WHERE id = %s FOR UPDATE NOWAIT",
                    [customer.pk],
                )
        other.execute(
            f"SELECT 1 FROM {Customer._meta.db_table} WHERE id = %s FOR UPDATE NOWAIT",
            [customer.pk],
        )
    finally:
        other.close()
    fields = [f.attname for f in Customer._meta.concrete_fields]
    fresh = Customer.objects.get(pk=customer.pk)
    assert [getattr(loaded, f) for f in fields] == [getattr(fresh, f) for f in fields]
    with transaction.atomic():
        assert fast_sql.cursor().execute(queries.customer_lock_statement(), [0]).fetchone() is None
        assert locks.customer_for_no_key_update(0) is None
