"""Abandoned carts: the sweep (set-based, idempotent, announced once after commit), and a
shopper who comes back gets the cart again — by open_cart, by a line change, at checkout, on
the storefront API and at the store counter."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from customers import services as customer_services
from customers.models import Customer, CustomerStatus
from omni import roles
from orders import services, tasks
from orders.exceptions import InvalidCartLine, InvalidCheckout
from orders.models import Cart, CartStatus, Order, OrderStatus
from orders.services import carts
from orders.signals import cart_abandoned
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]


def shopper(email="ana@example.com") -> Customer:
    return customer_services.identify(identifiers=[("email", email)], source="web")


def cart_with(variant, quantity=1, *, email="ana@example.com", idle_minutes=0) -> Cart:
    cart = services.open_cart(customer=shopper(email), channel="web")
    if quantity:
        services.add_to_cart(cart=cart, variant=variant, quantity=quantity, channel="web")
    if idle_minutes:
        Cart.objects.filter(pk=cart.pk).update(
            updated_at=timezone.now() - timedelta(minutes=idle_minutes)
        )
    return cart


def status_of(cart: Cart) -> str:
    return Cart.objects.values_list("status", flat=True).get(pk=cart.pk)


@contextmanager
def signals_received():
    received = []

    def receiver(sender, **kwargs):
        received.append((sender, kwargs))

    cart_abandoned.connect(receiver)
    try:
        yield received
    finally:
        cart_abandoned.disconnect(receiver)


# --- The sweep ----------------------------------------------------------------------------------


def test_the_sweep_marks_only_idle_open_carts_with_lines_and_announces_them_once(
    shop, django_capture_on_commit_callbacks
):
    idle = cart_with(shop.shirt, email="idle@example.com", idle_minutes=90)
    busy = cart_with(shop.shirt, email="busy@example.com", idle_minutes=30)
    empty = cart_with(shop.shirt, 0, email="empty@example.com", idle_minutes=90)
    done = cart_with(shop.shirt, email="done@example.com")
    services.place_order(cart=done, fulfilment="pickup", location=shop.madrid)
    Cart.objects.filter(pk=done.pk).update(updated_at=timezone.now() - timedelta(days=1))

    with signals_received() as received:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            ids = services.mark_abandoned_carts(idle_minutes=60)
        assert received == []  # not before commit
        for callback in callbacks:
            callback()

        assert ids == [idle.pk]
        assert received == [(Cart, {"signal": cart_abandoned, "cart_ids": [idle.pk]})]
        assert status_of(idle) == CartStatus.ABANDONED
        assert (status_of(busy), status_of(empty), status_of(done)) == (
            CartStatus.OPEN,
            CartStatus.OPEN,
            CartStatus.CHECKED_OUT,
        )

        # Idempotent: a second run finds nothing and announces nothing.
        with django_capture_on_commit_callbacks(execute=True):
            assert services.mark_abandoned_carts(idle_minutes=60) == []
        assert len(received) == 1


def test_a_backlog_is_written_a_chunk_at_a_time(shop, monkeypatch):
    monkeypatch.setattr(carts, "ABANDON_CHUNK", 2)
    idle = [cart_with(shop.shirt, email=f"c{i}@example.com", idle_minutes=90) for i in range(5)]

    assert services.mark_abandoned_carts(idle_minutes=60) == sorted(c.pk for c in idle)
    assert {status_of(c) for c in idle} == {CartStatus.ABANDONED}


def test_the_sweep_counts_from_now_and_keeps_the_last_activity(shop):
    cart = cart_with(shop.shirt, idle_minutes=30)
    stamped = Cart.objects.get(pk=cart.pk).updated_at

    assert services.mark_abandoned_carts(idle_minutes=60) == []
    later = timezone.now() + timedelta(minutes=31)
    assert services.mark_abandoned_carts(idle_minutes=60, now=later) == [cart.pk]
    assert Cart.objects.get(pk=cart.pk).updated_at == stamped  # still the shopper's last change


def test_the_sweep_skips_carts_of_customers_who_are_no_longer_live(shop):
    cart = cart_with(shop.shirt, idle_minutes=90)
    Customer.objects.filter(pk=cart.customer_id).update(status=CustomerStatus.ERASED)

    assert services.mark_abandoned_carts(idle_minutes=60) == []
    assert status_of(cart) == CartStatus.OPEN


@pytest.mark.parametrize("minutes", [0, -5, 1.5, True, None])
def test_the_sweep_wants_whole_minutes(minutes):
    with pytest.raises(ValueError):
        services.mark_abandoned_carts(idle_minutes=minutes)


def test_changing_a_line_stamps_the_carts_last_activity(shop):
    cart = cart_with(shop.shirt, idle_minutes=90)
    services.set_line_quantity(cart=cart, variant=shop.shirt, quantity=2, channel="web")
    assert services.mark_abandoned_carts(idle_minutes=60) == []

    Cart.objects.filter(pk=cart.pk).update(updated_at=timezone.now() - timedelta(minutes=90))
    services.add_to_cart(cart=cart, variant=shop.shirt, quantity=1, channel="web")
    assert services.mark_abandoned_carts(idle_minutes=60) == []


def test_the_beat_task_reads_the_setting_every_five_minutes(shop, settings):
    entry = settings.CELERY_BEAT_SCHEDULE["orders-abandon-idle-carts"]
    assert entry["task"] == tasks.abandon_idle_carts.name == "orders.tasks.abandon_idle_carts"
    cart = cart_with(shop.shirt, idle_minutes=20)

    settings.CART_ABANDON_MINUTES = 30
    assert tasks.abandon_idle_carts() == 0
    settings.CART_ABANDON_MINUTES = 15
    assert tasks.abandon_idle_carts() == 1
    assert status_of(cart) == CartStatus.ABANDONED
    assert tasks.abandon_idle_carts() == 0  # safe to run twice


# --- The shopper comes back --------------------------------------------------------------------


def test_open_cart_gives_the_abandoned_cart_back(shop):
    cart = cart_with(shop.shirt, idle_minutes=90)
    services.mark_abandoned_carts(idle_minutes=60)

    again = services.open_cart(customer=cart.customer, channel="web")

    assert again.pk == cart.pk and again.status == CartStatus.OPEN
    assert status_of(cart) == CartStatus.OPEN
    assert services.mark_abandoned_carts(idle_minutes=60) == []  # just touched: not idle


def test_open_cart_prefers_the_open_cart_to_an_abandoned_one(shop):
    old = cart_with(shop.shirt, idle_minutes=90)
    services.mark_abandoned_carts(idle_minutes=60)
    new = Cart.objects.create(customer=old.customer, channel="app")

    assert services.open_cart(customer=old.customer, channel="web").pk == new.pk
    assert status_of(old) == CartStatus.ABANDONED
    assert Cart.objects.filter(customer=old.customer, status=CartStatus.OPEN).count() == 1


def test_open_cart_reopens_the_most_recent_abandoned_cart(shop):
    ana = shopper()
    older, newer, oldest = (
        Cart.objects.create(customer=ana, status=CartStatus.ABANDONED) for _ in range(3)
    )
    for cart, hours in ((older, 3), (newer, 2), (oldest, 4)):
        Cart.objects.filter(pk=cart.pk).update(updated_at=timezone.now() - timedelta(hours=hours))

    assert services.open_cart(customer=ana, channel="web").pk == newer.pk
    assert (status_of(older), status_of(oldest)) == (CartStatus.ABANDONED, CartStatus.ABANDONED)


def test_adding_to_an_abandoned_cart_reopens_it(shop):
    cart = cart_with(shop.shirt, idle_minutes=90)
    services.mark_abandoned_carts(idle_minutes=60)
    stale = Cart.objects.get(pk=cart.pk)
    assert stale.status == CartStatus.ABANDONED

    updated = services.add_to_cart(cart=stale, variant=shop.shirt, quantity=1, channel="web")

    assert updated.status == CartStatus.OPEN and status_of(cart) == CartStatus.OPEN
    assert cart.lines.get().quantity == 2


def test_an_abandoned_cart_stays_shut_while_another_cart_is_open(shop):
    cart = cart_with(shop.shirt, idle_minutes=90)
    services.mark_abandoned_carts(idle_minutes=60)
    Cart.objects.create(customer=cart.customer, channel="app")

    with pytest.raises(InvalidCartLine):
        services.set_line_quantity(cart=cart, variant=shop.shirt, quantity=3, channel="web")
    with pytest.raises(InvalidCheckout):
        services.place_order(cart=cart, fulfilment="pickup", location=shop.madrid)
    assert status_of(cart) == CartStatus.ABANDONED
    assert cart.lines.get().quantity == 1 and not Order.objects.exists()


def test_checkout_of_an_abandoned_cart(shop):
    cart = cart_with(shop.shirt, idle_minutes=90)
    services.mark_abandoned_carts(idle_minutes=60)

    order = services.place_order(
        cart=Cart.objects.get(pk=cart.pk), fulfilment="pickup", location=shop.madrid
    )

    assert order.cart_id == cart.pk and order.lines.get().quantity == 1
    assert status_of(cart) == CartStatus.CHECKED_OUT


def test_checkout_of_an_abandoned_cart_on_the_storefront_api(shop):
    api = APIClient()
    token = api.post("/api/v1/carts/", {"anonymous_id": "phone-1"}, format="json").json()["token"]
    added = api.post(
        "/api/v1/carts/current/lines/",
        {"sku": shop.shirt.sku, "quantity": 1},
        format="json",
        HTTP_X_CART_TOKEN=token,
    )
    assert added.status_code == 200
    Cart.objects.filter(token=token).update(updated_at=timezone.now() - timedelta(hours=2))
    assert len(services.mark_abandoned_carts(idle_minutes=60)) == 1

    shown = api.get("/api/v1/carts/current/", HTTP_X_CART_TOKEN=token)
    assert shown.status_code == 200 and shown.json()["lines"][0]["sku"] == shop.shirt.sku
    placed = api.post(
        "/api/v1/checkout/",
        {"fulfilment": "pickup", "location": shop.madrid.code, "email": "ana@example.com"},
        format="json",
        HTTP_X_CART_TOKEN=token,
        HTTP_IDEMPOTENCY_KEY="k-1",
    )

    assert placed.status_code == 201, placed.content
    assert Cart.objects.get(token=token).status == CartStatus.CHECKED_OUT


def test_counter_sale_of_an_abandoned_cart(client, shop):
    clerk = UserFactory(email="c@omni.example", role=roles.STORE_STAFF, locations=[shop.madrid])
    cart = cart_with(shop.shirt, 2, idle_minutes=90)
    services.mark_abandoned_carts(idle_minutes=60)
    client.force_login(clerk)
    counter = f"/admin/orders/order/counter/{cart.customer_id}/"

    page = client.get(counter)
    assert [line.quantity for line in page.context["lines"]] == [2]
    response = client.post(counter, {"action": "finish", "finish-location": shop.madrid.pk})

    assert response.status_code == 302
    order = Order.objects.get(cart=cart)
    assert (order.status, order.location) == (OrderStatus.COMPLETED, shop.madrid)
