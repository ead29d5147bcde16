"""Reservations that expire: they stop blocking at their expiry time and are released once."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from inventory import selectors, services, tasks
from inventory.exceptions import InsufficientStock
from inventory.models import Reservation, ReservationStatus, StockLevel
from inventory.services import StockLine
from tests.inventory.conftest import level_of, movements_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]

JUST = timedelta(microseconds=1)


def line(variant, location, quantity):
    return StockLine(variant_id=variant.pk, location_id=location.pk, quantity=quantity)


@pytest.fixture
def hold(variant, store, stock):
    """10 on hand at the store, 4 of them held for a cart until ``hold.expires_at``."""
    stock(variant, store, 10)
    [reservation] = services.reserve(
        lines=[line(variant, store, 4)],
        owner="cart:1",
        expires_at=timezone.now() + timedelta(minutes=15),
    )
    return reservation


def make_overdue(reservation, seconds=1):
    """Time passes: the hold is past its expiry, and the beat task has not run yet."""
    expires_at = timezone.now() - timedelta(seconds=seconds)
    Reservation.objects.filter(pk=reservation.pk).update(expires_at=expires_at)
    reservation.refresh_from_db()
    return reservation


# --- reads stop counting an expired hold at its expiry time ------------------------------------


def test_variant_availability_counts_the_hold_until_it_expires(hold, variant, store):
    t = hold.expires_at

    [before] = selectors.variant_availability(variant.pk, now=t - JUST)
    [at] = selectors.variant_availability(variant.pk, now=t)
    [after] = selectors.variant_availability(variant.pk, now=t + timedelta(seconds=1))

    assert before.location == store
    assert (before.sellable, before.sellable_counter, before.live_reserved) == (6, 6, 4)
    assert (at.sellable, at.sellable_counter, at.live_reserved) == (10, 10, 0)
    assert (after.sellable, after.sellable_counter, after.live_reserved) == (10, 10, 0)
    # Nothing was written: the row still counts the hold until the beat task releases it.
    assert after.reserved == 4


def test_with_availability_counts_the_hold_until_it_expires(hold, variant, store):
    levels = StockLevel.objects.filter(variant=variant, location=store)
    t = hold.expires_at

    assert selectors.with_availability(levels, now=t - JUST).get().sellable == 6
    assert selectors.with_availability(levels, now=t + JUST).get().sellable == 10


def test_pooled_availability_counts_the_hold_until_it_expires(
    hold, variant, store, warehouse, stock
):
    stock(variant, warehouse, 5)
    t = hold.expires_at

    assert selectors.pooled_availability([variant.pk], now=t - JUST) == {variant.pk: 11}
    assert selectors.pooled_availability([variant.pk], now=t + JUST) == {variant.pk: 15}


def test_availability_without_explicit_now_uses_the_clock(hold, variant):
    assert selectors.pooled_availability([variant.pk]) == {variant.pk: 6}

    make_overdue(hold)

    assert selectors.pooled_availability([variant.pk]) == {variant.pk: 10}
    [row] = selectors.variant_availability(variant.pk)
    assert row.sellable == 10


def test_only_the_expired_hold_stops_counting(hold, variant, store):
    [later] = services.reserve(
        lines=[line(variant, store, 2)],
        owner="cart:2",
        expires_at=hold.expires_at + timedelta(minutes=10),
    )
    services.reserve(lines=[line(variant, store, 1)], owner="order:9")  # never expires

    [row] = selectors.variant_availability(variant.pk, now=hold.expires_at + JUST)

    assert (row.reserved, row.live_reserved, row.sellable) == (7, 3, 7)
    [row] = selectors.variant_availability(variant.pk, now=later.expires_at + JUST)
    assert (row.live_reserved, row.sellable) == (1, 9)


def test_a_released_or_consumed_hold_is_not_added_back(variant, store, stock):
    stock(variant, store, 10)
    expires_at = timezone.now() + timedelta(minutes=5)
    [released] = services.reserve(
        lines=[line(variant, store, 2)], owner="cart:1", expires_at=expires_at
    )
    [consumed] = services.reserve(
        lines=[line(variant, store, 3)], owner="cart:2", expires_at=expires_at
    )
    services.release(reservation_ids=[released.pk])
    services.consume(reservation_ids=[consumed.pk])

    [row] = selectors.variant_availability(variant.pk, now=expires_at + timedelta(minutes=1))

    assert (row.on_hand, row.reserved, row.live_reserved, row.sellable) == (7, 0, 0, 7)


def test_reserve_succeeds_after_expiry_before_the_beat_task_ran(hold, variant, store):
    make_overdue(hold)

    [new] = services.reserve(lines=[line(variant, store, 10)], owner="cart:2")

    hold.refresh_from_db()
    assert hold.status == ReservationStatus.EXPIRED
    assert hold.closed_at is not None
    level = level_of(variant, store)
    assert (level.on_hand, level.reserved) == (10, 10)
    assert Reservation.objects.get(pk=new.pk).status == ReservationStatus.ACTIVE
    # The beat task finds nothing left to release.
    assert services.expire_reservations() == 0
    assert level_of(variant, store).reserved == 10


def test_reserve_does_not_take_a_hold_that_has_not_expired(hold, variant, store, snapshot):
    before = snapshot()

    with pytest.raises(InsufficientStock):
        services.reserve(lines=[line(variant, store, 7)], owner="cart:2")

    assert snapshot() == before
    hold.refresh_from_db()
    assert hold.status == ReservationStatus.ACTIVE


def test_a_refused_reserve_leaves_overdue_holds_for_the_beat_task(hold, variant, store, snapshot):
    make_overdue(hold)
    before = snapshot()

    with pytest.raises(InsufficientStock):
        services.reserve(lines=[line(variant, store, 11)], owner="cart:2")

    assert snapshot() == before
    assert services.expire_reservations() == 1
    assert level_of(variant, store).reserved == 0


# --- expire_reservations: exactly once ---------------------------------------------------------


def test_expire_reservations_releases_each_hold_exactly_once(
    hold, variant, other_variant, store, warehouse, stock
):
    stock(other_variant, warehouse, 8)
    second = services.reserve(
        lines=[line(variant, store, 3), line(other_variant, warehouse, 5)],
        owner="cart:2",
        expires_at=hold.expires_at + timedelta(minutes=1),
    )
    [keep] = services.reserve(
        lines=[line(variant, store, 2)],
        owner="cart:3",
        expires_at=hold.expires_at + timedelta(hours=1),
    )
    sweep_at = hold.expires_at + timedelta(minutes=5)

    assert services.expire_reservations(now=sweep_at) == 3
    assert services.expire_reservations(now=sweep_at) == 0
    assert services.expire_reservations(now=sweep_at + timedelta(minutes=1)) == 0

    level = level_of(variant, store)
    assert (level.on_hand, level.reserved) == (10, 2)  # only the hour-long hold is left
    assert level_of(other_variant, warehouse).reserved == 0
    expired = Reservation.objects.filter(status=ReservationStatus.EXPIRED)
    assert expired.count() == 3
    assert set(expired.values_list("closed_at", flat=True)) == {sweep_at}
    assert Reservation.objects.get(pk=keep.pk).status == ReservationStatus.ACTIVE
    assert set(expired.values_list("pk", flat=True)) == {hold.pk} | {r.pk for r in second}
    assert len(movements_of(variant, store)) == 1  # expiry never touches on_hand


def test_expire_reservations_before_expiry_does_nothing(hold, variant, store, snapshot):
    before = snapshot()

    assert services.expire_reservations(now=hold.expires_at - JUST) == 0

    assert snapshot() == before


def test_expire_reservations_at_the_expiry_time(hold, variant, store):
    assert services.expire_reservations(now=hold.expires_at) == 1
    assert level_of(variant, store).reserved == 0


def test_expire_reservations_skips_released_and_consumed_holds(variant, store, stock):
    stock(variant, store, 10)
    expires_at = timezone.now() + timedelta(minutes=5)
    [released] = services.reserve(
        lines=[line(variant, store, 2)], owner="cart:1", expires_at=expires_at
    )
    [consumed] = services.reserve(
        lines=[line(variant, store, 3)], owner="cart:2", expires_at=expires_at
    )
    services.release(reservation_ids=[released.pk])
    services.consume(reservation_ids=[consumed.pk])

    assert services.expire_reservations(now=expires_at + timedelta(minutes=1)) == 0

    assert dict(Reservation.objects.values_list("pk", "status")) == {
        released.pk: ReservationStatus.RELEASED,
        consumed.pk: ReservationStatus.CONSUMED,
    }
    level = level_of(variant, store)
    assert (level.on_hand, level.reserved) == (7, 0)


def test_releasing_an_expired_hold_does_nothing(hold, variant, store):
    services.expire_reservations(now=hold.expires_at)

    assert services.release(reservation_ids=[hold.pk]) == 0

    assert level_of(variant, store).reserved == 0
    assert Reservation.objects.get(pk=hold.pk).status == ReservationStatus.EXPIRED


# --- the Celery task and its schedule ----------------------------------------------------------


def test_the_task_releases_overdue_holds_exactly_once(hold, variant, store):
    assert settings.CELERY_TASK_ALWAYS_EAGER
    make_overdue(hold)

    first = tasks.expire_reservations.delay()
    second = tasks.expire_reservations.delay()

    assert first.get() == 1
    assert second.get() == 0
    hold.refresh_from_db()
    assert hold.status == ReservationStatus.EXPIRED
    level = level_of(variant, store)
    assert (level.on_hand, level.reserved) == (10, 0)


def test_the_task_leaves_holds_that_have_not_expired(hold, variant, store):
    assert tasks.expire_reservations.delay().get() == 0

    hold.refresh_from_db()
    assert hold.status == ReservationStatus.ACTIVE
    assert level_of(variant, store).reserved == 4


def test_beat_runs_the_expiry_task_every_minute():
    from celery.schedules import crontab, schedule

    entries = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "inventory.tasks.expire_reservations"
    ]
    assert len(entries) == 1
    every = entries[0]["schedule"]
    if isinstance(every, crontab):  # crontab(minute="*") is every minute too
        assert every.minute == set(range(60)) and every.hour == set(range(24))
        every = 60
    elif isinstance(every, schedule):
        every = every.run_every.total_seconds()
    elif isinstance(every, timedelta):
        every = every.total_seconds()
    assert every == 60
    assert tasks.expire_reservations.name == "inventory.tasks.expire_reservations"


def test_the_task_is_registered_with_the_celery_app():
    from omni.celery import app

    app.loader.import_default_modules()
    assert "inventory.tasks.expire_reservations" in app.tasks
