"""inventory.services: every change of stock, its ledger row, and the refusals that write nothing."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, ProtectedError
from django.utils import timezone

from inventory import services
from inventory.exceptions import (
    CountBelowReserved,
    InsufficientStock,
    InvalidQuantity,
    InvalidTransferState,
    LocationNotSellingOnline,
    ReservationNotActive,
)
from inventory.models import (
    MovementKind,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
    TransferRoute,
    TransferStatus,
)
from inventory.services import StockLine
from omni.exceptions import DomainError
from tests.factories import LocationFactory, VariantFactory
from tests.inventory.conftest import ledger_total, level_of, movements_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]

BAD_QUANTITIES = [0, -1, -5, 1.5, 2.0, "3", None, True]


def assert_ledger_matches(variant, location):
    level = level_of(variant, location)
    assert level is not None
    assert level.on_hand == ledger_total(variant, location)


def line(variant, location, quantity):
    return StockLine(variant_id=variant.pk, location_id=location.pk, quantity=quantity)


# --- receive_stock ----------------------------------------------------------------------------


def test_receive_stock_creates_the_row_and_writes_one_receipt(variant, store, staff_user):
    movement = services.receive_stock(
        variant=variant,
        location=store,
        quantity=12,
        reference="import:po-77",
        reason="Supplier delivery",
        acting_user=staff_user,
    )

    level = level_of(variant, store)
    assert (level.on_hand, level.reserved, level.in_transit) == (12, 0, 0)
    [stored] = movements_of(variant, store)
    assert stored.pk == movement.pk
    assert stored.kind == MovementKind.RECEIPT
    assert (stored.delta, stored.balance) == (12, 12)
    assert stored.reference == "import:po-77"
    assert stored.reason == "Supplier delivery"
    assert stored.acting_user == staff_user
    assert stored.created_at is not None


def test_each_receipt_adds_one_movement_with_the_running_balance(variant, store):
    for quantity in (5, 3, 7):
        services.receive_stock(variant=variant, location=store, quantity=quantity)

    movements = movements_of(variant, store)
    assert [(m.delta, m.balance) for m in movements] == [(5, 5), (3, 8), (7, 15)]
    assert level_of(variant, store).on_hand == 15
    assert_ledger_matches(variant, store)


@pytest.mark.parametrize("quantity", BAD_QUANTITIES)
def test_receive_stock_refuses_bad_quantities_and_writes_nothing(
    variant, store, stock, snapshot, quantity
):
    stock(variant, store, 4)
    before = snapshot()

    with pytest.raises(InvalidQuantity) as exc:
        services.receive_stock(variant=variant, location=store, quantity=quantity)

    assert exc.value.code == "invalid_quantity"
    assert snapshot() == before


def test_receive_stock_with_a_bad_quantity_creates_no_stock_row(variant, store):
    with pytest.raises(InvalidQuantity):
        services.receive_stock(variant=variant, location=store, quantity=0)

    assert level_of(variant, store) is None
    assert not StockMovement.objects.exists()


# --- adjust_stock -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "delta"),
    [
        (MovementKind.ADJUSTMENT, 3),
        (MovementKind.ADJUSTMENT, -4),
        (MovementKind.WRITE_OFF, -2),
        (MovementKind.SALE, -1),
        (MovementKind.RETURN, 2),
    ],
)
def test_adjust_stock_writes_one_movement_of_its_kind(
    variant, store, stock, staff_user, kind, delta
):
    stock(variant, store, 10)

    movement = services.adjust_stock(
        variant=variant,
        location=store,
        delta=delta,
        reason="  Found behind the till  ",
        kind=kind,
        reference="till:3",
        acting_user=staff_user,
    )

    level = level_of(variant, store)
    assert level.on_hand == 10 + delta
    movements = movements_of(variant, store)
    assert len(movements) == 2
    assert movements[-1].pk == movement.pk
    assert movement.kind == kind
    assert (movement.delta, movement.balance) == (delta, 10 + delta)
    assert movement.reason == "Found behind the till"
    assert movement.reference == "till:3"
    assert movement.acting_user == staff_user
    assert_ledger_matches(variant, store)


@pytest.mark.parametrize(
    ("kwargs", "exc_type"),
    [
        ({"delta": 0, "reason": "x"}, InvalidQuantity),
        ({"delta": 1.5, "reason": "x"}, InvalidQuantity),
        ({"delta": "2", "reason": "x"}, InvalidQuantity),
        ({"delta": True, "reason": "x"}, InvalidQuantity),
        ({"delta": None, "reason": "x"}, InvalidQuantity),
        ({"delta": 2, "reason": ""}, InvalidQuantity),
        ({"delta": 2, "reason": "   "}, InvalidQuantity),
        ({"delta": 2, "reason": None}, InvalidQuantity),
        ({"delta": 2, "reason": "damaged", "kind": MovementKind.WRITE_OFF}, InvalidQuantity),
        ({"delta": 2, "reason": "sold", "kind": MovementKind.SALE}, InvalidQuantity),
        ({"delta": -2, "reason": "returned", "kind": MovementKind.RETURN}, InvalidQuantity),
        ({"delta": 2, "reason": "x", "kind": MovementKind.RECEIPT}, InvalidQuantity),
        ({"delta": 2, "reason": "x", "kind": MovementKind.TRANSFER_IN}, InvalidQuantity),
        ({"delta": 2, "reason": "x", "kind": "bogus"}, InvalidQuantity),
        ({"delta": -6, "reason": "lost"}, InsufficientStock),
        ({"delta": -4, "reason": "lost"}, InsufficientStock),  # 2 of the 5 are reserved
    ],
)
def test_adjust_stock_refusals_write_nothing(variant, store, stock, snapshot, kwargs, exc_type):
    stock(variant, store, 5)
    services.reserve(lines=[line(variant, store, 2)], owner="cart:1")
    before = snapshot()

    with pytest.raises(exc_type):
        services.adjust_stock(variant=variant, location=store, **kwargs)

    assert snapshot() == before
    level = level_of(variant, store)
    assert (level.on_hand, level.reserved) == (5, 2)


def test_adjust_stock_may_take_every_unreserved_unit(variant, store, stock):
    stock(variant, store, 5)
    services.reserve(lines=[line(variant, store, 2)], owner="cart:1")

    services.adjust_stock(variant=variant, location=store, delta=-3, reason="stolen")

    level = level_of(variant, store)
    assert (level.on_hand, level.reserved) == (2, 2)
    assert_ledger_matches(variant, store)


def test_adjust_stock_below_zero_on_a_new_row_writes_nothing(variant, store):
    with pytest.raises(InsufficientStock):
        services.adjust_stock(variant=variant, location=store, delta=-1, reason="lost")

    assert level_of(variant, store) is None
    assert not StockMovement.objects.exists()


# --- record_count -----------------------------------------------------------------------------


@pytest.mark.parametrize(("counted", "delta"), [(7, -3), (14, 4), (0, -10)])
def test_record_count_writes_the_variance(variant, store, stock, staff_user, counted, delta):
    stock(variant, store, 10)

    movement = services.record_count(
        variant=variant,
        location=store,
        counted=counted,
        reference="count:2026-11-22",
        acting_user=staff_user,
    )

    assert level_of(variant, store).on_hand == counted
    assert len(movements_of(variant, store)) == 2
    assert movement.kind == MovementKind.COUNT
    assert (movement.delta, movement.balance) == (delta, counted)
    assert movement.reference == "count:2026-11-22"
    assert movement.acting_user == staff_user
    assert_ledger_matches(variant, store)


def test_record_count_equal_to_on_hand_writes_no_movement(variant, store, stock):
    stock(variant, store, 10)

    assert services.record_count(variant=variant, location=store, counted=10) is None

    assert len(movements_of(variant, store)) == 1
    assert level_of(variant, store).on_hand == 10


def test_record_count_on_a_new_row(variant, store):
    movement = services.record_count(variant=variant, location=store, counted=6)

    assert (movement.kind, movement.delta, movement.balance) == (MovementKind.COUNT, 6, 6)
    assert level_of(variant, store).on_hand == 6


def test_record_count_may_equal_the_reserved_units(variant, store, stock):
    stock(variant, store, 10)
    services.reserve(lines=[line(variant, store, 4)], owner="cart:1")

    services.record_count(variant=variant, location=store, counted=4)

    level = level_of(variant, store)
    assert (level.on_hand, level.reserved) == (4, 4)


def test_record_count_below_reserved_is_refused_and_writes_nothing(variant, store, stock, snapshot):
    stock(variant, store, 10)
    services.reserve(lines=[line(variant, store, 4)], owner="cart:1")
    before = snapshot()

    with pytest.raises(CountBelowReserved) as exc:
        services.record_count(variant=variant, location=store, counted=3)

    assert exc.value.code == "count_below_reserved"
    assert snapshot() == before


@pytest.mark.parametrize("counted", [-1, 2.5, "4", None, True])
def test_record_count_refuses_bad_numbers(variant, store, stock, snapshot, counted):
    stock(variant, store, 10)
    before = snapshot()

    with pytest.raises(InvalidQuantity):
        services.record_count(variant=variant, location=store, counted=counted)

    assert snapshot() == before


# --- reserve ----------------------------------------------------------------------------------


def test_reserve_holds_units_without_touching_on_hand_or_the_ledger(variant, store, stock):
    stock(variant, store, 10)
    expires_at = timezone.now() + timedelta(minutes=15)

    [reservation] = services.reserve(
        lines=[line(variant, store, 3)], owner="cart:42", expires_at=expires_at
    )

    level = level_of(variant, store)
    assert (level.on_hand, level.reserved) == (10, 3)
    assert len(movements_of(variant, store)) == 1  # only the receipt
    stored = Reservation.objects.get(pk=reservation.pk)
    assert (stored.variant_id, stored.location_id, stored.quantity) == (variant.pk, store.pk, 3)
    assert stored.owner == "cart:42"
    assert stored.channel == services.ONLINE
    assert stored.status == ReservationStatus.ACTIVE
    assert stored.expires_at == expires_at
    assert stored.closed_at is None


def test_reserve_with_a_ttl_sets_the_expiry(variant, store, stock):
    stock(variant, store, 10)
    before = timezone.now()

    [reservation] = services.reserve(
        lines=[line(variant, store, 1)], owner="cart:1", ttl=timedelta(minutes=20)
    )

    after = timezone.now()
    stored = Reservation.objects.get(pk=reservation.pk)
    assert before + timedelta(minutes=20) <= stored.expires_at <= after + timedelta(minutes=20)


def test_reserve_without_expiry_holds_indefinitely(variant, store, stock):
    stock(variant, store, 10)

    [reservation] = services.reserve(lines=[line(variant, store, 1)], owner="order:A1")

    assert Reservation.objects.get(pk=reservation.pk).expires_at is None


def test_reserve_several_lines_at_once(variant, other_variant, store, warehouse, stock):
    stock(variant, store, 5)
    stock(other_variant, warehouse, 5)

    reservations = services.reserve(
        lines=[line(other_variant, warehouse, 2), line(variant, store, 4)], owner="cart:7"
    )

    assert len(reservations) == 2
    assert level_of(variant, store).reserved == 4
    assert level_of(other_variant, warehouse).reserved == 2
    assert Reservation.objects.filter(owner="cart:7", status="active").count() == 2


def test_reserve_merges_lines_of_the_same_row(variant, store, stock):
    stock(variant, store, 5)

    [reservation] = services.reserve(
        lines=[line(variant, store, 2), line(variant, store, 3)], owner="cart:7"
    )

    assert reservation.quantity == 5
    assert level_of(variant, store).reserved == 5


def test_reserve_can_take_every_unit_then_no_more(variant, store, stock, snapshot):
    stock(variant, store, 3)
    services.reserve(lines=[line(variant, store, 3)], owner="cart:1")
    before = snapshot()

    with pytest.raises(InsufficientStock) as exc:
        services.reserve(lines=[line(variant, store, 1)], owner="cart:2")

    assert exc.value.code == "insufficient_stock"
    assert variant.sku in exc.value.message
    assert snapshot() == before


def test_reserve_with_no_stock_row_is_insufficient(variant, store):
    with pytest.raises(InsufficientStock):
        services.reserve(lines=[line(variant, store, 1)], owner="cart:1")

    assert not Reservation.objects.exists()


@pytest.mark.parametrize("short_line_first", [False, True])
def test_reserve_is_all_or_nothing(variant, store, warehouse, stock, snapshot, short_line_first):
    """Lines are held in (location_id, variant_id) order: make the short line come second, then
    first, so the refused call has already taken the other line's units in one of the cases."""
    other = VariantFactory()
    stock(variant, store, 10)
    stock(other, store, 1)
    ok_line, short_line = line(variant, store, 4), line(other, store, 2)
    # other.pk > variant.pk, so with the same location the short line is held second.
    assert other.pk > variant.pk
    lines = [short_line, ok_line] if short_line_first else [ok_line, short_line]
    before = snapshot()

    with pytest.raises(InsufficientStock):
        services.reserve(lines=lines, owner="cart:9")

    assert snapshot() == before
    assert level_of(variant, store).reserved == 0
    assert level_of(other, store).reserved == 0
    assert not Reservation.objects.exists()


