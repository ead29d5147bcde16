"""Checkouts racing on PostgreSQL: each thread has its own connection and all start together."""

import time
from decimal import Decimal

import pytest
from django.core.management import call_command

from customers.models import Customer
from inventory import services as stock
from inventory.exceptions import InsufficientStock
from inventory.models import Reservation, StockLevel
from orders import services
from orders.exceptions import NotEnoughToSell
from orders.models import Cart, CartLine, Coupon, Order, OrderLine, Promotion, PromotionKind
from orders.pricing import CouponUsedUp
from tests.concurrency.conftest import run_in_threads
from tests.factories import LocationFactory, VariantFactory

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sql_path"),
]

ADDRESS = {
    "name": "Ana",
    "line1": "Calle Mayor 1",
    "postal_code": "28013",
    "city": "Madrid",
    "country": "ES",
}


def _carts(n, variant, quantity=1):
    customers = Customer.objects.bulk_create([Customer() for _ in range(n)])
    carts = Cart.objects.bulk_create([Cart(customer=c, channel="web") for c in customers])
    CartLine.objects.bulk_create(
        [CartLine(cart=c, variant=variant, quantity=quantity) for c in carts]
    )
    return carts


def test_200_checkouts_for_the_last_50_units_over_two_stores_make_exactly_50_orders(concurrently):
    a = LocationFactory(code="a", is_pickup_point=True, ships_to_customers=True)
    b = LocationFactory(code="b", is_pickup_point=True, ships_to_customers=True)
    variant = VariantFactory(price=Decimal("10.00"))
    stock.receive_stock(variant=variant, location=a, quantity=25)
    stock.receive_stock(variant=variant, location=b, quantity=25)
    carts = _carts(200, variant)

    def checkout(i):
        kind = i % 3
        if kind == 2:
            return services.place_order(
                cart=carts[i],
                fulfilment="ship",
                shipping_address=ADDRESS,
                latitude=40.4,
                longitude=-3.7,
            )
        return services.place_order(cart=carts[i], fulfilment="pickup", location=(a, b)[kind])

    results = concurrently(checkout, 200)

    orders = [r for r in results if isinstance(r, Order)]
    refused = [r for r in results if isinstance(r, NotEnoughToSell)]
    assert len(orders) == 50 and len(refused) == 150, {type(r).__name__ for r in results}
    assert Order.objects.count() == 50
    assert sum(StockLevel.objects.values_list("reserved", flat=True)) == 50
    assert Reservation.objects.filter(status="active").count() >= 50
    for level in StockLevel.objects.all():
        assert 0 <= level.reserved <= level.on_hand
    # Failed checkouts left nothing behind: their carts are still open, no stray holds.
    assert Cart.objects.filter(status="open").count() == 150
    owners = set(Reservation.objects.values_list("owner", flat=True))
    transfers = OrderLine.objects.exclude(transfer=None).values_list("transfer_id", flat=True)
    legit = {o.owner for o in Order.objects.all()} | {f"transfer:{t}" for t in transfers}
    assert owners <= legit
    call_command("check_stock_ledger")


def test_50_checkouts_with_one_single_use_coupon_give_one_discounted_order(concurrently):
    store = LocationFactory(is_pickup_point=True)
    variant = VariantFactory(price=Decimal("30.00"))
    stock.receive_stock(variant=variant, location=store, quantity=100)
    promotion = Promotion.objects.create(
        name="Five off", kind=PromotionKind.FIXED_AMOUNT, value=Decimal("5")
    )
    Coupon.objects.create(promotion=promotion, code="ONCE-ONLY", single_use=True)
    carts = _carts(50, variant)

    results = concurrently(
        lambda i: services.place_order(
            cart=carts[i], fulfilment="pickup", location=store, coupon_code="once-only"
        ),
        50,
    )

    orders = [r for r in results if isinstance(r, Order)]
    used = [r for r in results if isinstance(r, CouponUsedUp)]
    assert len(orders) == 1 and len(used) == 49, {type(r).__name__ for r in results}
    assert Order.objects.get().discount_total == Decimal("5.00")
    # The 49 refused checkouts reserved nothing.
    assert StockLevel.objects.get().reserved == 1


