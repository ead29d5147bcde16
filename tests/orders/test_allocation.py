"""orders.allocation: where an order's units come from, and the holds and transfers for them."""

import pytest

from inventory.exceptions import InsufficientStock
from inventory.models import Reservation, StockLevel
from orders import allocation
from orders.allocation import Allocation, Item
from orders.exceptions import NotEnoughToSell
from orders.models import Order
from tests.factories import LocationFactory

pytestmark = pytest.mark.django_db


def _items(*lines):
    return [Item(variant, quantity, variant.price) for variant, quantity in lines]


def _order(shop, number="OMTEST0001"):
    return Order(number=number, location=shop.madrid, fulfilment="pickup")


def test_units_are_added_up_per_variant_and_taken_from_one_store(shop):
    items = _items((shop.shirt, 2), (shop.jeans, 1), (shop.shirt, 1))
    assert allocation.wanted_units(items) == {shop.shirt.pk: 3, shop.jeans.pk: 1}
    first, second = sorted([shop.shirt.pk, shop.jeans.pk])
    quantities = {shop.shirt.pk: 3, shop.jeans.pk: 1}
    assert allocation.at_store(items, shop.madrid.pk) == [
        Allocation(first, shop.madrid.pk, quantities[first]),
        Allocation(second, shop.madrid.pk, quantities[second]),
    ]


def test_pickup_holds_the_shelf_and_brings_the_rest_from_the_warehouse(shop):
    assert allocation.allocate_pickup(_items((shop.shirt, 5)), shop.madrid) == [
        Allocation(shop.shirt.pk, shop.madrid.pk, 5)
    ]
    assert allocation.allocate_pickup(_items((shop.shirt, 7)), shop.madrid) == [
        Allocation(shop.shirt.pk, shop.madrid.pk, 5),
        Allocation(shop.shirt.pk, shop.warehouse.pk, 2, via_transfer=True),
    ]
    with pytest.raises(NotEnoughToSell):
        allocation.allocate_pickup(_items((shop.shirt, 16)), shop.madrid)


def test_pickup_leaves_the_safety_stock_that_the_counter_sells(shop):
    """Moved from test_checkout's counter-sale test."""
    StockLevel.objects.filter(variant=shop.shirt, location=shop.madrid).update(safety_stock=5)
    # Online, Madrid's shelf is all safety stock: the units would come from the warehouse.
    items = [Item(shop.shirt, 2, shop.shirt.price)]
    assert all(a.via_transfer for a in allocation.allocate_pickup(items, shop.madrid))
    assert allocation.allocate_counter(items, shop.madrid) == [
        Allocation(shop.shirt.pk, shop.madrid.pk, 2)
    ]
    with pytest.raises(NotEnoughToSell):
        allocation.allocate_counter(_items((shop.shirt, 6)), shop.madrid)


def test_route_shipment_prefers_one_parcel_and_says_why(shop):
    shop.warehouse.ships_to_customers = True
    shop.warehouse.save()
    allocations, reason = allocation.route_shipment(
        _items((shop.shirt, 1), (shop.jeans, 1)), (40.4, -3.7)
    )
    assert {a.location_id for a in allocations} == {shop.warehouse.pk}
    assert reason.startswith("One parcel from Almacén Getafe") and "km" in reason


def test_reserve_holds_every_line_or_none(shop):
    order = _order(shop)
    holds = allocation.reserve(order, [Allocation(shop.shirt.pk, shop.madrid.pk, 2)], counter=False)
    assert [(h.variant_id, h.quantity, h.owner) for h in holds] == [(shop.shirt.pk, 2, order.owner)]
    with pytest.raises(InsufficientStock):
        allocation.reserve(
            _order(shop, "OMTEST0002"),
            [
                Allocation(shop.shirt.pk, shop.madrid.pk, 1),
                Allocation(shop.jeans.pk, shop.madrid.pk, 1),  # none in Madrid
            ],
            counter=False,
        )
    assert Reservation.objects.filter(owner=_order(shop, "OMTEST0002").owner).count() == 0


def test_request_transfers_one_per_source_holding_the_units(shop):
    other = LocationFactory(warehouse=True, code="wh2")
    order = _order(shop)
    allocations = [
        Allocation(shop.shirt.pk, shop.madrid.pk, 5),
        Allocation(shop.shirt.pk, shop.warehouse.pk, 2, via_transfer=True),
    ]
    holds = allocation.reserve(order, allocations, counter=False)
    assert allocation.request_transfers(order, allocations[:1], holds[:1], None) == {}

    pending = allocation.request_transfers(order, allocations, holds, None)

    assert list(pending) == [shop.warehouse.pk] and other.pk not in pending
    transfer = pending[shop.warehouse.pk].transfer
    assert (transfer.source_id, transfer.destination_id) == (shop.warehouse.pk, shop.madrid.pk)
    assert transfer.reference == f"order:{order.number}"
    assert dict(transfer.lines.values_list("variant_id", "quantity")) == {shop.shirt.pk: 2}
    assert pending[shop.warehouse.pk].promise is not None
    moved = Reservation.objects.get(owner=f"transfer:{transfer.pk}")
    assert (moved.location_id, moved.quantity) == (shop.warehouse.pk, 2)