@pytest.mark.parametrize("short_row", [0, 1])
def test_reserve_all_or_nothing_across_locations(
    variant, store, warehouse, stock, snapshot, short_row
):
    """Rows are held in location order; the short row is held first, then second."""
    first, second = sorted([store, warehouse], key=lambda loc: loc.pk)
    short, plenty = (first, second) if short_row == 0 else (second, first)
    stock(variant, plenty, 10)
    stock(variant, short, 1)
    before = snapshot()

    with pytest.raises(InsufficientStock):
        services.reserve(lines=[line(variant, store, 3), line(variant, warehouse, 3)], owner="c")

    assert snapshot() == before
    assert level_of(variant, plenty).reserved == 0
    assert not Reservation.objects.exists()


@pytest.mark.parametrize(
    ("quantities", "extra"),
    [
        ([0], {}),
        ([-1], {}),
        ([1.5], {}),
        (["2"], {}),
        ([True], {}),
        ([2, 0], {}),
        ([1], {"channel": "carrier-pigeon"}),
        ([1], {"owner": ""}),
    ],
)
def test_reserve_refuses_bad_input_and_writes_nothing(
    variant, store, stock, snapshot, quantities, extra
):
    stock(variant, store, 10)
    other = VariantFactory()
    stock(other, store, 10)
    variants = [variant, other]
    lines = [line(variants[i], store, q) for i, q in enumerate(quantities)]
    kwargs = {"owner": "cart:1", **extra}
    before = snapshot()

    with pytest.raises(InvalidQuantity):
        services.reserve(lines=lines, **kwargs)

    assert snapshot() == before