def test_one_idempotency_key_retried_concurrently_makes_one_order(concurrently):
    store = LocationFactory(is_pickup_point=True)
    variant = VariantFactory()
    stock.receive_stock(variant=variant, location=store, quantity=10)
    (cart,) = _carts(1, variant, quantity=2)

    results = concurrently(
        lambda i: services.place_order(
            cart=cart, fulfilment="pickup", location=store, idempotency_key="checkout-7f3a"
        ),
        20,
    )

    assert all(isinstance(r, Order) for r in results), results
    assert {r.pk for r in results} == {Order.objects.get().pk}
    assert StockLevel.objects.get().reserved == 2


def test_cancelling_split_orders_while_others_check_out_does_not_deadlock(concurrently):
    warehouse = LocationFactory(warehouse=True, code="wh")  # lower pk than the store
    store = LocationFactory(code="st", is_pickup_point=True)
    on_shelf, far_away = VariantFactory(), VariantFactory()
    stock.receive_stock(variant=on_shelf, location=store, quantity=100)
    stock.receive_stock(variant=far_away, location=warehouse, quantity=100)

    def split_carts(n):
        carts = _carts(n, on_shelf)
        CartLine.objects.bulk_create(
            [CartLine(cart=c, variant=far_away, quantity=1) for c in carts]
        )
        return carts

    placed = [
        services.place_order(cart=c, fulfilment="pickup", location=store) for c in split_carts(30)
    ]
    fresh = split_carts(30)

    def work(i):
        if i % 2:
            return services.cancel_order(order=placed[i // 2])
        return services.place_order(cart=fresh[i // 2], fulfilment="pickup", location=store)

    results = concurrently(work, 60)

    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors[:3]
    assert Order.objects.filter(status="cancelled").count() == 30
    assert Order.objects.filter(status="awaiting_transfer").count() == 30
    assert sum(StockLevel.objects.values_list("reserved", flat=True)) == 60
    call_command("check_stock_ledger")


def test_a_checkout_and_a_merge_of_the_same_person_do_not_deadlock(monkeypatch):
    """Forced interleaving: the checkout holds its cart while the device profile is merged."""
    import threading
    import time

    from customers import services as customer_services
    from orders.services import checkout

    store = LocationFactory(is_pickup_point=True)
    variant = VariantFactory()
    stock.receive_stock(variant=variant, location=store, quantity=10)
    device = customer_services.identify(identifiers=[("anonymous", "dev-1")], source="web")
    shopper = customer_services.identify(identifiers=[("email", "ana@example.com")], source="web")
    device_cart = services.open_cart(customer=device, channel="web")
    services.add_to_cart(cart=device_cart, variant=variant, quantity=1, channel="web")
    shopper_cart = services.open_cart(customer=shopper, channel="web")
    services.add_to_cart(cart=shopper_cart, variant=variant, quantity=1, channel="web")

    merging = threading.Event()
    check_items = checkout._check_items

    def slow_check(items):
        merging.set()
        time.sleep(0.5)  # the cart is locked here; the merge starts meanwhile
        return check_items(items)

    monkeypatch.setattr(checkout, "_check_items", slow_check)

    def work(i):
        if i == 0:
            return services.place_order(cart=device_cart, fulfilment="pickup", location=store)
        merging.wait(10)
        return customer_services.merge_customers(
            survivor=shopper, absorbed=device, cause="signed in"
        )

    results = run_in_threads(work, 2)

    assert not any("deadlock" in str(r).lower() for r in results), results
    # Either the checkout went first (the order moved to the survivor with the merge), or the
    # merge did (the device cart is merged: the checkout is told the cart is no longer open).
    assert isinstance(results[1], Exception) is False, results
    order = Order.objects.first()
    if order is not None:
        assert order.customer_id == shopper.pk
    else:
        assert "no longer open" in str(results[0])


def test_a_checkout_waiting_for_its_cart_already_holds_the_customer_row():
    """The checkout's one lock statement takes the customer row before the cart (the merge's
    order): while another transaction holds the cart, the customer is already locked."""
    import threading

    from django.db import OperationalError, connections, transaction

    store = LocationFactory(is_pickup_point=True)
    variant = VariantFactory()
    stock.receive_stock(variant=variant, location=store, quantity=5)
    (cart,) = _carts(1, variant)
    holding, release = threading.Event(), threading.Event()
    probe = {}

    def work(i):
        if i == 0:  # holds the cart until the probe has run
            with transaction.atomic():
                Cart.objects.select_for_update().get(pk=cart.pk)
                holding.set()
                release.wait(20)
            return None
        if i == 1:
            holding.wait(10)
            return services.place_order(cart=cart, fulfilment="pickup", location=store)
        holding.wait(10)
        time.sleep(0.5)  # the checkout is now waiting for the cart
        try:
            with transaction.atomic():
                Customer.objects.select_for_update(nowait=True, no_key=True).get(
                    pk=cart.customer_id
                )
            probe["customer"] = "free"
        except OperationalError:
            probe["customer"] = "locked"
        finally:
            connections["default"].close()
            release.set()
        return None

    results = run_in_threads(work, 3)

    assert probe == {"customer": "locked"}
    assert isinstance(results[1], Order), results


def test_a_short_pick_reallocated_by_transfer_and_a_reservation_do_not_deadlock(monkeypatch):
    """Forced interleaving: the short pick has written off the store's units and is about to
    hold the warehouse's while a two-line reservation (warehouse, then store: sorted) runs.
    Without locking the variant's rows up front, the short pick holds the store's row and waits
    for the warehouse's, the reservation holds the warehouse's and waits for the store's."""
    import threading
    import time

    from orders import allocation

    warehouse = LocationFactory(warehouse=True, code="wh")  # lower pk than the store
    store = LocationFactory(code="st", is_pickup_point=True)
    variant = VariantFactory()
    stock.receive_stock(variant=variant, location=store, quantity=2)
    stock.receive_stock(variant=variant, location=warehouse, quantity=100)
    (cart,) = _carts(1, variant, quantity=2)
    order = services.place_order(cart=cart, fulfilment="pickup", location=store)
    line = order.lines.get()

    planning = threading.Event()
    allocate = allocation.allocate_pickup

    def slow_allocate(items, location):
        planning.set()
        time.sleep(0.5)  # the store's row is locked by the write-off by now
        return allocate(items, location)

    # The short pick plans through orders.allocation: slowed down there.
    monkeypatch.setattr(allocation, "allocate_pickup", slow_allocate)

    def work(i):
        if i == 0:
            return services.short_pick(order=order, line=line, missing=2, resolution="reallocate")
        planning.wait(10)
        return stock.reserve(
            lines=[
                stock.StockLine(variant.pk, warehouse.pk, 1),
                stock.StockLine(variant.pk, store.pk, 1),
            ],
            owner="cart:other",
        )

    results = run_in_threads(work, 2)

    assert not any("deadlock" in str(r).lower() for r in results), results
    # The short pick went first: both units come from the warehouse now, and the store has
    # none left for the other reservation, which is refused as a whole.
    assert results[0].status == "awaiting_transfer", results
    assert isinstance(results[1], InsufficientStock), results
    assert not Reservation.objects.filter(owner="cart:other").exists()
    call_command("check_stock_ledger")


def test_shoppers_coming_back_at_once_reopen_one_abandoned_cart(concurrently):
    """A shopper's devices (and a till) all asking for the cart at once: the abandoned cart is
    opened again once, every call gets it, and the customer still has one open cart."""
    variant = VariantFactory(price=Decimal("10.00"))
    [cart] = _carts(1, variant)
    Cart.objects.filter(pk=cart.pk).update(status="abandoned")
    customer = Customer.objects.get(pk=cart.customer_id)

    results = concurrently(lambda i: services.open_cart(customer=customer, channel="web"), 30)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert {r.pk for r in results} == {cart.pk}
    assert list(Cart.objects.filter(customer=customer).values_list("status", flat=True)) == ["open"]
