"""Click-and-collect end to end: a cart started anonymously on a phone, continued signed in on a
laptop, picked up at a store that lacks stock (transfer), ready, collected."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from customers import services as customer_services
from customers.models import Event
from inventory import services as stock
from inventory.models import MovementKind, Reservation, StockLevel, StockMovement, TransferStatus
from orders import services
from orders.exceptions import (
    InvalidOrderState,
    TooManyAttempts,
    WrongPickupCode,
)
from orders.models import CartStatus, LineState, OrderStatus, PaymentState

pytestmark = pytest.mark.django_db


def _level(variant, location):
    return StockLevel.objects.get(variant=variant, location=location)


def test_anonymous_cart_to_collected_order_through_a_transfer(
    shop, outbox, django_capture_on_commit_callbacks
):
    # Phone, anonymous: one pair of jeans (only the warehouse has them) and a shirt.
    phone_cart = services.cart_for_device(anonymous_id="phone-1", channel="app")
    services.add_to_cart(cart=phone_cart, variant=shop.jeans, quantity=1, channel="app")
    services.add_to_cart(cart=phone_cart, variant=shop.shirt, quantity=2, channel="app")
    # Laptop, signed in: the phone's cart joins the shopper's.
    shopper = customer_services.identify(
        identifiers=[("email", "ana@example.com"), ("phone", "+34600111222")], source="web"
    )
    cart = services.claim_cart(cart=phone_cart, customer=shopper, channel="web")
    assert cart.lines.count() == 2

    with django_capture_on_commit_callbacks(execute=True):
        order = services.place_order(
            cart=cart, fulfilment="pickup", location=shop.madrid, pay_at_pickup=True
        )
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_TRANSFER
    assert order.promised_on is not None
    assert order.payment_state == PaymentState.PAY_AT_PICKUP
    assert order.total == Decimal("19.99") * 2 + Decimal("49.90")
    cart.refresh_from_db()
    assert cart.status == CartStatus.CHECKED_OUT
    jeans_line = order.lines.get(variant=shop.jeans)
    assert jeans_line.state == LineState.IN_TRANSFER
    transfer = jeans_line.transfer
    assert (transfer.source, transfer.destination) == (shop.warehouse, shop.madrid)
    # Held at the warehouse by the transfer, at the store by the order: nobody else can take them.
    assert _level(shop.jeans, shop.warehouse).reserved == 1
    assert _level(shop.shirt, shop.madrid).reserved == 2

    with pytest.raises(InvalidOrderState):
        services.mark_ready(order=order)  # the jeans are not there yet

    stock.ship_transfer(transfer=transfer)
    assert _level(shop.jeans, shop.warehouse).reserved == 0
    assert _level(shop.jeans, shop.warehouse).on_hand == 9
    with django_capture_on_commit_callbacks(execute=True):
        stock.receive_transfer(transfer=transfer)
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.RECEIVED
    order.refresh_from_db()
    assert order.status == OrderStatus.PLACED  # to pick
    assert Reservation.objects.get(variant=shop.jeans, status="active").owner == order.owner
    assert _level(shop.jeans, shop.madrid).reserved == 1

    with django_capture_on_commit_callbacks(execute=True):
        code = services.mark_ready(order=order)
    order.refresh_from_db()
    assert order.status == OrderStatus.READY
    channels = sorted(m.channel for m in outbox)
    assert channels == ["email", "sms"]
    message = next(m for m in outbox if m.channel == "email")
    assert message.to == "ana@example.com"
    assert code in message.body and "Tienda Gran Vía" in message.body and "10:00" in message.body

    with pytest.raises(WrongPickupCode):
        services.collect(order=order, code="000000" if code != "000000" else "111111")
    with django_capture_on_commit_callbacks(execute=True):
        services.collect(order=order, code=code)
    order.refresh_from_db()
    assert order.status == OrderStatus.COLLECTED
    assert order.payment_state == PaymentState.PAID

    # Ledger: the sale came out of Madrid's on_hand; nothing is held any more.
    assert _level(shop.jeans, shop.madrid).on_hand == 0
    assert _level(shop.shirt, shop.madrid).on_hand == 3
    assert not Reservation.objects.filter(status="active").exists()
    sales = StockMovement.objects.filter(kind=MovementKind.SALE, reference=f"order:{order.number}")
    assert sorted(sales.values_list("delta", flat=True)) == [-2, -1]
    call_command("check_stock_ledger")
    # Timeline: cart changes, the order and the pickup, on the one profile.
    types = list(Event.objects.filter(customer=shopper).values_list("type", flat=True))
    assert {"cart_updated", "order_placed", "pickup_collected"} <= set(types)
    history = list(order.history.values_list("status", flat=True))
    assert history == ["placed", "awaiting_transfer", "placed", "ready", "collected"]


def test_pickup_code_guessing_is_throttled(shop, outbox):
    order = _ready_order(shop)
    for _ in range(5):
        with pytest.raises(WrongPickupCode):
            services.collect(order=order, code="999999x")
    with pytest.raises(TooManyAttempts):
        services.collect(order=order, code="123456")
    order.refresh_from_db()
    assert order.status == OrderStatus.READY
    # The shopper's identity checked by staff still lets the order go.
    services.collect(order=order, identity_checked=True)
    order.refresh_from_db()
    assert order.status == OrderStatus.COLLECTED


def _ready_order(shop, location=None, now=None):
    shopper = customer_services.identify(identifiers=[("email", "b@example.com")], source="web")
    cart = services.open_cart(customer=shopper, channel="web")
    location = location or shop.madrid
    if location != shop.madrid:
        stock.receive_stock(variant=shop.shirt, location=location, quantity=3)
    services.add_to_cart(cart=cart, variant=shop.shirt, quantity=1, channel="web")
    order = services.place_order(cart=cart, fulfilment="pickup", location=location)
    services.mark_ready(order=order, now=now)
    order.refresh_from_db()
    return order


def test_uncollected_order_expires_at_midnight_in_the_stores_time_zone(shop, outbox):
    tz = ZoneInfo("Atlantic/Canary")
    ready = datetime(2026, 11, 2, 12, 0, tzinfo=tz)  # a Monday
    order = _ready_order(shop, location=shop.canarias, now=ready)
    shop.canarias.refresh_from_db()
    # Held 7 days: through Monday the 9th, local time; expires at 00:00 on the 10th in Las Palmas
    # (which is 01:00 in Madrid).
    assert order.hold_until == datetime(2026, 11, 10, 0, 0, tzinfo=tz)
    sellable_before = _level(shop.shirt, shop.canarias).reserved
    assert sellable_before == 1

    # The reminder: on the last day, from 10:00 in Las Palmas (not at midnight), once.
    assert services.remind_uncollected(now=datetime(2026, 11, 9, 0, 5, tzinfo=tz)) == 0
    assert services.remind_uncollected(now=datetime(2026, 11, 9, 9, 59, tzinfo=tz)) == 0
    assert services.remind_uncollected(now=datetime(2026, 11, 9, 10, 0, tzinfo=tz)) == 1
    assert services.remind_uncollected(now=datetime(2026, 11, 9, 11, 0, tzinfo=tz)) == 0

    just_before = datetime(2026, 11, 9, 23, 59, 59, tzinfo=tz)
    assert services.expire_uncollected(now=just_before) == 0
    madrid_midnight = datetime(2026, 11, 10, 0, 0, tzinfo=ZoneInfo("Europe/Madrid"))
    assert services.expire_uncollected(now=madrid_midnight) == 0  # still the 9th in Las Palmas
    assert services.expire_uncollected(now=order.hold_until) == 1
    assert services.expire_uncollected(now=order.hold_until + timedelta(hours=1)) == 0

    order.refresh_from_db()
    assert order.status == OrderStatus.EXPIRED
    assert order.payment_state == PaymentState.REFUND_DUE
    assert _level(shop.shirt, shop.canarias).reserved == 0  # sellable again
    assert set(order.lines.values_list("state", flat=True)) == {"released"}
    assert order.history.filter(status="expired").count() == 1


def test_cancel_before_ready_releases_stock_and_the_transfer(shop):
    shopper = customer_services.identify(identifiers=[("email", "c@example.com")], source="web")
    cart = services.open_cart(customer=shopper, channel="web")
    services.add_to_cart(cart=cart, variant=shop.jeans, quantity=2, channel="web")
    order = services.place_order(cart=cart, fulfilment="pickup", location=shop.madrid)
    transfer = order.lines.get().transfer
    services.cancel_order(order=order, by_shopper=True)
    order.refresh_from_db()
    transfer.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.payment_state == PaymentState.REFUNDED
    assert order.refunds.get().amount == order.total
    assert transfer.status == TransferStatus.CANCELLED
    assert _level(shop.jeans, shop.warehouse).reserved == 0
    with pytest.raises(InvalidOrderState):
        services.cancel_order(order=order, by_shopper=True)


def test_shopper_cannot_cancel_once_ready(shop, outbox):
    order = _ready_order(shop)
    with pytest.raises(InvalidOrderState):
        services.cancel_order(order=order, by_shopper=True)
    services.cancel_order(order=order)  # staff can
    assert _level(shop.shirt, shop.madrid).reserved == 0


def test_short_pick_refund_and_reallocate(shop, outbox):
    shopper = customer_services.identify(identifiers=[("email", "d@example.com")], source="web")
    cart = services.open_cart(customer=shopper, channel="web")
    services.add_to_cart(cart=cart, variant=shop.shirt, quantity=5, channel="web")
    order = services.place_order(cart=cart, fulfilment="pickup", location=shop.madrid)
    line = order.lines.get()
    # One shirt is damaged: it is written off and comes again from the warehouse.
    services.short_pick(order=order, line=line, missing=1, resolution="reallocate")
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_TRANSFER
    states = sorted(order.lines.values_list("state", "quantity"))
    assert states == [("allocated", 4), ("in_transfer", 1)]
    assert _level(shop.shirt, shop.madrid).on_hand == 4  # 5 − 1 written off
    assert _level(shop.shirt, shop.madrid).reserved == 4
    assert _level(shop.shirt, shop.warehouse).reserved == 1
    call_command("check_stock_ledger")

    other = services.open_cart(
        customer=customer_services.identify(identifiers=[("email", "e@x.com")], source="web"),
        channel="web",
    )
    stock.receive_stock(variant=shop.jeans, location=shop.madrid, quantity=1)
    services.add_to_cart(cart=other, variant=shop.jeans, quantity=1, channel="web")
    paid = services.place_order(cart=other, fulfilment="pickup", location=shop.madrid)
    services.short_pick(order=paid, line=paid.lines.get(), missing=1, resolution="refund")
    paid.refresh_from_db()
    assert paid.status == OrderStatus.CANCELLED  # nothing left to collect
    assert paid.payment_state == PaymentState.REFUNDED


def test_a_transfer_arriving_short_splits_the_line_and_staff_refund_the_rest(
    shop, django_capture_on_commit_callbacks
):
    shopper = customer_services.identify(identifiers=[("email", "t@example.com")], source="web")
    cart = services.open_cart(customer=shopper, channel="web")
    services.add_to_cart(cart=cart, variant=shop.jeans, quantity=3, channel="web")
    order = services.place_order(cart=cart, fulfilment="pickup", location=shop.madrid)
    transfer = order.lines.get().transfer
    stock.ship_transfer(transfer=transfer)
    with django_capture_on_commit_callbacks(execute=True):
        stock.receive_transfer(transfer=transfer, received={shop.jeans.pk: 2})
    order.refresh_from_db()
    assert order.status == OrderStatus.PLACED
    parts = sorted(order.lines.values_list("state", "quantity"))
    assert parts == [("allocated", 2), ("short", 1)]
    assert sum(order.lines.values_list("total", flat=True)) == order.total
    with pytest.raises(InvalidOrderState):
        services.mark_ready(order=order)  # the short line must be settled first

    short = order.lines.get(state="short")
    services.short_pick(order=order, line=short, missing=1, resolution="refund")
    order.refresh_from_db()
    assert order.refunded_total == short.total
    assert _level(shop.jeans, shop.madrid).reserved == 2
    services.mark_ready(order=order)
    call_command("check_stock_ledger")


def _order(shop, *lines, email="f@example.com", location=None):
    shopper = customer_services.identify(identifiers=[("email", email)], source="web")
    cart = services.open_cart(customer=shopper, channel="web")
    for variant, quantity in lines:
        services.add_to_cart(cart=cart, variant=variant, quantity=quantity, channel="web")
    return services.place_order(cart=cart, fulfilment="pickup", location=location or shop.madrid)


def test_units_delivered_beyond_what_was_sent_are_free_stock(
    shop, outbox, django_capture_on_commit_callbacks
):
    order = _order(shop, (shop.jeans, 1))
    transfer = order.lines.get().transfer
    stock.ship_transfer(transfer=transfer)
    with django_capture_on_commit_callbacks(execute=True):
        stock.receive_transfer(transfer=transfer, received={shop.jeans.pk: 3})
    level = _level(shop.jeans, shop.madrid)
    assert (level.on_hand, level.reserved) == (3, 1)
    code = services.mark_ready(order=order)
    services.collect(order=order, code=code)
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (2, 0)  # one sold, two on the shelf
    call_command("check_stock_ledger")


def test_cancelling_a_split_order_gives_back_every_hold(shop):
    order = _order(shop, (shop.shirt, 7))  # 5 at Madrid, 2 by transfer from the warehouse
    services.cancel_order(order=order)
    assert not Reservation.objects.filter(status="active").exists()
    assert _level(shop.shirt, shop.madrid).reserved == 0
    assert _level(shop.shirt, shop.warehouse).reserved == 0
    transfer = order.lines.exclude(transfer=None).first().transfer
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.CANCELLED


def test_cancel_after_an_arrival_no_order_took_over_releases_the_units(shop):
    order = _order(shop, (shop.jeans, 1))
    transfer = order.lines.get().transfer
    stock.ship_transfer(transfer=transfer)
    stock.receive_transfer(transfer=transfer)  # the receiver never ran (no commit here)
    assert _level(shop.jeans, shop.madrid).reserved == 1
    services.cancel_order(order=order)
    assert _level(shop.jeans, shop.madrid).reserved == 0
    assert services.retake_received_transfers() == 0


def test_short_pick_replaced_from_the_shelf_can_be_made_ready(shop, outbox):
    order = _order(shop, (shop.shirt, 2))
    line = order.lines.get()
    services.short_pick(order=order, line=line, missing=1, resolution="reallocate")
    assert sorted(order.lines.values_list("state", "quantity")) == [
        ("allocated", 1),
        ("allocated", 1),
    ]
    assert _level(shop.shirt, shop.madrid).reserved == 2
    services.mark_ready(order=order)


def test_refund_due_after_expiry_is_settled_once(shop, outbox):
    order = _ready_order(shop, now=datetime(2026, 1, 5, 12, 0, tzinfo=ZoneInfo("Europe/Madrid")))
    services.expire_uncollected()
    order.refresh_from_db()
    assert order.payment_state == PaymentState.REFUND_DUE
    services.settle_refund(order=order)
    order.refresh_from_db()
    assert order.payment_state == PaymentState.REFUNDED
    assert order.refunded_total == order.total
    with pytest.raises(InvalidOrderState):
        services.settle_refund(order=order)


def test_pay_at_pickup_short_refund_keeps_the_totals_consistent(shop):
    shopper = customer_services.identify(identifiers=[("email", "p@example.com")], source="web")
    cart = services.open_cart(customer=shopper, channel="web")
    stock.receive_stock(variant=shop.jeans, location=shop.madrid, quantity=1)
    services.add_to_cart(cart=cart, variant=shop.shirt, quantity=1, channel="web")
    services.add_to_cart(cart=cart, variant=shop.jeans, quantity=1, channel="web")
    order = services.place_order(
        cart=cart, fulfilment="pickup", location=shop.madrid, pay_at_pickup=True
    )
    jeans = order.lines.get(variant=shop.jeans)
    services.short_pick(order=order, line=jeans, missing=1, resolution="refund")
    order.refresh_from_db()
    shirt = order.lines.get(variant=shop.shirt)
    assert (order.subtotal, order.total, order.tax_total) == (
        shirt.unit_price,
        shirt.total,
        shirt.tax,
    )


def test_the_promised_day_is_what_the_pickup_finder_showed(shop):
    from inventory.selectors import pickup_options

    # Madrid is closed on Sundays: a transfer arriving on a Sunday is ready on Monday.
    shop.madrid.opening_hours = {
        d: [["10:00", "21:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat")
    }
    shop.madrid.save()
    shown = {
        o.code: o for o in pickup_options(latitude=40.42, longitude=-3.70, lines={shop.jeans.pk: 1})
    }["mad"]
    order = _order(shop, (shop.jeans, 1))
    assert shown.via_transfer
    assert order.promised_on == shown.ready_on
    assert order.promised_on.weekday() != 6