def test_reserve_an_unknown_variant_is_refused(store, snapshot):
    before = snapshot()

    with pytest.raises(InsufficientStock):
        services.reserve(
            lines=[StockLine(variant_id=987654321, location_id=store.pk, quantity=1)],
            owner="cart:1",
        )

    assert snapshot() == before


def test_reserve_online_at_an_unknown_location_is_refused(variant, snapshot):
    before = snapshot()

    with pytest.raises(LocationNotSellingOnline):
        services.reserve(
            lines=[StockLine(variant_id=variant.pk, location_id=987654321, quantity=1)],
            owner="cart:1",
        )

    assert snapshot() == before


def test_reserve_nothing_is_refused(snapshot):
    before = snapshot()

    with pytest.raises(InvalidQuantity):
        services.reserve(lines=[], owner="cart:1")

    assert snapshot() == before


def test_reserve_online_at_a_counter_only_store_is_refused(
    variant, store, offline_store, stock, snapshot
):
    stock(variant, store, 10)
    stock(variant, offline_store, 10)
    before = snapshot()

    with pytest.raises(LocationNotSellingOnline) as exc:
        services.reserve(
            lines=[line(variant, store, 1), line(variant, offline_store, 1)], owner="cart:1"
        )

    assert exc.value.code == "location_not_selling_online"
    assert snapshot() == before


