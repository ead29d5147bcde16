"""Journeys: entries made on an event, swept when due, exits checked before every step, one
delivery per (entry, step), waits for a follow-up event with a timeout, holdout never sent."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from campaigns import sending
from campaigns.models import Delivery, JourneyEntry, JourneyStep, StepKind
from campaigns.services import builtin_journeys, journeys
from customers.models import Channel
from inventory.services import receive_stock
from orders.models import Cart, CartLine, CartStatus, Fulfilment, Order, OrderLine, OrderStatus
from tests.campaigns.pipeline import shopper
from tests.factories import LocationFactory, VariantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]
NOON = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)  # 12:00 in Madrid


@pytest.fixture(autouse=True)
def _daytime(settings):
    settings.CAMPAIGN_QUIET_HOURS = ("21:00", "09:00")
    settings.CAMPAIGN_CONTACT_BUDGET = (5, timedelta(days=7))


@pytest.fixture
def journey():
    made = builtin_journeys.abandoned_cart_journey()
    made.campaign.holdout_percent = 0
    made.campaign.save(update_fields=["holdout_percent"])
    return builtin_journeys.switch(journey=made, on=True)


@pytest.fixture
def store():
    return LocationFactory(code="mad-sol", name="Omni Sol")


def abandoned_cart(customer, *variants):
    cart = Cart.objects.create(customer=customer, status=CartStatus.ABANDONED)
    for variant in variants:
        CartLine.objects.create(cart=cart, variant=variant, quantity=1)
    return cart


def enter(journey, cart, now=NOON):
    return journeys.enter(journey=journey, entities=[(cart.customer_id, "cart", cart.pk)], now=now)


def order_with(customer, variant, *, at, channel=Channel.STORE, cart=None):
    order = Order.objects.create(
        customer=customer,
        cart=cart,
        channel=channel,
        fulfilment=Fulfilment.COUNTER,
        location=(store := LocationFactory()),
        status=OrderStatus.COMPLETED,
        subtotal=Decimal("19.99"),
        discount_total=Decimal("0"),
        shipping_total=Decimal("0"),
        tax_total=Decimal("3.47"),
        total=Decimal("19.99"),
    )
    Order.objects.filter(pk=order.pk).update(created_at=at)
    OrderLine.objects.create(
        order=order,
        variant=variant,
        sku=variant.sku,
        name="x",
        location=store,
        quantity=1,
        unit_price=variant.price,
        tax_rate=Decimal("21"),
        tax=Decimal("3.47"),
        total=variant.price,
    )
    return order


def test_an_abandoned_cart_gets_an_email_with_its_items_in_stock_at_the_store(
    journey, store, outbox
):
    ana = shopper(first_name="Ana", preferred_language="en", home_store=store.code)
    boot = VariantFactory(product__name="Trail boot")
    receive_stock(variant=boot, location=store, quantity=3)
    cart = abandoned_cart(ana, boot)
    assert enter(journey, cart) == 1
    result = journeys.advance_due(now=NOON)
    assert (result.advanced, result.messages) == (1, 1)
    entry = JourneyEntry.objects.get()
    assert (entry.position, entry.waiting_event, entry.state) == (1, "opened", "active")
    assert entry.next_at == NOON + timedelta(hours=24)
    sending.send_batch(campaign_id=journey.campaign_id, now=NOON)
    (message,) = outbox
    assert message.subject == "You left something in your cart"
    assert "Trail boot" in message.html and "Omni Sol" in message.html
    delivery = Delivery.objects.get(entry=entry)
    assert (delivery.step, delivery.status, delivery.channel) == (0, "sent", "email")


def test_not_opened_in_time_the_reminder_goes_by_sms_opened_no_reminder(journey, store):
    unopened = shopper(consents=("email", "sms"), addresses=("email", "sms"))
    opened = shopper(consents=("email", "sms"), addresses=("email", "sms"))
    boot = VariantFactory()
    carts = [abandoned_cart(unopened, boot), abandoned_cart(opened, boot)]
    for cart in carts:
        enter(journey, cart)
    journeys.advance_due(now=NOON)
    sending.send_batch(campaign_id=journey.campaign_id, now=NOON)
    from campaigns.engagement import record_open

    record_open(delivery_id=Delivery.objects.get(customer=opened).pk)
    woken = JourneyEntry.objects.get(customer=opened)
    assert woken.event_at is not None and woken.next_at <= datetime.now(UTC)
    later = datetime.now(UTC) + timedelta(minutes=1)  # the open woke it at the real time
    journeys.advance_due(now=later)
    sms = Delivery.objects.filter(channel="sms")
    assert [(d.customer_id, d.step) for d in sms] == [(unopened.pk, 2)]
    states = dict(JourneyEntry.objects.values_list("customer_id", "state"))
    assert states == {unopened.pk: "completed", opened.pk: "completed"}


def test_an_order_with_the_carts_items_in_any_channel_exits_and_withdraws_what_is_queued(
    journey,
):
    ana = shopper()
    boot = VariantFactory()
    cart = abandoned_cart(ana, boot)
    enter(journey, cart)
    journeys.advance_due(now=NOON)  # the e-mail is queued, not yet sent
    order_with(ana, boot, at=NOON + timedelta(minutes=5))  # bought it at the counter
    assert journeys.exit_for_orders(customer_id=ana.pk) == 1
    entry = JourneyEntry.objects.get()
    assert (entry.state, entry.exit_reason) == ("exited", "ordered")
    delivery = Delivery.objects.get(entry=entry)
    assert (delivery.status, delivery.reason) == ("suppressed", "exited")


def test_exit_conditions_are_checked_before_every_step(journey):
    ana = shopper(consents=("email", "sms"), addresses=("email", "sms"))
    boot = VariantFactory()
    cart = abandoned_cart(ana, boot)
    enter(journey, cart)
    journeys.advance_due(now=NOON)
    order_with(ana, boot, at=NOON + timedelta(hours=2), cart=cart)  # from that very cart
    journeys.advance_due(now=NOON + timedelta(hours=25))
    assert not Delivery.objects.filter(channel="sms").exists()
    assert JourneyEntry.objects.get().exit_reason == "ordered"


def test_an_older_order_or_another_product_does_not_exit(journey):
    ana = shopper()
    boot, shirt = VariantFactory(), VariantFactory()
    order_with(ana, boot, at=NOON - timedelta(days=3))  # before the cart was abandoned
    order_with(ana, shirt, at=NOON + timedelta(minutes=1))  # another product
    enter(journey, abandoned_cart(ana, boot))
    journeys.advance_due(now=NOON + timedelta(minutes=2))
    assert JourneyEntry.objects.get().state == "active"


def test_one_entry_per_customer_and_cart_and_a_repeated_sweep_sends_nothing_twice(journey):
    ana = shopper()
    cart = abandoned_cart(ana, VariantFactory())
    assert enter(journey, cart) == 1
    assert enter(journey, cart, now=NOON + timedelta(minutes=1)) == 0
    journeys.advance_due(now=NOON)
    JourneyEntry.objects.update(position=0, next_at=NOON, waiting_event="")  # a crashed sweep
    journeys.advance_due(now=NOON)
    assert Delivery.objects.filter(entry__isnull=False).count() == 1
    another = abandoned_cart(ana, VariantFactory())
    Cart.objects.filter(pk=cart.pk).update(status=CartStatus.CHECKED_OUT)
    assert enter(journey, another) == 1  # a new cart: a new entry, its own e-mail
    journeys.advance_due(now=NOON)
    assert Delivery.objects.filter(customer=ana).count() == 2


def test_the_holdout_is_entered_and_logged_never_sent(journey, outbox):
    journey.campaign.holdout_percent = 50
    journey.campaign.save(update_fields=["holdout_percent"])
    people = [shopper() for _ in range(40)]
    for person in people:
        enter(journey, abandoned_cart(person, VariantFactory()))
    journeys.advance_due(now=NOON)
    sending.send_batch(campaign_id=journey.campaign_id, now=NOON)
    held = set(JourneyEntry.objects.filter(holdout=True).values_list("customer_id", flat=True))
    assert 5 < len(held) < 35
    rows = Delivery.objects.filter(customer_id__in=held)
    assert {(d.status, d.reason) for d in rows} == {("suppressed", "holdout")}
    assert len(outbox) == len(people) - len(held)


def test_switched_off_entries_leave_at_their_next_step(journey):
    enter(journey, abandoned_cart(shopper(), VariantFactory()))
    builtin_journeys.switch(journey=journey, on=False)
    journeys.advance_due(now=NOON)
    entry = JourneyEntry.objects.get()
    assert (entry.state, entry.exit_reason) == ("exited", "switched_off")
    assert not Delivery.objects.exists()
    journey.campaign.refresh_from_db()
    assert journey.campaign.status == "paused"


def test_no_consent_is_logged_not_sent(journey, outbox):
    quiet = shopper(consents=())
    enter(journey, abandoned_cart(quiet, VariantFactory()))
    journeys.advance_due(now=NOON)
    sending.send_batch(campaign_id=journey.campaign_id, now=NOON)
    assert outbox == []
    assert Delivery.objects.get().reason == "no_consent"


def test_a_wait_until_a_local_time_of_day_uses_the_stores_zone():
    step = JourneyStep(kind=StepKind.WAIT, wait_minutes=60, wait_until_time=time(10, 0))
    madrid = ZoneInfo("Europe/Madrid")
    evening = datetime(2026, 3, 10, 20, 30, tzinfo=UTC)  # 21:30 in Madrid
    assert journeys.wait_until(step, evening, madrid) == datetime(2026, 3, 11, 9, 0, tzinfo=UTC)
    morning = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)  # 07:00 → 08:00, then 10:00 local
    assert journeys.wait_until(step, morning, madrid) == datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    step.wait_until_time = None
    assert journeys.wait_until(step, morning, madrid) == morning + timedelta(minutes=60)


def test_a_step_may_only_jump_forward():
    from django.core.exceptions import ValidationError

    step = JourneyStep(position=2, kind=StepKind.BRANCH, condition="opened", goto=1)
    with pytest.raises(ValidationError) as error:
        step.clean()
    assert "goto" in error.value.message_dict


def test_the_sweep_reads_only_due_entries_in_a_fixed_number_of_queries(journey):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def sweep(n, at):
        for _ in range(n):
            enter(journey, abandoned_cart(shopper(), VariantFactory()), now=at)
        with CaptureQueriesContext(connection) as queries:
            result = journeys.advance_due(now=at)
        return result.advanced, len(queries)

    later = NOON + timedelta(hours=1)
    enter(journey, abandoned_cart(shopper(), VariantFactory()), now=later + timedelta(days=1))
    few, many = sweep(5, NOON), sweep(40, later)
    assert (few[0], many[0]) == (5, 40)  # the one due tomorrow is not read
    assert few[1] == many[1] <= 16


def test_the_holdouts_personal_code_is_issued_and_logged_never_sent(journey, outbox):
    from orders.models import Coupon, Promotion, PromotionKind

    promo = Promotion.objects.create(name="Cart 10 %", kind=PromotionKind.PERCENTAGE, value=10)
    campaign = journey.campaign
    campaign.promotion, campaign.holdout_percent = promo, 50
    campaign.save(update_fields=["promotion", "holdout_percent"])
    people = [shopper() for _ in range(30)]
    for person in people:
        enter(journey, abandoned_cart(person, VariantFactory()))
    journeys.advance_due(now=NOON)
    sending.send_batch(campaign_id=journey.campaign_id, now=NOON)
    held = Delivery.objects.filter(reason="holdout")
    assert held.exists() and all(d.coupon_code for d in held)
    for row in Delivery.objects.all():
        coupon = Coupon.objects.get(code=row.coupon_code)
        assert (coupon.customer_id, coupon.campaign_id) == (row.customer_id, campaign.pk)
        assert coupon.holdout == (row.reason == "holdout")
    sent_codes = {m.metadata["delivery_id"] for m in outbox}
    assert sent_codes == set(Delivery.objects.filter(status="sent").values_list("pk", flat=True))
    assert not sent_codes & set(held.values_list("pk", flat=True))
