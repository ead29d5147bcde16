""" "Sellable" is written once (inventory/models.py) in three forms: the ORM expression, the SQL
expression the reservation statements use, and the rule of one loaded row. For every mix of
on_hand, reserved, safety stock and expired holds they must give the same units, online and at
the counter — and the reservation guard built on them must take exactly the lines the old
inequality (on_hand ≥ reserved + quantity [+ safety stock]) took."""

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from inventory.models import (
    Reservation,
    ReservationStatus,
    StockLevel,
    sellable_expr,
    sellable_sql,
)
from inventory.selectors import with_availability
from tests.factories import LocationFactory, VariantFactory

pytestmark = pytest.mark.django_db

COUNTER = (False, True)


def _combinations():
    """(on_hand, reserved, safety_stock, expired units among the reserved)."""
    for on_hand, safety in itertools.product([0, 1, 3, 6], [0, 1, 2, 7]):
        for reserved in sorted({0, 1, on_hand // 2, on_hand}):
            if reserved > on_hand:
                continue
            for expired in sorted({0, 1, reserved}):
                if expired <= reserved:
                    yield on_hand, reserved, safety, expired


@pytest.fixture
def rows():
    """One stock row per combination; its reserved units held by one live and one expired
    hold. Returns {stock row id: expired units}."""
    store = LocationFactory(code="rule")
    past, future = timezone.now() - timedelta(minutes=1), timezone.now() + timedelta(hours=1)
    expired_of = {}
    for on_hand, reserved, safety, expired in _combinations():
        variant = VariantFactory()
        level = StockLevel.objects.create(
            variant=variant, location=store, on_hand=on_hand, reserved=reserved, safety_stock=safety
        )
        for quantity, expires_at in ((expired, past), (reserved - expired, future)):
            if quantity:
                Reservation.objects.create(
                    variant=variant,
                    location=store,
                    quantity=quantity,
                    owner=f"cart:{level.pk}",
                    expires_at=expires_at,
                )
        expired_of[level.pk] = expired
    return expired_of


def _sql_units(counter: bool, with_expired: bool) -> dict[int, int]:
    s, r = StockLevel._meta.db_table, Reservation._meta.db_table
    expired = (
        f"SELECT COALESCE(SUM(r.quantity), 0) FROM {r} AS r WHERE r.location_id = s.location_id "
        "AND r.variant_id = s.variant_id AND r.status = %s AND r.expires_at <= now()"
    )
    units = sellable_sql("s", counter=counter, expired_hold=expired if with_expired else "")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.id, {units} FROM {s} AS s",
            [ReservationStatus.ACTIVE] if with_expired else [],
        )
        return dict(cursor.fetchall())


@pytest.mark.parametrize("counter", COUNTER)
def test_the_orm_the_sql_and_the_row_rule_agree_with_expired_holds(rows, counter):
    name = "sellable_counter" if counter else "sellable"
    orm = dict(with_availability(StockLevel.objects.all()).values_list("pk", name))
    python = {
        level.pk: level.sellable_units(counter=counter, expired_hold=rows[level.pk])
        for level in StockLevel.objects.all()
    }
    sql = _sql_units(counter, with_expired=True)

    assert len(orm) == len(rows) > 50
    assert orm == sql == python
    # The formula itself, spelled out once more: never below zero, safety stock kept back
    # from remote channels only.
    for level in StockLevel.objects.all():
        units = level.on_hand - level.reserved + rows[level.pk]
        expected = max(0, units if counter else units - level.safety_stock)
        assert python[level.pk] == expected


@pytest.mark.parametrize("counter", COUNTER)
def test_the_three_forms_agree_without_expired_holds(rows, counter):
    orm = dict(
        StockLevel.objects.annotate(units=sellable_expr(counter=counter)).values_list("pk", "units")
    )
    python = {level.pk: level.sellable_units(counter=counter) for level in StockLevel.objects.all()}

    assert orm == _sql_units(counter, with_expired=False) == python


@pytest.mark.parametrize("counter", COUNTER)
def test_the_reservation_guard_takes_what_the_old_inequality_took(rows, counter):
    for quantity in range(1, 9):
        guarded = set(
            StockLevel.objects.sellable_at_least(quantity, counter=counter).values_list(
                "pk", flat=True
            )
        )
        old = {
            level.pk
            for level in StockLevel.objects.all()
            if level.on_hand >= level.reserved + quantity + (0 if counter else level.safety_stock)
        }
        python = {
            level.pk
            for level in StockLevel.objects.all()
            if level.sellable_units(counter=counter) >= quantity
        }
        assert guarded == old == python, quantity


def test_sellable_related_prefix(rows):
    """``prefix`` reads the rule through a relation (a location's stock rows)."""
    store = StockLevel.objects.first().location
    units = (
        type(store)
        .objects.filter(pk=store.pk)
        .annotate(
            first=sellable_expr(counter=True, prefix="stock_levels__"),
        )
        .values_list("stock_levels__pk", "first")
    )
    expected = {level.pk: level.sellable_units(counter=True) for level in StockLevel.objects.all()}
    assert dict(units) == expected