def test_reserve_online_at_an_inactive_location_is_refused(variant, store, stock, snapshot):
    stock(variant, store, 10)
    store.active = False
    store.save(update_fields=["active"])
    before = snapshot()

    with pytest.raises(LocationNotSellingOnline):
        services.reserve(lines=[line(variant, store, 1)], owner="cart:1")

    assert snapshot() == before


def test_reserve_at_the_counter_of_a_counter_only_store(variant, offline_store, stock):
    stock(variant, offline_store, 2)

    [reservation] = services.reserve(
        lines=[line(variant, offline_store, 2)], owner="till:1", channel=services.COUNTER
    )

    assert reservation.channel == services.COUNTER
    assert level_of(variant, offline_store).reserved == 2


def test_online_reservations_cannot_take_safety_stock(variant, store, stock, snapshot):
    stock(variant, store, 10)
    services.set_stock_parameters(variant=variant, location=store, safety_stock=3)
    before = snapshot()

    with pytest.raises(InsufficientStock):
        services.reserve(lines=[line(variant, store, 8)], owner="cart:1")
    assert snapshot() == before

    services.reserve(lines=[line(variant, store, 7)], owner="cart:1")
    assert level_of(variant, store).reserved == 7
    with pytest.raises(InsufficientStock):
        services.reserve(lines=[line(variant, store, 1)], owner="cart:2")
    assert level_of(variant, store).reserved == 7


def test_counter_reservations_can_take_safety_stock(variant, store, stock):
    stock(variant, store, 10)
    services.set_stock_parameters(variant=variant, location=store, safety_stock=3)
    services.reserve(lines=[line(variant, store, 7)], owner="cart:1")

    services.reserve(lines=[line(variant, store, 3)], owner="till:1", channel=services.COUNTER)

    level = level_of(variant, store)
    assert (level.on_hand, level.reserved) == (10, 10)
    with pytest.raises(InsufficientStock):
        services.reserve(lines=[line(variant, store, 1)], owner="till:2", channel=services.COUNTER)


# --- consume ----------------------------------------------------------------------------------


def test_consume_turns_the_hold_into_a_sale(variant, other_variant, store, stock, staff_user):
    stock(variant, store, 10)
    stock(other_variant, store, 4)
    reservations = services.reserve(
        lines=[line(variant, store, 3), line(other_variant, store, 4)],
        owner="order:A1",
        ttl=timedelta(minutes=15),
    )

    movements = services.consume(
        reservation_ids=[r.pk for r in reservations],
        reference="order:A1",
        acting_user=staff_user,
    )

    level, other_level = level_of(variant, store), level_of(other_variant, store)
    assert (level.on_hand, level.reserved) == (7, 0)
    assert (other_level.on_hand, other_level.reserved) == (0, 0)
    assert len(movements) == 2
    by_variant = {m.variant_id: m for m in movements}
    for v, qty, balance in ((variant, 3, 7), (other_variant, 4, 0)):
        [_receipt, sale] = movements_of(v, store)
        assert sale.pk == by_variant[v.pk].pk
        assert sale.kind == MovementKind.SALE
        assert (sale.delta, sale.balance) == (-qty, balance)
        assert sale.reference == "order:A1"
        assert sale.acting_user == staff_user
        assert_ledger_matches(v, store)
    for r in Reservation.objects.filter(pk__in=[r.pk for r in reservations]):
        assert r.status == ReservationStatus.CONSUMED
        assert r.closed_at is not None


def test_consume_twice_is_refused(variant, store, stock, snapshot):
    stock(variant, store, 10)
    [reservation] = services.reserve(lines=[line(variant, store, 3)], owner="order:A1")
    services.consume(reservation_ids=[reservation.pk])
    before = snapshot()

    with pytest.raises(ReservationNotActive):
        services.consume(reservation_ids=[reservation.pk])

    assert snapshot() == before
    assert level_of(variant, store).on_hand == 7


def test_consuming_a_released_reservation_is_refused(variant, store, stock, snapshot):
    stock(variant, store, 10)
    [reservation] = services.reserve(lines=[line(variant, store, 3)], owner="cart:1")
    services.release(reservation_ids=[reservation.pk])
    before = snapshot()

    with pytest.raises(ReservationNotActive) as exc:
        services.consume(reservation_ids=[reservation.pk])

    assert exc.value.code == "reservation_not_active"
    assert snapshot() == before


