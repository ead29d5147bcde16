"""seed_demo's orders: promotions with coupons and orders in every state, made through the
services (the stock ledger stays exact), silent towards the made-up shoppers, and a second run
creates nothing."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from inventory.models import Reservation, StockMovement, Transfer, TransferStatus
from omni.models import User
from orders.models import (
    Coupon,
    CouponBatch,
    CouponRedemption,
    Fulfilment,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    PaymentState,
    Promotion,
    PromotionKind,
    Refund,
    Return,
    ReturnCondition,
    ReturnLine,
)
from orders.selectors import pickup_desk

# Transactional: the seeded rows are truncated afterwards instead of rolled back, so the
# thousands of dead rows they would leave do not slow the tests that run after them.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("roles")]

MODELS = (
    Order,
    OrderLine,
    OrderEvent,
    Refund,
    Return,
    ReturnLine,
    Promotion,
    Coupon,
    CouponBatch,
    CouponRedemption,
    Transfer,
    StockMovement,
    Reservation,
)


def _counts():
    return {model.__name__: model.objects.count() for model in MODELS}


def test_seed_demo_orders_in_every_state_once(outbox, django_capture_on_commit_callbacks):
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", stdout=out)

    # Every state, every door.
    assert set(Order.objects.values_list("status", flat=True)) == set(OrderStatus.values)
    assert set(Order.objects.values_list("fulfilment", flat=True)) == set(Fulfilment.values)
    # The orders demo's own (the campaigns demo adds store sales credited to its campaigns).
    own = Order.objects.exclude(idempotency_key__startswith="demo-sale:")
    assert 35 <= own.count() <= 50
    assert Order.objects.values("location").distinct().count() >= 8  # the stores and parcels
    assert Order.objects.values("customer").distinct().count() >= 35
    imported = Order.objects.exclude(external_reference="")
    assert set(imported.values_list("channel", flat=True)) == {"marketplace", "social"}
    assert imported.filter(status=OrderStatus.SHIPPED).exists()
    in_transit = Order.objects.filter(
        status=OrderStatus.AWAITING_TRANSFER, lines__transfer__status=TransferStatus.SHIPPED
    )
    assert in_transit.exists()

    # The pickup desk: an order due within two days, one overdue, two expired.
    now = timezone.now()
    ready = Order.objects.filter(status=OrderStatus.READY)
    assert ready.filter(hold_until__lt=now).exists()
    assert ready.filter(hold_until__gt=now, hold_until__lt=now + timedelta(days=2)).exists()
    assert ready.filter(hold_until__gt=now + timedelta(days=6)).exists()
    assert Order.objects.filter(status=OrderStatus.EXPIRED).count() == 2
    assert Order.objects.filter(
        status=OrderStatus.EXPIRED, payment_state=PaymentState.REFUND_DUE
    ).exists()
    # The demo store staff member finds every queue of the desk filled.
    desk = pickup_desk(User.objects.get(email="tienda@omni.example"))
    assert all(desk[queue].exists() for queue in ("to_pick", "ready", "overdue", "awaiting"))

    # Returns: received resellable and damaged, and one announced by post, not yet received.
    assert set(ReturnLine.objects.values_list("condition", flat=True)) == {
        ReturnCondition.RESELLABLE,
        ReturnCondition.DAMAGED,
        "",
    }
    assert Return.objects.filter(by_post=True, received_at__isnull=True).exists()
    assert Return.objects.filter(refund__isnull=False).count() >= 3

    # Promotions: 10 %, a used single-use 5 € code (others left to try), free shipping, expired.
    kinds = set(Promotion.objects.values_list("kind", flat=True))
    assert kinds == set(PromotionKind.values)
    assert Coupon.objects.get(code="REGALO5-7K2M").used
    assert Coupon.objects.filter(single_use=True, used=False).exists()
    assert Promotion.objects.filter(ends_at__lt=now).exists()
    flyer = CouponBatch.objects.get()  # a printed flyer's batch of codes
    assert flyer.coupons.filter(code__startswith="FLYER-", single_use=True).count() == 200
    assert not Order.objects.filter(coupon__code="VERANO25").exists()
    free = Order.objects.filter(coupon__code="ENVIOGRATIS")
    assert free.filter(subtotal__lt=Decimal(settings.FREE_SHIPPING_FROM), shipping_total=0)
    assert Order.objects.filter(coupon__code="BIENVENIDA10", discount_total__gt=0).count() >= 2

    call_command("check_stock_ledger", stdout=StringIO())
    # The shoppers are made up: nothing was sent to them, and the messaging settings are back.
    assert outbox == []
    assert settings.MESSAGING_BACKENDS["sms"] == "omni.messaging.RecordingBackend"
    assert "new orders" in out.getvalue()

    first = _counts()
    again = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", stdout=again)

    assert _counts() == first
    assert "orders exist (unchanged)" in again.getvalue()
    call_command("check_stock_ledger", stdout=StringIO())
