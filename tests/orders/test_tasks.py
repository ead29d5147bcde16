"""The pickup housekeeping beat task: expiry, reminders and transfers no order took over."""

from datetime import timedelta

import pytest
from django.utils import timezone

from customers import services as customer_services
from inventory import services as stock
from inventory.models import Reservation
from orders import services, tasks
from orders.models import LineState, OrderStatus

pytestmark = pytest.mark.django_db


def test_beat_runs_the_housekeeping_every_five_minutes(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["orders-pickup-housekeeping"]
    assert entry["task"] == "orders.tasks.pickup_housekeeping"
    assert tasks.pickup_housekeeping.name == entry["task"]


def test_housekeeping_expires_reminds_and_catches_up_on_transfers(shop, outbox):
    shopper = customer_services.identify(identifiers=[("email", "h@example.com")], source="web")
    # An order ready long ago (expires), one whose hold ends in two hours (reminded: its last
    # day, whatever the time of day the suite runs at).
    orders = []
    for _ in range(2):
        cart = services.open_cart(customer=shopper, channel="web")
        services.add_to_cart(cart=cart, variant=shop.shirt, quantity=1, channel="web")
        orders.append(services.place_order(cart=cart, fulfilment="pickup", location=shop.madrid))
    services.mark_ready(order=orders[0], now=timezone.now() - timedelta(days=30))
    services.mark_ready(order=orders[1], now=timezone.now() - timedelta(days=7))
    type(orders[1]).objects.filter(pk=orders[1].pk).update(
        hold_until=timezone.now() + timedelta(hours=2)
    )
    # A pickup order whose transfer arrived while the receiver was down (no on_commit run here).
    cart = services.open_cart(customer=shopper, channel="web")
    services.add_to_cart(cart=cart, variant=shop.jeans, quantity=1, channel="web")
    waiting = services.place_order(cart=cart, fulfilment="pickup", location=shop.madrid)
    transfer = waiting.lines.get().transfer
    stock.ship_transfer(transfer=transfer)
    stock.receive_transfer(transfer=transfer)
    assert Reservation.objects.get(status="active", variant=shop.jeans).owner.startswith(
        "transfer:"
    )
    outbox.clear()

    result = tasks.pickup_housekeeping.delay().get()

    assert result == {"expired": 1, "reminded": 1, "transfers": 1}
    statuses = [
        o.status
        for o in type(orders[0]).objects.filter(pk__in=[o.pk for o in orders]).order_by("pk")
    ]
    assert statuses == [OrderStatus.EXPIRED, OrderStatus.READY]
    waiting.refresh_from_db()
    assert waiting.status == OrderStatus.PLACED
    assert waiting.lines.get().state == LineState.ALLOCATED
    assert Reservation.objects.get(status="active", variant=shop.jeans).owner == waiting.owner
    # A second run finds nothing to do.
    assert tasks.pickup_housekeeping.delay().get() == {"expired": 0, "reminded": 0, "transfers": 0}


def test_reminder_and_expiry_messages_name_the_order_store_and_deadline(shop, outbox):
    from orders import notifications

    shopper = customer_services.identify(
        identifiers=[("email", "m@example.com"), ("phone", "+34611222333")], source="web"
    )
    shopper.preferred_language = "en"  # messages follow the shopper's language
    shopper.save(update_fields=["preferred_language"])
    cart = services.open_cart(customer=shopper, channel="web")
    services.add_to_cart(cart=cart, variant=shop.shirt, quantity=1, channel="web")
    order = services.place_order(cart=cart, fulfilment="pickup", location=shop.madrid)
    services.mark_ready(order=order)
    order.refresh_from_db()

    assert notifications.reminder(order.pk) == 2
    assert notifications.expired(order.pk) == 2
    assert [m.to for m in outbox] == ["m@example.com", "+34611222333"] * 2
    assert all(order.number in m.body and "Tienda Gran Vía" in m.body for m in outbox)
    assert "Last day" in outbox[0].subject and "not collected" in outbox[2].subject