def test_consuming_an_overdue_reservation_is_refused_before_the_sweep(
    variant, store, stock, snapshot
):
    stock(variant, store, 10)
    [reservation] = services.reserve(
        lines=[line(variant, store, 3)], owner="cart:1", ttl=timedelta(minutes=15)
    )
    # Time passes: the hold is overdue but the beat task has not released it yet.
    Reservation.objects.filter(pk=reservation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    before = snapshot()

    with pytest.raises(ReservationNotActive):
        services.consume(reservation_ids=[reservation.pk])

    assert snapshot() == before
    level = level_of(variant, store)
    assert (level.on_hand, level.reserved) == (10, 3)


def test_consuming_an_expired_reservation_is_refused(variant, store, stock, snapshot):
    stock(variant, store, 10)
    [reservation] = services.reserve(
        lines=[line(variant, store, 3)], owner="cart:1", ttl=timedelta(minutes=15)
    )
    services.expire_reservations(now=timezone.now() + timedelta(minutes=16))
    before = snapshot()

    with pytest.raises(ReservationNotActive):
        services.consume(reservation_ids=[reservation.pk])

    assert snapshot() == before
    assert level_of(variant, store).on_hand == 10


def test_consume_is_all_or_nothing(variant, other_variant, store, stock, snapshot):
    stock(variant, store, 10)
    stock(other_variant, store, 10)
    [good] = services.reserve(lines=[line(variant, store, 2)], owner="cart:1")
    [gone] = services.reserve(lines=[line(other_variant, store, 2)], owner="cart:1")
    services.release(reservation_ids=[gone.pk])
    before = snapshot()

    with pytest.raises(ReservationNotActive):
        services.consume(reservation_ids=[good.pk, gone.pk])

    assert snapshot() == before
    assert Reservation.objects.get(pk=good.pk).status == ReservationStatus.ACTIVE


# --- release ----------------------------------------------------------------------------------


def test_release_gives_units_back_and_is_idempotent(variant, store, stock):
    stock(variant, store, 10)
    [reservation] = services.reserve(lines=[line(variant, store, 4)], owner="cart:1")
    [other] = services.reserve(lines=[line(variant, store, 1)], owner="cart:2")

    assert services.release(reservation_ids=[reservation.pk]) == 1
    stored = Reservation.objects.get(pk=reservation.pk)
    assert stored.status == ReservationStatus.RELEASED
    assert stored.closed_at is not None
    level = level_of(variant, store)
    assert (level.on_hand, level.reserved) == (10, 1)

    assert services.release(reservation_ids=[reservation.pk]) == 0
    assert services.release(reservation_ids=[reservation.pk]) == 0
    level = level_of(variant, store)
    assert (level.on_hand, level.reserved) == (10, 1)
    assert Reservation.objects.get(pk=reservation.pk).closed_at == stored.closed_at
    assert Reservation.objects.get(pk=other.pk).status == ReservationStatus.ACTIVE
    assert len(movements_of(variant, store)) == 1  # releasing never touches on_hand


def test_release_of_a_consumed_reservation_does_nothing(variant, store, stock, snapshot):
    stock(variant, store, 10)
    [reservation] = services.reserve(lines=[line(variant, store, 4)], owner="cart:1")
    services.consume(reservation_ids=[reservation.pk])
    before = snapshot()

    assert services.release(reservation_ids=[reservation.pk]) == 0

    assert snapshot() == before


def test_release_of_unknown_ids_does_nothing(snapshot):
    before = snapshot()
    assert services.release(reservation_ids=[987654]) == 0
    assert services.release(reservation_ids=[]) == 0
    assert snapshot() == before


def test_release_owner_releases_only_that_owners_holds(variant, store, stock):
    stock(variant, store, 10)
    services.reserve(lines=[line(variant, store, 2)], owner="cart:1")
    services.reserve(lines=[line(variant, store, 3)], owner="cart:1")
    services.reserve(lines=[line(variant, store, 1)], owner="cart:2")

    assert services.release_owner(owner="cart:1") == 2

    assert level_of(variant, store).reserved == 1
    assert set(Reservation.objects.values_list("owner", "status")) == {
        ("cart:1", "released"),
        ("cart:2", "active"),
    }


# --- transfers --------------------------------------------------------------------------------


@pytest.fixture
def transfer(variant, other_variant, warehouse, store, stock, staff_user):
    stock(variant, warehouse, 20)
    stock(other_variant, warehouse, 20)
    return services.create_transfer(
        source=warehouse,
        destination=store,
        lines={other_variant.pk: 4, variant.pk: 5},
        reference="replenish:1",
        note="Weekly",
        acting_user=staff_user,
    )


def test_create_transfer_makes_a_draft_with_its_lines(
    transfer, variant, other_variant, warehouse, store, staff_user
):
    assert transfer.status == TransferStatus.DRAFT
    assert (transfer.source, transfer.destination) == (warehouse, store)
    assert transfer.created_by == staff_user
    assert (transfer.reference, transfer.note) == ("replenish:1", "Weekly")
    assert transfer.shipped_at is None and transfer.expected_on is None
    assert {(tl.variant_id, tl.quantity, tl.received_qty) for tl in transfer.lines.all()} == {
        (variant.pk, 5, None),
        (other_variant.pk, 4, None),
    }
    # A draft moves no stock.
    assert level_of(variant, warehouse).on_hand == 20
    assert level_of(variant, store) is None


@pytest.mark.parametrize(
    ("same_ends", "lines", "exc_type"),
    [
        (True, {"v": 1}, InvalidTransferState),
        (False, {}, InvalidQuantity),
        (False, {"v": 0}, InvalidQuantity),
        (False, {"v": -2}, InvalidQuantity),
        (False, {"v": 1.5}, InvalidQuantity),
    ],
)
def test_create_transfer_refuses_bad_input(
    variant, warehouse, store, snapshot, same_ends, lines, exc_type
):
    lines = {variant.pk: lines["v"]} if lines else {}
    before = snapshot()

    with pytest.raises(exc_type):
        services.create_transfer(
            source=warehouse, destination=warehouse if same_ends else store, lines=lines
        )

    assert snapshot() == before


def test_create_transfer_with_an_unknown_variant_is_refused(warehouse, store, snapshot):
    """Foreign keys are checked at commit (a 500 then); the service must refuse at once with a
    domain error. SET CONSTRAINTS … IMMEDIATE makes the commit-time check visible here."""
    before = snapshot()

    with pytest.raises(DomainError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        services.create_transfer(source=warehouse, destination=store, lines={987654321: 1})

    assert snapshot() == before


def test_ship_transfer_moves_units_out_and_into_transit(
    transfer, variant, other_variant, warehouse, store, staff_user, settings
):
    settings.TRANSFER_DEFAULT_LEAD_DAYS = 4
    TransferRoute.objects.create(source=warehouse, destination=store, lead_time_days=1)

    shipped = services.ship_transfer(transfer=transfer, acting_user=staff_user)

    shipped.refresh_from_db()
    assert shipped.status == TransferStatus.SHIPPED
    assert shipped.shipped_at is not None
    assert shipped.expected_on == timezone.localdate(shipped.shipped_at) + timedelta(days=1)
    for v, qty in ((variant, 5), (other_variant, 4)):
        source, dest = level_of(v, warehouse), level_of(v, store)
        assert (source.on_hand, source.in_transit) == (20 - qty, 0)
        assert (dest.on_hand, dest.in_transit) == (0, qty)
        [_receipt, out] = movements_of(v, warehouse)
        assert out.kind == MovementKind.TRANSFER_OUT
        assert (out.delta, out.balance) == (-qty, 20 - qty)
        assert out.reference == f"transfer:{transfer.pk}"
        assert out.acting_user == staff_user
        assert movements_of(v, store) == []  # in transit is not on hand
        assert_ledger_matches(v, warehouse)
        assert_ledger_matches(v, store)


def test_ship_transfer_without_a_route_uses_the_default_lead_time(transfer, settings):
    settings.TRANSFER_DEFAULT_LEAD_DAYS = 4

    shipped = services.ship_transfer(transfer=transfer)

    assert shipped.expected_on == timezone.localdate(shipped.shipped_at) + timedelta(days=4)


def test_lead_time_is_per_direction(warehouse, store, settings):
    settings.TRANSFER_DEFAULT_LEAD_DAYS = 6
    TransferRoute.objects.create(source=warehouse, destination=store, lead_time_days=1)

    assert services.lead_time_days(warehouse.pk, store.pk) == 1
    assert services.lead_time_days(store.pk, warehouse.pk) == 6


@pytest.mark.parametrize("status", [TransferStatus.SHIPPED, TransferStatus.CANCELLED])
def test_shipping_a_transfer_that_is_not_a_draft_is_refused(transfer, snapshot, status):
    if status == TransferStatus.SHIPPED:
        services.ship_transfer(transfer=transfer)
    else:
        services.cancel_transfer(transfer=transfer)
    before = snapshot()

    with pytest.raises(InvalidTransferState) as exc:
        services.ship_transfer(transfer=transfer)

    assert exc.value.code == "invalid_transfer_state"
    assert snapshot() == before


def test_shipping_more_than_the_unreserved_stock_is_refused(transfer, variant, warehouse, snapshot):
    services.reserve(lines=[line(variant, warehouse, 16)], owner="cart:1")  # 4 left, 5 on transfer
    before = snapshot()

    with pytest.raises(InsufficientStock):
        services.ship_transfer(transfer=transfer)

    assert snapshot() == before
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.DRAFT


def test_shipping_from_a_location_without_the_stock_row_writes_nothing(
    variant, store, warehouse, snapshot
):
    t = services.create_transfer(source=store, destination=warehouse, lines={variant.pk: 1})
    before = snapshot()

    with pytest.raises(InsufficientStock):
        services.ship_transfer(transfer=t)

    assert snapshot() == before
    assert level_of(variant, store) is None


def test_receive_transfer_in_full(transfer, variant, other_variant, warehouse, store, staff_user):
    services.ship_transfer(transfer=transfer)

    received = services.receive_transfer(transfer=transfer, acting_user=staff_user)

    received.refresh_from_db()
    assert received.status == TransferStatus.RECEIVED
    assert received.received_at is not None
    for v, qty in ((variant, 5), (other_variant, 4)):
        dest = level_of(v, store)
        assert (dest.on_hand, dest.in_transit) == (qty, 0)
        [movement] = movements_of(v, store)
        assert movement.kind == MovementKind.TRANSFER_IN
        assert (movement.delta, movement.balance) == (qty, qty)
        assert movement.reference == f"transfer:{transfer.pk}"
        assert movement.acting_user == staff_user
        assert_ledger_matches(v, store)
    for tl in received.lines.all():
        assert tl.received_qty == tl.quantity
        assert tl.discrepancy == 0


def test_receive_transfer_partially(transfer, variant, other_variant, warehouse, store):
    services.ship_transfer(transfer=transfer)

    received = services.receive_transfer(
        transfer=transfer, received={variant.pk: 3, other_variant.pk: 0}
    )

    received.refresh_from_db()
    assert received.status == TransferStatus.PARTIALLY_RECEIVED
    lines = {tl.variant_id: tl for tl in received.lines.all()}
    assert (lines[variant.pk].received_qty, lines[variant.pk].discrepancy) == (3, -2)
    assert (lines[other_variant.pk].received_qty, lines[other_variant.pk].discrepancy) == (0, -4)
    dest = level_of(variant, store)
    assert (dest.on_hand, dest.in_transit) == (3, 0)
    [movement] = movements_of(variant, store)
    assert movement.kind == MovementKind.TRANSFER_IN
    assert (movement.delta, movement.balance) == (3, 3)
    # Nothing received of the other line: no movement, nothing on hand, nothing in transit.
    other_dest = level_of(other_variant, store)
    assert (other_dest.on_hand, other_dest.in_transit) == (0, 0)
    assert movements_of(other_variant, store) == []
    # The source keeps its transfer-out movement for the full quantity.
    assert level_of(variant, warehouse).on_hand == 15
    assert_ledger_matches(variant, store)
    assert_ledger_matches(variant, warehouse)


def test_receive_transfer_variants_left_out_count_as_received_in_full(
    transfer, variant, other_variant, store
):
    services.ship_transfer(transfer=transfer)

    received = services.receive_transfer(transfer=transfer, received={variant.pk: 5})

    received.refresh_from_db()
    assert received.status == TransferStatus.RECEIVED
    assert level_of(other_variant, store).on_hand == 4


def test_receive_transfer_over_delivery_is_kept_as_a_discrepancy(transfer, variant, store):
    services.ship_transfer(transfer=transfer)

    received = services.receive_transfer(transfer=transfer, received={variant.pk: 6})

    line_ = received.lines.get(variant=variant)
    assert (line_.received_qty, line_.discrepancy) == (6, 1)
    level = level_of(variant, store)
    assert (level.on_hand, level.in_transit) == (6, 0)
    assert_ledger_matches(variant, store)


def test_receiving_a_transfer_twice_is_refused(transfer, snapshot):
    services.ship_transfer(transfer=transfer)
    services.receive_transfer(transfer=transfer)
    before = snapshot()

    with pytest.raises(InvalidTransferState):
        services.receive_transfer(transfer=transfer)

    assert snapshot() == before


def test_receiving_a_partially_received_transfer_again_is_refused(transfer, variant, snapshot):
    services.ship_transfer(transfer=transfer)
    services.receive_transfer(transfer=transfer, received={variant.pk: 1})
    before = snapshot()

    with pytest.raises(InvalidTransferState):
        services.receive_transfer(transfer=transfer, received={variant.pk: 4})

    assert snapshot() == before


def test_receiving_a_draft_is_refused(transfer, snapshot):
    before = snapshot()

    with pytest.raises(InvalidTransferState):
        services.receive_transfer(transfer=transfer)

    assert snapshot() == before


@pytest.mark.parametrize(
    ("received", "exc_type"),
    [
        ("stranger", InvalidQuantity),
        (-1, InvalidQuantity),
        (2.5, InvalidQuantity),
    ],
)
def test_receive_transfer_bad_input_writes_nothing(transfer, variant, snapshot, received, exc_type):
    services.ship_transfer(transfer=transfer)
    received = {VariantFactory().pk: 1} if received == "stranger" else {variant.pk: received}
    before = snapshot()

    with pytest.raises(exc_type):
        services.receive_transfer(transfer=transfer, received=received)

    assert snapshot() == before
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.SHIPPED


def test_cancel_transfer(transfer, snapshot):
    services.cancel_transfer(transfer=transfer)

    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.CANCELLED
    before = snapshot()
    with pytest.raises(InvalidTransferState):
        services.cancel_transfer(transfer=transfer)
    with pytest.raises(InvalidTransferState):
        services.receive_transfer(transfer=transfer)
    assert snapshot() == before


def test_a_shipped_transfer_cannot_be_cancelled(transfer, snapshot):
    services.ship_transfer(transfer=transfer)
    before = snapshot()

    with pytest.raises(InvalidTransferState):
        services.cancel_transfer(transfer=transfer)

    assert snapshot() == before


# --- set_stock_parameters ---------------------------------------------------------------------


def test_set_stock_parameters(variant, store, stock):
    stock(variant, store, 10)

    level = services.set_stock_parameters(
        variant=variant, location=store, safety_stock=2, min_qty=3, max_qty=12
    )

    level.refresh_from_db()
    assert (level.safety_stock, level.min_qty, level.max_qty, level.on_hand) == (2, 3, 12, 10)
    assert len(movements_of(variant, store)) == 1  # parameters never write the ledger
    services.set_stock_parameters(variant=variant, location=store, safety_stock=0)
    level.refresh_from_db()
    assert (level.safety_stock, level.min_qty, level.max_qty) == (0, 3, 12)


def test_set_stock_parameters_creates_the_row(variant, store):
    services.set_stock_parameters(variant=variant, location=store, min_qty=1, max_qty=4)

    level = level_of(variant, store)
    assert (level.on_hand, level.min_qty, level.max_qty) == (0, 1, 4)
    assert not StockMovement.objects.exists()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"safety_stock": -1},
        {"min_qty": -1},
        {"max_qty": 1.5},
        {"min_qty": 5},  # above the current max of 4
        {"min_qty": 3, "max_qty": 2},
    ],
)
def test_set_stock_parameters_refuses_bad_values(variant, store, stock, snapshot, kwargs):
    stock(variant, store, 10)
    services.set_stock_parameters(variant=variant, location=store, min_qty=1, max_qty=4)
    before = snapshot()

    with pytest.raises(InvalidQuantity):
        services.set_stock_parameters(variant=variant, location=store, **kwargs)

    assert snapshot() == before


