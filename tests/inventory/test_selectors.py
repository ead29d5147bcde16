"""inventory.selectors: availability per location and pooled, the pickup finder, ledger checks,
stock health, and what other apps read about stock."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F
from django.utils import timezone

from inventory import selectors, services
from inventory.models import Location, Reservation, StockLevel, TransferRoute
from inventory.selectors import next_open_date
from inventory.services import StockLine
from tests.factories import LocationFactory, VariantFactory

pytestmark = pytest.mark.django_db

MADRID = "Europe/Madrid"
# Wednesday 25 November 2026, 12:00 in Madrid (UTC+1).
WEDNESDAY_NOON = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
WEDNESDAY = date(2026, 11, 25)
ORIGIN = (40.416775, -3.703790)  # Puerta del Sol
KM_PER_DEGREE_LAT = 111.1951  # 2πR/360 with R = 6371.0088 km
WEEKDAYS_10_21 = {day: [["10:00", "21:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat")}


def line(variant, location, quantity):
    return StockLine(variant_id=variant.pk, location_id=location.pk, quantity=quantity)


def receive(variant, location, quantity):
    services.receive_stock(variant=variant, location=location, quantity=quantity)


def pickup_store(code, km_north, **kwargs):
    """A pickup point ``km_north`` km due north of the origin."""
    lat = Decimal(str(round(ORIGIN[0] + km_north / KM_PER_DEGREE_LAT, 6)))
    kwargs.setdefault("is_pickup_point", True)
    return LocationFactory(
        code=code, name=code.title(), latitude=lat, longitude=Decimal(str(ORIGIN[1])), **kwargs
    )


# --- variant_availability ---------------------------------------------------------------------


def test_variant_availability_per_location(variant, store, offline_store, warehouse):
    receive(variant, store, 10)
    services.set_stock_parameters(variant=variant, location=store, safety_stock=3)
    services.reserve(lines=[line(variant, store, 4)], owner="cart:1")
    receive(variant, warehouse, 2)
    services.set_stock_parameters(variant=variant, location=warehouse, safety_stock=5)
    receive(variant, offline_store, 1)
    closed = LocationFactory(active=False)
    receive(variant, closed, 50)
    receive(VariantFactory(), store, 99)  # another variant does not leak in

    rows = {row.location_id: row for row in selectors.variant_availability(variant.pk)}

    assert set(rows) == {store.pk, warehouse.pk, offline_store.pk}
    shop = rows[store.pk]
    assert (shop.on_hand, shop.reserved, shop.safety_stock) == (10, 4, 3)
    assert shop.sellable == 3  # 10 − 4 reserved − 3 safety stock
    assert shop.sellable_counter == 6  # at the counter the safety stock is sellable
    assert shop.location == store
    wh = rows[warehouse.pk]
    assert (wh.sellable, wh.sellable_counter) == (0, 2)  # never below zero
    assert (rows[offline_store.pk].sellable, rows[offline_store.pk].sellable_counter) == (1, 1)


def test_variant_availability_when_everything_is_reserved(variant, store):
    receive(variant, store, 3)
    services.reserve(lines=[line(variant, store, 3)], owner="cart:1")

    [row] = selectors.variant_availability(variant.pk)

    assert (row.sellable, row.sellable_counter) == (0, 0)


def test_variant_availability_of_a_variant_without_stock(variant):
    assert list(selectors.variant_availability(variant.pk)) == []


# --- pooled_availability ----------------------------------------------------------------------


def test_pooled_availability_counts_only_active_locations_that_sell_online(
    variant, store, other_store, offline_store, warehouse
):
    inactive = LocationFactory(active=False)
    for location, quantity in (
        (store, 5),
        (other_store, 2),
        (offline_store, 100),
        (inactive, 1000),
        (warehouse, 30),
    ):
        receive(variant, location, quantity)
    services.set_stock_parameters(variant=variant, location=other_store, safety_stock=4)
    services.reserve(lines=[line(variant, warehouse, 7)], owner="cart:1")

    pooled = selectors.pooled_availability([variant.pk])

    # store 5 + other store max(0, 2 − 4) + warehouse 30 − 7; not the offline or inactive ones.
    assert pooled == {variant.pk: 5 + 0 + 23}


def test_pooled_availability_of_50_variants_in_one_query(
    store, offline_store, warehouse, django_assert_num_queries
):
    inactive = LocationFactory(active=False, sells_online=True)
    variants = VariantFactory.create_batch(50)
    levels, expected = [], {}
    for i, v in enumerate(variants):
        # Written directly: selectors only read these rows.
        levels += [
            StockLevel(variant=v, location=store, on_hand=i, reserved=i // 2, safety_stock=1),
            StockLevel(variant=v, location=warehouse, on_hand=2 * i, reserved=0),
            StockLevel(variant=v, location=offline_store, on_hand=100),
            StockLevel(variant=v, location=inactive, on_hand=100),
        ]
        expected[v.pk] = max(0, i - i // 2 - 1) + 2 * i
    StockLevel.objects.bulk_create(levels)
    ids = [v.pk for v in variants]

    with django_assert_num_queries(1):
        pooled = selectors.pooled_availability(ids)

    assert pooled == expected
    assert pooled[variants[0].pk] == 0
    assert pooled[variants[49].pk] == 49 - 24 - 1 + 98


def test_pooled_availability_up_to_a_quantity_stops_counting_once_it_is_reached(
    variant, store, other_store, offline_store, warehouse, django_assert_num_queries
):
    """Exact when short (a cart's error message says how many), at least the quantity when
    there is enough; overdue holds count as free, as in every availability read."""
    from datetime import timedelta

    from django.utils import timezone

    for location, quantity in ((store, 5), (other_store, 2), (offline_store, 100), (warehouse, 3)):
        receive(variant, location, quantity)
    services.set_stock_parameters(variant=variant, location=other_store, safety_stock=4)
    services.reserve(lines=[line(variant, warehouse, 2)], owner="cart:1", ttl=timedelta(minutes=5))
    total = selectors.pooled_availability([variant.pk])[variant.pk]
    assert total == 5 + 0 + 1

    for quantity in range(0, 10):
        with django_assert_num_queries(1 if quantity > 0 else 0):
            counted = selectors.pooled_availability_up_to(variant.pk, quantity)
        if quantity <= total:
            assert counted >= quantity
        else:
            assert counted == total
    # The hold is overdue: its two units are sellable again at once.
    later = timezone.now() + timedelta(minutes=6)
    assert selectors.pooled_availability_up_to(variant.pk, 99, now=later) == total + 2
    assert selectors.pooled_availability_up_to(VariantFactory().pk, 1) == 0


def test_pooled_availability_reports_zero_for_variants_without_stock(variant, store):
    receive(variant, store, 4)
    bare = VariantFactory()

    assert selectors.pooled_availability([variant.pk, bare.pk]) == {variant.pk: 4, bare.pk: 0}
    assert selectors.pooled_availability([]) == {}


# --- pickup_options ---------------------------------------------------------------------------


@pytest.fixture
def finder(settings):
    """Pickup points north of the origin, lines {v1: 1, v2: 2}, one warehouse holding v2."""
    settings.TRANSFER_DEFAULT_LEAD_DAYS = 3
    v1, v2 = VariantFactory(sku="V1"), VariantFactory(sku="V2")
    wh = LocationFactory(code="wh", warehouse=True, latitude=None, longitude=None)
    receive(v2, wh, 5)
    near = pickup_store("near", 1.0)  # every line
    receive(v1, near, 1)
    receive(v2, near, 2)
    mid = pickup_store("mid", 2.0)  # v2 short (safety stock), a fast route from the warehouse
    receive(v1, mid, 5)
    receive(v2, mid, 2)
    services.set_stock_parameters(variant=v2, location=mid, safety_stock=1)
    TransferRoute.objects.create(source=wh, destination=mid, lead_time_days=1)
    far = pickup_store("far", 3.0)  # every line
    receive(v1, far, 3)
    receive(v2, far, 3)
    lacking = pickup_store("lacking", 4.0)  # v1 missing and no warehouse has v1
    receive(v2, lacking, 9)
    farthest = pickup_store("farthest", 5.0)  # v2 missing, default lead time
    receive(v1, farthest, 1)
    # Never offered: not a pickup point, inactive, not selling online, no coordinates.
    for code, kwargs in (
        ("nopickup", {"is_pickup_point": False}),
        ("inactive", {"active": False}),
        ("offline", {"sells_online": False}),
    ):
        loc = pickup_store(code, 0.1, **kwargs)
        receive(v1, loc, 5)
        receive(v2, loc, 5)
    return {
        "lines": {v1.pk: 1, v2.pk: 2},
        "v1": v1,
        "v2": v2,
        "warehouse": wh,
        "near": near,
        "mid": mid,
        "far": far,
        "lacking": lacking,
        "farthest": farthest,
    }


def find(finder, **kwargs):
    kwargs.setdefault("now", WEDNESDAY_NOON)
    return selectors.pickup_options(
        latitude=ORIGIN[0], longitude=ORIGIN[1], lines=finder["lines"], **kwargs
    )


def test_pickup_options_nearest_ready_first_then_by_transfer(finder):
    options = find(finder)

    assert [o.code for o in options] == ["near", "far", "mid", "farthest"]
    near, far, mid, farthest = options
    assert near.distance_km == pytest.approx(1.0, abs=0.01)
    assert far.distance_km == pytest.approx(3.0, abs=0.01)
    for o in (near, far):
        assert (o.ready_today, o.ready_on, o.via_transfer) == (True, WEDNESDAY, False)
    assert o.location_id == finder["far"].pk
    # mid has 2 of v2 but one is safety stock: a 1-day transfer from the warehouse.
    assert (mid.ready_today, mid.via_transfer) == (False, True)
    assert mid.ready_on == WEDNESDAY + timedelta(days=1)
    assert mid.distance_km == pytest.approx(2.0, abs=0.01)
    # farthest has no route: the default lead time (3 days → Saturday, open).
    assert (farthest.ready_today, farthest.via_transfer) == (False, True)
    assert farthest.ready_on == WEDNESDAY + timedelta(days=3)


def test_pickup_options_omit_a_store_no_warehouse_can_supply(finder):
    codes = {o.code for o in find(finder)}

    assert "lacking" not in codes
    assert not codes & {"nopickup", "inactive", "offline", "wh"}


def test_pickup_options_radius(finder):
    assert [o.code for o in find(finder, radius_km=2.5)] == ["near", "mid"]
    assert [o.code for o in find(finder, radius_km=0.5)] == []
    assert all(o.distance_km <= 3.5 for o in find(finder, radius_km=3.5))


def test_pickup_options_limit(finder):
    assert [o.code for o in find(finder, limit=1)] == ["near"]
    assert [o.code for o in find(finder, limit=3)] == ["near", "far", "mid"]


def test_pickup_options_a_reservation_makes_a_store_short(finder):
    services.reserve(lines=[line(finder["v2"], finder["near"], 1)], owner="cart:1")

    options = {o.code: o for o in find(finder)}

    assert options["near"].via_transfer is True
    assert options["near"].ready_on == WEDNESDAY + timedelta(days=3)


def test_pickup_options_the_warehouse_must_hold_enough(finder):
    services.reserve(lines=[line(finder["v2"], finder["warehouse"], 4)], owner="cart:1")

    codes = [o.code for o in find(finder)]

    # The warehouse has 1 left: enough for mid (short by 1), not for farthest (short by 2).
    assert codes == ["near", "far", "mid"]


def test_pickup_options_store_closed_today_gets_its_next_open_day(finder):
    finder["near"].opening_hours = {"thu": [["10:00", "14:00"]]}
    finder["near"].save(update_fields=["opening_hours"])

    [near] = [o for o in find(finder) if o.code == "near"]

    assert (near.ready_today, near.via_transfer) == (False, False)
    assert near.ready_on == WEDNESDAY + timedelta(days=1)


def test_pickup_options_after_closing_time_ready_on_the_next_day(finder):
    evening = datetime(2026, 11, 25, 21, 30, tzinfo=UTC)  # 22:30 in Madrid

    options = {o.code: o for o in find(finder, now=evening)}

    assert options["near"].ready_on == WEDNESDAY + timedelta(days=1)
    assert options["near"].ready_today is False


def test_pickup_options_transfer_arriving_on_a_closed_day(finder):
    """4 days from Wednesday is Sunday, when the store is closed: ready on Monday."""
    TransferRoute.objects.filter(destination=finder["mid"]).update(lead_time_days=4)

    [mid] = [o for o in find(finder) if o.code == "mid"]

    assert mid.ready_on == date(2026, 11, 30)
    assert mid.ready_on.weekday() == 0


def test_pickup_options_nothing_to_collect(finder):
    assert selectors.pickup_options(latitude=ORIGIN[0], longitude=ORIGIN[1], lines={}) == []


def test_pickup_options_in_the_stores_time_zone(finder):
    """At 23:30 UTC on Wednesday it is already Thursday in Madrid."""
    late = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)

    options = {o.code: o for o in find(finder, now=late)}

    assert options["near"].ready_on == date(2026, 11, 26)
    assert options["near"].ready_today is True


# --- next_open_date ---------------------------------------------------------------------------


def madrid(day, hh_mm):
    """An aware datetime at local Madrid time (UTC+1 in November)."""
    h, m = (int(x) for x in hh_mm.split(":"))
    return datetime(2026, 11, day, h, m, tzinfo=UTC) - timedelta(hours=1)


@pytest.mark.parametrize(
    ("hours", "when", "expected"),
    [
        # Open today, before, during and between ranges.
        (WEEKDAYS_10_21, madrid(25, "08:00"), date(2026, 11, 25)),
        (WEEKDAYS_10_21, madrid(25, "20:59"), date(2026, 11, 25)),
        ({"wed": [["10:00", "14:00"], ["17:00", "21:00"]]}, madrid(25, "15:00"), WEDNESDAY),
        # At or after the last closing time: the next open day.
        (WEEKDAYS_10_21, madrid(25, "21:00"), date(2026, 11, 26)),
        (WEEKDAYS_10_21, madrid(25, "23:59"), date(2026, 11, 26)),
        # Saturday night, closed on Sunday: Monday.
        (WEEKDAYS_10_21, madrid(28, "21:30"), date(2026, 11, 30)),
        (WEEKDAYS_10_21, madrid(29, "12:00"), date(2026, 11, 30)),
        # Open one day a week, just after closing: the same weekday next week.
        ({"wed": [["10:00", "14:00"]]}, madrid(25, "14:00"), date(2026, 12, 2)),
        # Days missing or with an empty list are closed.
        ({"mon": [], "fri": [["09:00", "13:00"]]}, madrid(25, "09:00"), date(2026, 11, 27)),
    ],
)
def test_next_open_date(hours, when, expected):
    assert next_open_date(hours, MADRID, when) == expected


def test_next_open_date_without_hours_is_always_open():
    assert next_open_date({}, MADRID, madrid(29, "03:00")) == date(2026, 11, 29)


def test_next_open_date_uses_the_stores_local_date():
    utc_late = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)

    assert next_open_date({}, MADRID, utc_late) == date(2026, 11, 26)
    assert next_open_date({}, "America/New_York", utc_late) == date(2026, 11, 25)
    # 18:30 in New York on Wednesday: still open until 21:00 there, closed in Madrid.
    assert next_open_date(WEEKDAYS_10_21, "America/New_York", utc_late) == WEDNESDAY
    assert next_open_date(WEEKDAYS_10_21, MADRID, utc_late) == date(2026, 11, 26)


# --- ledger consistency -----------------------------------------------------------------------


@pytest.fixture
def busy_stock(variant, other_variant, store, warehouse):
    receive(variant, warehouse, 20)
    receive(other_variant, store, 5)
    services.adjust_stock(variant=variant, location=warehouse, delta=-2, reason="damaged")
    services.record_count(variant=other_variant, location=store, counted=4)
    t = services.create_transfer(source=warehouse, destination=store, lines={variant.pk: 6})
    services.ship_transfer(transfer=t)
    services.receive_transfer(transfer=t, received={variant.pk: 5})
    [r] = services.reserve(lines=[line(variant, store, 2)], owner="cart:1")
    services.consume(reservation_ids=[r.pk])
    services.set_stock_parameters(variant=other_variant, location=warehouse, min_qty=1, max_qty=2)


def test_ledger_mismatches_empty_after_services(busy_stock):
    assert StockLevel.objects.count() == 4
    assert list(selectors.ledger_mismatches()) == []


def test_ledger_mismatches_finds_a_direct_update(busy_stock, variant, store):
    StockLevel.objects.filter(variant=variant, location=store).update(on_hand=F("on_hand") + 5)

    [bad] = selectors.ledger_mismatches()

    assert (bad.variant, bad.location) == (variant, store)
    assert (bad.on_hand, bad.ledger_total) == (8, 3)


def test_ledger_mismatches_finds_a_row_without_movements(variant, store):
    StockLevel.objects.create(variant=variant, location=store, on_hand=2)

    [bad] = selectors.ledger_mismatches()

    assert (bad.on_hand, bad.ledger_total) == (2, 0)


def test_check_stock_ledger_passes_when_consistent(busy_stock, capsys):
    call_command("check_stock_ledger")

    assert "consistent" in capsys.readouterr().out


def test_check_stock_ledger_fails_naming_each_mismatch(
    busy_stock, variant, other_variant, store, warehouse, capsys
):
    StockLevel.objects.filter(variant=variant, location=store).update(on_hand=F("on_hand") + 5)
    StockLevel.objects.filter(variant=other_variant, location=store).update(on_hand=0)

    with pytest.raises(CommandError) as exc:
        call_command("check_stock_ledger")

    report = capsys.readouterr().err + str(exc.value)
    assert "2 stock row(s)" in str(exc.value)
    assert f"{variant.sku} @ {store.code}" in report
    assert f"{other_variant.sku} @ {store.code}" in report
    assert f"{variant.sku} @ {warehouse.code}" not in report


def test_check_stock_ledger_exits_non_zero(busy_stock, variant, store):
    from django.core.management import ManagementUtility

    StockLevel.objects.filter(variant=variant, location=store).update(on_hand=F("on_hand") + 1)

    with pytest.raises(SystemExit) as exc:
        ManagementUtility(["manage.py", "check_stock_ledger"]).execute()

    assert exc.value.code == 1


def test_pickup_options_limit_counts_only_offered_points(finder):
    """A point no warehouse can supply is left out; it must not take the place of one that can."""
    assert [o.code for o in find(finder, limit=4)] == ["near", "far", "mid", "farthest"]


def test_check_stock_ledger_flags_movements_whose_stock_row_is_gone(busy_stock, variant, store):
    """Units in the ledger with no stock row left are a mismatch too (implicit on_hand 0)."""
    StockLevel.objects.filter(variant=variant, location=store).delete()

    with pytest.raises(CommandError):
        call_command("check_stock_ledger")


# --- stock health (the dashboard) ------------------------------------------------------------


def test_stock_health_counts_rows_with_nothing_left_for_the_counter(variant, other_variant, store):
    receive(variant, store, 5)
    receive(other_variant, store, 3)
    services.set_stock_parameters(variant=other_variant, location=store, safety_stock=3)
    services.reserve(lines=[line(variant, store, 5)], owner="cart:1", channel="counter")
    StockLevel.objects.create(variant=VariantFactory(), location=store, min_qty=2, max_qty=4)

    [row] = selectors.stock_health_by_location(Location.objects.filter(pk=store.pk))

    # All 5 held, and a row never stocked: out. The safety stock alone is still sellable at
    # the counter: not out.
    assert (row["units"], row["rows"], row["out_of_stock"], row["below_min"]) == (8, 3, 2, 1)


# --- What other apps read about stock --------------------------------------------------------


@pytest.fixture
def holds(variant, other_variant, store, other_store, stock):
    """Active holds of cart:1 (two lines), order:7 and transfer:3; a released one of cart:2."""
    for v in (variant, other_variant):
        for loc in (store, other_store):
            stock(v, loc, 10)
    cart = services.reserve(
        lines=[line(variant, store, 1), line(other_variant, other_store, 2)], owner="cart:1"
    )
    order = services.reserve(lines=[line(variant, store, 3)], owner="order:7")
    transfer = services.reserve(lines=[line(variant, other_store, 1)], owner="transfer:3")
    released = services.reserve(lines=[line(variant, store, 1)], owner="cart:2")
    services.release(reservation_ids=[r.pk for r in released])
    return {"cart": cart, "order": order, "transfer": transfer, "released": released}


def _ids(reservations):
    return sorted(r.pk for r in reservations)


def test_active_holds_of_one_owner_or_several(holds):
    assert _ids(selectors.active_holds("cart:1")) == _ids(holds["cart"])
    assert _ids(selectors.active_holds(["cart:1", "order:7", "cart:2"])) == _ids(
        holds["cart"] + holds["order"]
    )
    assert list(selectors.active_holds("cart:2")) == []  # released
    assert list(selectors.active_holds([])) == []
    assert selectors.active_holds("order:7").model is Reservation  # a QuerySet: it composes


def test_active_hold_ids_by_variant_and_location(holds, variant, other_variant, store):
    cart = holds["cart"]
    assert selectors.active_hold_ids("cart:1") == _ids(cart)
    assert selectors.active_hold_ids(["cart:1"], variant_id=other_variant.pk) == [cart[1].pk]
    assert selectors.active_hold_ids("cart:1", variant_id=variant.pk, location_id=store.pk) == [
        cart[0].pk
    ]
    assert selectors.active_hold_ids("cart:1", location_id=-1) == []
    assert selectors.active_hold_ids(["cart:1", "order:7"], location_id=store.pk) == _ids(
        [cart[0], *holds["order"]]
    )


def test_owners_with_active_holds(holds):
    assert selectors.owners_with_active_holds("cart:") == {"cart:1"}  # not the released cart:2
    assert selectors.owners_with_active_holds("transfer:") == {"transfer:3"}
    assert selectors.owners_with_active_holds("order:") == {"order:7"}
    assert selectors.owners_with_active_holds("coupon:") == set()


def test_stock_for_allocation_applies_the_sellable_rule(
    variant, other_variant, store, other_store, warehouse, stock
):
    stock(variant, store, 10)
    stock(other_variant, store, 2)
    stock(variant, other_store, 4)
    stock(variant, warehouse, 7)
    services.set_stock_parameters(variant=variant, location=store, safety_stock=3, max_qty=12)
    services.set_stock_parameters(variant=other_variant, location=store, safety_stock=5)
    services.reserve(lines=[line(variant, store, 4)], owner="cart:1")
    [overdue] = services.reserve(
        lines=[line(variant, store, 2)],
        owner="cart:2",
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    Reservation.objects.filter(pk=overdue.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    found = selectors.stock_for_allocation(
        [variant.pk, other_variant.pk], [store.pk, other_store.pk]
    )

    assert found == {
        # 10 on hand, 4 held, 2 held by an expired hold (counted back), safety stock 3.
        (store.pk, variant.pk): (10 - 4 - 3, 10 - 4, 10, 12),
        # The safety stock above the units: nothing online, both at the counter.
        (store.pk, other_variant.pk): (0, 2, 2, 0),
        (other_store.pk, variant.pk): (4, 4, 4, 0),
    }  # the warehouse was not asked for; rows that do not exist are left out
    level = StockLevel.objects.get(variant=variant, location=store)
    assert found[(store.pk, variant.pk)][:2] == (
        level.sellable_units(expired_hold=2),
        level.sellable_units(counter=True, expired_hold=2),
    )
    assert selectors.stock_for_allocation([], [store.pk]) == {}
