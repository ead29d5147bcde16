"""place_order: pricing (VAT, discounts, shipping), routing, counter sales, imports, bad input."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from customers import services as customer_services
from customers.models import CustomerTraits
from inventory import services as stock
from inventory.models import LocationKind, Reservation, StockLevel, StockMovement
from orders import services
from orders.exceptions import (
    EmptyCart,
    InvalidCartLine,
    InvalidCheckout,
    NotAPickupPoint,
    NotEnoughToSell,
)
from orders.models import Coupon, Order, OrderStatus, Promotion, PromotionKind
from orders.pricing import CouponInvalid, PricedLine, quote, split_discount
from orders.signals import order_placed
from tests.factories import LocationFactory, VariantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]

ADDRESS = {
    "name": "Ana Pérez",
    "line1": "Calle de Alcalá 10",
    "postal_code": "28014",
    "city": "Madrid",
    "country": "ES",
}


def _cart(*lines, email="shopper@example.com", channel="web"):
    shopper = customer_services.identify(identifiers=[("email", email)], source="web")
    cart = services.open_cart(customer=shopper, channel=channel)
    for variant, quantity in lines:
        services.add_to_cart(cart=cart, variant=variant, quantity=quantity, channel=channel)
    return cart


def _nothing_written():
    return (Order.objects.count(), Reservation.objects.count(), StockMovement.objects.count())


# --- Money ------------------------------------------------------------------------------------


def test_vat_is_extracted_per_line_and_discount_split_exactly(shop):
    shop.jeans.product.tax_class = "reduced"
    shop.jeans.product.save()
    promotion = Promotion.objects.create(
        name="10 %", kind=PromotionKind.PERCENTAGE, value=Decimal("10")
    )
    Coupon.objects.create(promotion=promotion, code="TEN")
    cart = _cart((shop.shirt, 3), (shop.jeans, 1))
    order = services.place_order(
        cart=cart, fulfilment="pickup", location=shop.madrid, coupon_code="ten"
    )
    # 3 × 19.99 + 49.90 = 109.87; 10 % = 10.987 → 10.99, split 5.46 / 4.53 (+ remainder).
    assert order.subtotal == Decimal("109.87")
    assert order.discount_total == Decimal("10.99")
    assert order.total == Decimal("98.88")
    lines = {line.sku: line for line in order.lines.all()}
    shirt, jeans = lines[shop.shirt.sku], lines[shop.jeans.sku]
    assert shirt.discount + jeans.discount == Decimal("10.99")
    assert shirt.tax_rate == Decimal("21") and jeans.tax_rate == Decimal("10")
    assert shirt.tax == (shirt.total * 21 / 121).quantize(Decimal("0.01"))
    assert jeans.tax == (jeans.total * 10 / 110).quantize(Decimal("0.01"))
    assert order.tax_total == shirt.tax + jeans.tax
    assert all(isinstance(v, Decimal) for v in (order.total, order.tax_total))


def test_split_discount_always_adds_up():
    variant = VariantFactory()
    lines = [PricedLine(variant, 1, Decimal(p)) for p in ("0.01", "3.33", "3.33", "3.34")]
    for amount in ("0.01", "1.00", "3.33", "9.99", "10.01"):
        shares = split_discount(Decimal(amount), lines)
        assert sum(shares.values()) == Decimal(amount)


def test_shipping_fee_below_the_free_threshold_and_free_shipping_coupon(shop, settings):
    settings.SHIPPING_FEE, settings.FREE_SHIPPING_FROM = "4.95", "50.00"
    shirt = VariantFactory.build(price=Decimal("19.99"), product=shop.shirt.product)
    assert quote([PricedLine(shirt, 1, shirt.price)], ships=True).shipping_total == Decimal("4.95")
    assert quote([PricedLine(shirt, 3, shirt.price)], ships=True).shipping_total == 0
    assert quote([PricedLine(shirt, 1, shirt.price)], ships=False).shipping_total == 0


# --- Routing ----------------------------------------------------------------------------------


def test_ship_routing_prefers_one_parcel_then_warehouses_then_nearest(shop):
    seville_wh = LocationFactory(
        warehouse=True, code="svq", latitude=Decimal("37.39"), longitude=Decimal("-5.98")
    )
    stock.receive_stock(variant=shop.jeans, location=seville_wh, quantity=5)
    stock.receive_stock(variant=shop.shirt, location=seville_wh, quantity=5)
    cart = _cart((shop.shirt, 1), (shop.jeans, 1))
    # Both warehouses hold both lines: the nearer one (Getafe, near Madrid) ships everything.
    order = services.place_order(
        cart=cart,
        fulfilment="ship",
        shipping_address=ADDRESS,
        latitude=40.42,
        longitude=-3.69,
    )
    assert set(order.lines.values_list("location__code", flat=True)) == {"wh"}
    assert "Almacén Getafe" in order.routing_reason and "One parcel" in order.routing_reason
    assert order.shipping_total == Decimal("0.00")  # 69.89 ≥ 50
    # Near Seville, the Seville warehouse wins.
    cart = _cart((shop.shirt, 1), email="sevilla@example.com")
    order = services.place_order(
        cart=cart, fulfilment="ship", shipping_address=ADDRESS, latitude=37.4, longitude=-6.0
    )
    assert order.lines.get().location == seville_wh


def test_ship_from_store_only_where_allowed_and_over_max_stores_first(shop):
    # Madrid (a store) holds shirts but does not ship to customers: the warehouse ships.
    cart = _cart((shop.shirt, 1))
    order = services.place_order(
        cart=cart, fulfilment="ship", shipping_address=ADDRESS, latitude=40.42, longitude=-3.7
    )
    assert order.lines.get().location == shop.warehouse
    # Once Madrid ships and holds more than its maximum, it ships before the warehouse.
    shop.madrid.ships_to_customers = True
    shop.madrid.save()
    StockLevel.objects.filter(variant=shop.shirt, location=shop.madrid).update(max_qty=2)
    cart = _cart((shop.shirt, 1), email="other@example.com")
    order = services.place_order(
        cart=cart, fulfilment="ship", shipping_address=ADDRESS, latitude=40.42, longitude=-3.7
    )
    assert order.lines.get().location == shop.madrid
    assert "maximum" in order.routing_reason


def test_ship_routing_splits_only_when_no_location_has_everything(shop):
    only_here = VariantFactory()
    store = LocationFactory(code="bcn", ships_to_customers=True)
    stock.receive_stock(variant=only_here, location=store, quantity=1)
    cart = _cart((shop.jeans, 1), (only_here, 1))
    order = services.place_order(
        cart=cart, fulfilment="ship", shipping_address=ADDRESS, latitude=40.4, longitude=-3.7
    )
    assert {line.location.code for line in order.lines.all()} == {"wh", "bcn"}
    assert "2 parcels" in order.routing_reason


def test_pickup_splits_between_store_shelf_and_a_transfer(shop):
    cart = _cart((shop.shirt, 7))  # Madrid has 5
    order = services.place_order(cart=cart, fulfilment="pickup", location=shop.madrid)
    assert order.status == OrderStatus.AWAITING_TRANSFER
    parts = sorted(order.lines.values_list("state", "quantity", "location__code"))
    assert parts == [("allocated", 5, "mad"), ("in_transfer", 2, "mad")]
    assert sum(line.total for line in order.lines.all()) == order.total


# --- Counter, imports, side effects ------------------------------------------------------------


def test_counter_sale_takes_safety_stock_and_completes_at_once(shop):
    StockLevel.objects.filter(variant=shop.shirt, location=shop.madrid).update(safety_stock=5)
    cart = _cart((shop.shirt, 2), channel="store")
    # Online, Madrid's shelf is all safety stock (tests/orders/test_allocation.py: the units
    # would come from the warehouse); at the counter it is sold.
    order = services.place_order(
        cart=cart, fulfilment="counter", location=shop.madrid, channel="store"
    )
    assert order.status == OrderStatus.COMPLETED
    level = StockLevel.objects.get(variant=shop.shirt, location=shop.madrid)
    assert (level.on_hand, level.reserved) == (3, 0)
    call_command("check_stock_ledger")


def test_import_from_a_marketplace_is_idempotent_and_uses_the_pool(shop):
    args = {
        "channel": "marketplace",
        "external_reference": "AMZ-123",
        "buyer": [("marketplace", "amazon:A1B2")],
        "lines": [(shop.jeans, 2, Decimal("45.00"))],
        "shipping_address": ADDRESS,
    }
    order, created = services.import_external_order(**args)
    again, created_again = services.import_external_order(**args)
    assert created and not created_again and again.pk == order.pk
    assert order.total == Decimal("90.00")
    assert StockLevel.objects.get(variant=shop.jeans, location=shop.warehouse).reserved == 2
    with pytest.raises(InvalidCheckout):
        services.import_external_order(**{**args, "channel": "web", "external_reference": "X"})


def test_order_placed_signal_on_commit_and_traits_fed(shop, django_capture_on_commit_callbacks):
    received = []
    order_placed.connect(lambda sender, order_id, **kw: received.append(order_id), weak=False)
    cart = _cart((shop.shirt, 1))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = services.place_order(cart=cart, fulfilment="pickup", location=shop.madrid)
    assert received == []  # not before commit
    for callback in callbacks:
        callback()
    assert received == [order.pk]
    traits = CustomerTraits.objects.get(customer=order.customer)
    assert traits.last_seen_at is not None


def test_merging_profiles_moves_orders_and_erasure_strips_addresses(shop):
    cart = _cart((shop.shirt, 1), email="x@example.com")
    order = services.place_order(
        cart=cart, fulfilment="ship", shipping_address=ADDRESS, latitude=40.4, longitude=-3.7
    )
    other = customer_services.identify(identifiers=[("phone", "+34600999888")], source="web")
    customer_services.merge_customers(survivor=other, absorbed=order.customer, cause="test")
    order.refresh_from_db()
    assert order.customer == other
    customer_services.erase_customer(customer=other, reason="GDPR request")
    order.refresh_from_db()
    assert order.shipping_address == {}


# --- Bad input: a clear error and nothing written -------------------------------------------------


def test_empty_cart(shop):
    before = _nothing_written()
    with pytest.raises(EmptyCart):
        services.place_order(cart=_cart(), fulfilment="pickup", location=shop.madrid)
    assert _nothing_written() == before


def test_inactive_variant(shop):
    cart = _cart((shop.shirt, 1))
    shop.shirt.active = False
    shop.shirt.save()
    before = _nothing_written()
    with pytest.raises(InvalidCartLine):
        services.place_order(cart=cart, fulfilment="pickup", location=shop.madrid)
    assert _nothing_written() == before


def test_more_than_sellable(shop):
    cart = _cart((shop.jeans, 10))
    stock.adjust_stock(
        variant=shop.jeans, location=shop.warehouse, delta=-5, reason="damaged in the rain"
    )
    before = _nothing_written()
    with pytest.raises(NotEnoughToSell):
        services.place_order(cart=cart, fulfilment="pickup", location=shop.madrid)
    assert _nothing_written() == before


@pytest.mark.parametrize("code", ["NOPE", "OLD"])
def test_unknown_or_expired_coupon(shop, code):
    promotion = Promotion.objects.create(
        name="Old",
        kind=PromotionKind.PERCENTAGE,
        value=Decimal("10"),
        ends_at=timezone.now() - timedelta(days=1),
    )
    Coupon.objects.create(promotion=promotion, code="OLD")
    cart = _cart((shop.shirt, 1))
    before = _nothing_written()
    with pytest.raises(CouponInvalid):
        services.place_order(cart=cart, fulfilment="pickup", location=shop.madrid, coupon_code=code)
    assert _nothing_written() == before
    assert Promotion.objects.get().times_used == 0


def test_pickup_at_a_location_that_is_not_a_pickup_point(shop):
    cart = _cart((shop.shirt, 1))
    before = _nothing_written()
    with pytest.raises(NotAPickupPoint):
        services.place_order(cart=cart, fulfilment="pickup", location=shop.warehouse)
    assert shop.warehouse.kind == LocationKind.WAREHOUSE
    assert _nothing_written() == before


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fulfilment": "teleport"},
        {"fulfilment": "pickup"},  # no store
        {"fulfilment": "ship", "shipping_address": {"name": "A"}},
        {"fulfilment": "ship", "shipping_address": ADDRESS, "latitude": 91, "longitude": 0},
        {"fulfilment": "counter"},  # counter sales only in the store channel
    ],
)
def test_invalid_checkout_input(shop, kwargs):
    cart = _cart((shop.shirt, 1))
    before = _nothing_written()
    with pytest.raises(InvalidCheckout):
        services.place_order(cart=cart, **kwargs)
    assert _nothing_written() == before


def test_a_checked_out_cart_cannot_be_ordered_twice_without_the_key(shop):
    cart = _cart((shop.shirt, 1))
    first = services.place_order(
        cart=cart, fulfilment="pickup", location=shop.madrid, idempotency_key="k1"
    )
    assert (
        services.place_order(
            cart=cart, fulfilment="pickup", location=shop.madrid, idempotency_key="k1"
        ).pk
        == first.pk
    )
    with pytest.raises(InvalidCheckout):
        services.place_order(cart=cart, fulfilment="pickup", location=shop.madrid)
    assert Order.objects.count() == 1


def test_checkouts_without_a_key_are_never_taken_for_a_retry(shop):
    """No idempotency key matches nothing, not the customer's earlier orders without one."""
    first = services.place_order(
        cart=_cart((shop.shirt, 1)), fulfilment="pickup", location=shop.madrid
    )
    second_cart = _cart((shop.shirt, 2))
    assert second_cart.customer_id == first.customer_id

    second = services.place_order(cart=second_cart, fulfilment="pickup", location=shop.madrid)

    assert second.pk != first.pk
    assert [line.quantity for line in second.lines.all()] == [2]
    assert Order.objects.filter(customer_id=first.customer_id, idempotency_key="").count() == 2


def test_a_placed_order_can_answer_with_its_rows_without_reading_them_back(
    shop, django_assert_num_queries
):
    order = services.place_order(
        cart=_cart((shop.shirt, 2)), fulfilment="pickup", location=shop.madrid
    )

    assert services.prefetch_placed(order)
    with django_assert_num_queries(0):
        assert [(line.variant_id, line.quantity) for line in order.lines.all()] == [
            (shop.shirt.pk, 2)
        ]
        assert [event.status for event in order.history.all()] == ["placed"]
    assert not services.prefetch_placed(Order.objects.get(pk=order.pk))  # not just placed