# --- expire_reservations ----------------------------------------------------------------------


def test_expire_reservations_releases_only_overdue_holds(variant, store, stock):
    stock(variant, store, 10)
    now = timezone.now()
    [overdue] = services.reserve(
        lines=[line(variant, store, 2)], owner="cart:1", expires_at=now + timedelta(minutes=5)
    )
    [later] = services.reserve(
        lines=[line(variant, store, 3)], owner="cart:2", expires_at=now + timedelta(minutes=30)
    )
    [forever] = services.reserve(lines=[line(variant, store, 1)], owner="order:1")

    assert services.expire_reservations(now=now + timedelta(minutes=10)) == 1

    statuses = dict(Reservation.objects.values_list("pk", "status"))
    assert statuses == {
        overdue.pk: ReservationStatus.EXPIRED,
        later.pk: ReservationStatus.ACTIVE,
        forever.pk: ReservationStatus.ACTIVE,
    }
    assert Reservation.objects.get(pk=overdue.pk).closed_at == now + timedelta(minutes=10)
    level = level_of(variant, store)
    assert (level.on_hand, level.reserved) == (10, 4)
    assert len(movements_of(variant, store)) == 1


def test_expire_reservations_in_small_batches(variant, store, stock):
    stock(variant, store, 10)
    now = timezone.now()
    for i in range(7):
        services.reserve(
            lines=[line(variant, store, 1)],
            owner=f"cart:{i}",
            expires_at=now + timedelta(seconds=i),
        )

    assert services.expire_reservations(now=now + timedelta(minutes=1), batch_size=3) == 7

    assert level_of(variant, store).reserved == 0
    assert not Reservation.objects.filter(status=ReservationStatus.ACTIVE).exists()


