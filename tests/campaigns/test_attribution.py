"""Attribution: an order in any channel is credited to the messages before it in the window
(last touch, first touch, linear), a redeemed personal coupon credits its message whatever the
time, the holdout's orders are recorded for uplift and credited nothing, and running it twice
changes nothing."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from campaigns.models import Conversion, Delivery, DeliveryStatus
from campaigns.services.attribution import attribute_order
from customers.models import Channel, Event
from orders.models import Coupon, Fulfilment, Order, OrderStatus, Promotion, PromotionKind
from tests.campaigns.pipeline import campaign, shopper
from tests.factories import LocationFactory

pytestmark = pytest.mark.django_db
T = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _window(settings):
    settings.ATTRIBUTION_WINDOW = timedelta(days=7)


def delivery(made, customer, *, sent=None, clicked=None, status="sent", reason="", code=""):
    return Delivery.objects.create(
        campaign=made,
        customer=customer,
        channel="email",
        status=status,
        reason=reason,
        sent_at=sent,
        clicked_at=clicked,
        coupon_code=code,
        created_at=sent or T - timedelta(days=1),
    )


def order(customer, *, at=T, channel=Channel.STORE, total="80.00", coupon=None):
    store = LocationFactory()
    made = Order.objects.create(
        customer=customer,
        channel=channel,
        fulfilment=Fulfilment.COUNTER,
        location=store,
        status=OrderStatus.COMPLETED,
        coupon=coupon,
        subtotal=Decimal(total),
        discount_total=Decimal("0"),
        shipping_total=Decimal("0"),
        tax_total=Decimal("0"),
        total=Decimal(total),
    )
    Order.objects.filter(pk=made.pk).update(created_at=at)
    return made


def credits(order_):
    rows = Conversion.objects.filter(order=order_).order_by("touched_at")
    return [(r.campaign_id, r.touch, r.credit_last, r.credit_first, r.credit_linear) for r in rows]


def test_last_first_and_linear_credit_over_the_touches_in_the_window():
    ana = shopper()
    spring, sale, old = campaign(), campaign(), campaign()
    delivery(old, ana, sent=T - timedelta(days=9))  # outside the window
    delivery(spring, ana, sent=T - timedelta(days=3))
    delivery(sale, ana, sent=T - timedelta(days=1), clicked=T - timedelta(hours=20))
    placed = order(ana)
    assert attribute_order(order_id=placed.pk) == ana.pk
    one, zero, half = Decimal(1), Decimal(0), Decimal("0.5")
    assert credits(placed) == [
        (spring.pk, "message", zero, one, half),
        (sale.pk, "click", one, zero, half),
    ]
    row = Conversion.objects.get(campaign=sale)
    assert (row.revenue, row.order_channel, row.store_id) == (
        Decimal("80.00"),
        "store",
        placed.location_id,
    )
    assert set(
        Delivery.objects.filter(campaign__in=[spring, sale]).values_list("status", flat=True)
    ) == {DeliveryStatus.CONVERTED}
    events = Event.objects.filter(customer=ana, type="campaign_conversion")
    assert sorted(e.properties["campaign_id"] for e in events) == sorted([spring.pk, sale.pk])


def test_a_redeemed_personal_coupon_is_credited_whatever_the_time_and_wins_last_touch():
    ana = shopper()
    promo = Promotion.objects.create(name="10 %", kind=PromotionKind.PERCENTAGE, value=10)
    coupon = Coupon.objects.create(promotion=promo, code="CART-ANA1", single_use=True, customer=ana)
    cart_mail, newsletter = campaign(), campaign()
    delivery(cart_mail, ana, sent=T - timedelta(days=20), code="CART-ANA1")
    delivery(newsletter, ana, sent=T - timedelta(days=1))
    placed = order(ana, coupon=coupon)
    attribute_order(order_id=placed.pk)
    rows = {r.campaign_id: r for r in Conversion.objects.filter(order=placed)}
    assert rows[cart_mail.pk].touch == "coupon" and rows[cart_mail.pk].credit_last == 1
    assert rows[newsletter.pk].credit_last == 0 and rows[newsletter.pk].credit_first == 1


def test_the_holdout_and_the_unreached_are_recorded_with_no_credit():
    ana, bea = shopper(), shopper()
    made = campaign(holdout=10)
    delivery(made, ana, status="suppressed", reason="holdout")
    delivery(made, bea, status="suppressed", reason="no_consent")
    for person in (ana, bea):
        placed = order(person)
        attribute_order(order_id=placed.pk)
    rows = Conversion.objects.order_by("customer_id")
    assert [(r.touch, r.credit_last, r.credit_linear) for r in rows] == [
        ("holdout", 0, 0),
        ("assigned", 0, 0),
    ]
    assert not Event.objects.filter(type="campaign_conversion").exists()
    assert set(Delivery.objects.values_list("status", flat=True)) == {"suppressed"}


def test_a_message_sent_after_the_order_is_not_credited():
    ana = shopper()
    made = campaign()
    delivery(made, ana, sent=T + timedelta(hours=1))
    placed = order(ana)
    attribute_order(order_id=placed.pk)
    assert not Conversion.objects.exists()


def test_attributing_twice_changes_nothing_and_linear_shares_add_up_to_one():
    ana = shopper()
    for days in (1, 2, 3):
        delivery(campaign(), ana, sent=T - timedelta(days=days))
    placed = order(ana)
    attribute_order(order_id=placed.pk)
    attribute_order(order_id=placed.pk)
    rows = Conversion.objects.filter(order=placed)
    assert rows.count() == 3
    assert sum(r.credit_linear for r in rows) == 1
    assert sum(r.credit_last for r in rows) == 1 == sum(r.credit_first for r in rows)
    assert Event.objects.filter(type="campaign_conversion").count() == 6 // 2


def test_an_order_that_does_not_exist_is_ignored():
    assert attribute_order(order_id=999_999) is None
