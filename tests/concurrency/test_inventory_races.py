"""Stock under real concurrency: threads with their own PostgreSQL connections."""

import random

import pytest
from django.db import connection

from inventory import services
from inventory.exceptions import InsufficientStock
from inventory.models import (
    Location,
    LocationKind,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
)
from inventory.selectors import ledger_mismatches
from tests.factories import VariantFactory

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sql_path"),
]


def _store(code):
    return Location.objects.create(
        kind=LocationKind.STORE, code=code, name=code, sells_online=True, is_pickup_point=True
    )


def test_300_concurrent_one_unit_reservations_sell_exactly_100(concurrently):
    assert connection.vendor == "postgresql"
    store = _store("hot")
    variant = VariantFactory()
    services.receive_stock(variant=variant, location=store, quantity=100)
    line = services.StockLine(variant_id=variant.pk, location_id=store.pk, quantity=1)

    results = concurrently(lambda i: services.reserve(lines=[line], owner=f"cart:{i}"), 300)

    won = [r for r in results if isinstance(r, list)]
    lost = [r for r in results if isinstance(r, InsufficientStock)]
    others = [r for r in results if not isinstance(r, (list, InsufficientStock))]
    assert others == []
    assert len(won) == 100
    assert len(lost) == 200
    level = StockLevel.objects.get(variant=variant, location=store)
    assert (level.on_hand, level.reserved) == (100, 100)
    assert Reservation.objects.filter(status=ReservationStatus.ACTIVE).count() == 100


def test_multi_line_reservations_in_opposite_order_never_deadlock(concurrently):
    a, b = _store("a"), _store("b")
    v1, v2 = VariantFactory(), VariantFactory()
    for loc in (a, b):
        for v in (v1, v2):
            services.receive_stock(variant=v, location=loc, quantity=1000)
    lines = [
        services.StockLine(v1.pk, a.pk, 1),
        services.StockLine(v2.pk, b.pk, 1),
        services.StockLine(v2.pk, a.pk, 1),
        services.StockLine(v1.pk, b.pk, 1),
    ]

    def hammer(i):
        rng = random.Random(i)
        for n in range(10):
            order = lines if (i + n) % 2 else list(reversed(lines))
            reservations = services.reserve(lines=order, owner=f"cart:{i}:{n}")
            if rng.random() < 0.5:
                services.release(reservation_ids=[r.pk for r in reservations])
        return "ok"

    results = concurrently(hammer, 40)

    assert results == ["ok"] * 40  # no deadlock error, no timeout
    for level in StockLevel.objects.all():
        active = sum(
            Reservation.objects.filter(
                variant=level.variant, location=level.location, status=ReservationStatus.ACTIVE
            ).values_list("quantity", flat=True)
        )
        assert level.reserved == active
    assert not ledger_mismatches().exists()


def test_concurrent_expiry_runs_release_each_hold_once(concurrently):
    from datetime import timedelta

    from django.utils import timezone

    store = _store("exp")
    variant = VariantFactory()
    services.receive_stock(variant=variant, location=store, quantity=50)
    past = timezone.now() - timedelta(seconds=1)
    for i in range(50):
        services.reserve(
            lines=[services.StockLine(variant.pk, store.pk, 1)], owner=f"cart:{i}", expires_at=past
        )
    assert StockLevel.objects.get(variant=variant).reserved == 50

    results = concurrently(lambda i: services.expire_reservations(batch_size=7), 8)

    assert sum(results) == 50
    assert StockLevel.objects.get(variant=variant).reserved == 0
    assert Reservation.objects.filter(status=ReservationStatus.EXPIRED).count() == 50


def test_concurrent_receipts_and_sales_keep_the_ledger_exact(concurrently):
    store = _store("led")
    variant = VariantFactory()
    services.receive_stock(variant=variant, location=store, quantity=10)

    def work(i):
        if i % 2:
            return services.receive_stock(variant=variant, location=store, quantity=3)
        return services.adjust_stock(
            variant=variant, location=store, delta=-1, kind="sale", reason="till"
        )

    results = concurrently(work, 60)

    assert all(isinstance(r, StockMovement) for r in results)
    level = StockLevel.objects.get(variant=variant)
    assert level.on_hand == 10 + 30 * 3 - 30
    # Movements were written under the row lock: in id order, each balance is the previous
    # balance plus its delta (no lost update, no two writers seeing the same starting point).
    running = 0
    for delta, balance in StockMovement.objects.order_by("pk").values_list("delta", "balance"):
        running += delta
        assert balance == running
    assert not ledger_mismatches().exists()