# --- the ledger is append-only ----------------------------------------------------------------


@pytest.fixture
def movement(variant, store):
    return services.receive_stock(variant=variant, location=store, quantity=5)


def test_saving_an_existing_movement_is_refused(movement):
    movement.delta = 500
    with pytest.raises(TypeError, match="append-only"):
        movement.save()
    assert StockMovement.objects.get(pk=movement.pk).delta == 5


def test_deleting_a_movement_is_refused(movement):
    with pytest.raises(TypeError, match="append-only"):
        movement.delete()
    assert StockMovement.objects.filter(pk=movement.pk).exists()


def test_queryset_update_and_delete_of_movements_are_refused(movement):
    with pytest.raises(TypeError, match="append-only"):
        StockMovement.objects.filter(pk=movement.pk).update(delta=500)
    with pytest.raises(TypeError, match="append-only"):
        StockMovement.objects.all().delete()
    with pytest.raises(TypeError, match="append-only"):
        StockMovement.objects.filter(pk=movement.pk).delete()
    assert StockMovement.objects.get(pk=movement.pk).delta == 5


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE inventory_stockmovement SET delta = 500 WHERE id = %s",
        "DELETE FROM inventory_stockmovement WHERE id = %s",
    ],
)
def test_the_database_refuses_raw_updates_and_deletes_of_movements(movement, sql):
    assert connection.vendor == "postgresql"

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [movement.pk])

    assert StockMovement.objects.get(pk=movement.pk).delta == 5


