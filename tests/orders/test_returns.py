"""Returns in any store or by post: resellable units back on the shelf, damaged ones written off."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from customers import services as customer_services
from customers.models import Event
from inventory.models import MovementKind, StockLevel, StockMovement
from orders import services
from orders.exceptions import InvalidReturn
from orders.models import Coupon, PaymentState, Promotion, Return

pytestmark = pytest.mark.django_db

ADDRESS = {
    "name": "Ana",
    "line1": "Calle 1",
    "postal_code": "28013",
    "city": "Madrid",
    "country": "ES",
}


@pytest.fixture
def shipped(shop):
    shopper = customer_services.identify(identifiers=[("email", "r@example.com")], source="web")
    cart = services.open_cart(customer=shopper, channel="web")
    services.add_to_cart(cart=cart, variant=shop.jeans, quantity=3, channel="web")
    order = services.place_order(
        cart=cart, fulfilment="ship", shipping_address=ADDRESS, latitude=40.4, longitude=-3.7
    )
    return services.mark_shipped(order=order)


def _on_hand(variant, location):
    level = StockLevel.objects.filter(variant=variant, location=location).first()
    return level.on_hand if level else 0


def test_return_at_a_store_restocks_resellable_and_writes_off_damaged(shop, shipped):
    line = shipped.lines.get()
    # Shipped from the warehouse, returned at the Madrid store: 1 resellable now…
    at_counter = services.create_return(
        order=shipped,
        lines={line.pk: 1},
        location=shop.madrid,
        conditions={line.pk: "resellable"},
    )
    assert _on_hand(shop.jeans, shop.madrid) == 1
    assert at_counter.received_at is not None and at_counter.refund.amount == Decimal("49.90")
    # …and 1 damaged, sent by post to the warehouse and inspected there later.
    by_post = services.create_return(
        order=shipped, lines={line.pk: 1}, location=shop.warehouse, by_post=True
    )
    assert by_post.received_at is None
    before = _on_hand(shop.jeans, shop.warehouse)
    services.receive_return(return_=by_post, conditions={line.pk: "damaged"})
    assert _on_hand(shop.jeans, shop.warehouse) == before
    kinds = list(
        StockMovement.objects.filter(reference=f"return:R{by_post.pk}")
        .order_by("pk")
        .values_list("kind", "delta")
    )
    assert kinds == [(MovementKind.RETURN, 1), (MovementKind.WRITE_OFF, -1)]

    shipped.refresh_from_db()
    line.refresh_from_db()
    assert line.returned_quantity == 2
    assert shipped.refunded_total == Decimal("99.80")
    assert shipped.payment_state == PaymentState.PARTIALLY_REFUNDED
    assert Event.objects.filter(customer=shipped.customer, type="return_received").count() == 2
    call_command("check_stock_ledger")


def test_more_than_bought_or_an_open_order_cannot_be_returned(shop, shipped):
    line = shipped.lines.get()
    with pytest.raises(InvalidReturn):
        services.create_return(order=shipped, lines={line.pk: 4}, location=shop.madrid)
    services.create_return(order=shipped, lines={line.pk: 3}, location=shop.madrid, by_post=True)
    with pytest.raises(InvalidReturn):  # all three already announced
        services.create_return(order=shipped, lines={line.pk: 1}, location=shop.madrid)
    assert Return.objects.count() == 1


def test_return_needs_a_condition_for_every_line_and_is_received_once(shop, shipped):
    line = shipped.lines.get()
    rma = services.create_return(order=shipped, lines={line.pk: 1}, location=shop.madrid)
    with pytest.raises(InvalidReturn):
        services.receive_return(return_=rma, conditions={line.pk: "pristine"})
    assert _on_hand(shop.jeans, shop.madrid) == 0
    services.receive_return(return_=rma, conditions={line.pk: "resellable"})
    with pytest.raises(InvalidReturn):
        services.receive_return(return_=rma, conditions={line.pk: "resellable"})
    assert _on_hand(shop.jeans, shop.madrid) == 1


def test_an_order_not_handed_over_cannot_be_returned(shop):
    shopper = customer_services.identify(identifiers=[("email", "o@example.com")], source="web")
    cart = services.open_cart(customer=shopper, channel="web")
    services.add_to_cart(cart=cart, variant=shop.shirt, quantity=1, channel="web")
    order = services.place_order(cart=cart, fulfilment="pickup", location=shop.madrid)
    with pytest.raises(InvalidReturn):
        services.create_return(order=order, lines={order.lines.get().pk: 1}, location=shop.madrid)


def test_returning_a_line_unit_by_unit_refunds_exactly_its_total(shop):
    shopper = customer_services.identify(identifiers=[("email", "u@example.com")], source="web")
    cart = services.open_cart(customer=shopper, channel="web")
    services.add_to_cart(cart=cart, variant=shop.shirt, quantity=3, channel="web")
    promotion = Promotion.objects.create(name="1 € off", kind="fixed_amount", value=Decimal("1"))
    Coupon.objects.create(promotion=promotion, code="ONE")
    order = services.place_order(
        cart=cart, fulfilment="counter", location=shop.madrid, channel="store", coupon_code="ONE"
    )
    line = order.lines.get()
    refunds = [
        services.create_return(
            order=order,
            lines={line.pk: 1},
            location=shop.madrid,
            conditions={line.pk: "resellable"},
        ).refund.amount
        for _ in range(3)
    ]
    # 58.97 over three units: 19.66 + 19.66 + 19.65, never more than was paid.
    assert refunds == [Decimal("19.66"), Decimal("19.66"), Decimal("19.65")]
    assert sum(refunds) == line.total == Decimal("58.97")


def test_the_same_idempotency_key_records_a_return_once(shop, shipped):
    line = shipped.lines.get()
    args = {
        "order": shipped,
        "lines": {line.pk: 1},
        "location": shop.madrid,
        "conditions": {line.pk: "resellable"},
        "idempotency_key": "counter-7",
    }
    first = services.create_return(**args)
    again = services.create_return(**args)
    assert again.pk == first.pk
    assert Return.objects.count() == 1
    assert _on_hand(shop.jeans, shop.madrid) == 1