def test_variant_and_location_of_movements_are_protected(movement, variant, store):
    with pytest.raises(ProtectedError):
        variant.delete()
    with pytest.raises(ProtectedError):
        store.delete()
    assert StockMovement.objects.filter(pk=movement.pk).exists()


# --- database CHECK constraints ---------------------------------------------------------------


@pytest.mark.parametrize(
    "update",
    [
        {"on_hand": -1, "reserved": 0},
        {"reserved": F("on_hand") + 1},
        {"reserved": -1},
        {"in_transit": -1},
        {"safety_stock": -1},
        {"min_qty": 5, "max_qty": 4},
    ],
)
def test_check_constraints_reject_impossible_stock_rows(variant, store, stock, update):
    stock(variant, store, 3)

    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(variant=variant, location=store).update(**update)

    level = level_of(variant, store)
    assert (level.on_hand, level.reserved, level.in_transit) == (3, 0, 0)


def test_one_stock_row_per_variant_and_location(variant, store, stock):
    stock(variant, store, 3)

    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.create(variant=variant, location=store)


def test_every_service_keeps_on_hand_equal_to_the_ledger(
    variant, other_variant, store, warehouse, stock
):
    """A tour through every service; after each, every row agrees with its ledger."""
    loc2 = LocationFactory()

    def all_consistent():
        for level in StockLevel.objects.all():
            assert level.on_hand == ledger_total(level.variant, level.location), level

    stock(variant, warehouse, 30)
    all_consistent()
    services.adjust_stock(variant=variant, location=warehouse, delta=-2, reason="damaged")
    all_consistent()
    services.record_count(variant=variant, location=warehouse, counted=25)
    all_consistent()
    t = services.create_transfer(source=warehouse, destination=store, lines={variant.pk: 10})
    services.ship_transfer(transfer=t)
    all_consistent()
    services.receive_transfer(transfer=t, received={variant.pk: 9})
    all_consistent()
    [r] = services.reserve(lines=[line(variant, store, 4)], owner="cart:1")
    services.consume(reservation_ids=[r.pk])
    all_consistent()
    t2 = services.create_transfer(source=store, destination=loc2, lines={variant.pk: 5})
    services.ship_transfer(transfer=t2)
    services.receive_transfer(transfer=t2)
    all_consistent()
    assert level_of(variant, warehouse).on_hand == 15
    assert level_of(variant, store).on_hand == 0
    assert level_of(variant, loc2).on_hand == 5
    assert not Reservation.objects.filter(status="active").exists()


def test_stock_pages_leave_room_for_updates_in_place():
    """Reserving rewrites a stock row; with free room on its page PostgreSQL keeps the new
    version there (a HOT update) and writes no index entry (migration 0009)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'inventory_stocklevel'")
        (options,) = cursor.fetchone()
    assert "fillfactor=80" in options
