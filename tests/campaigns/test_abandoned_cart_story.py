"""The story the product exists for, end to end on PostgreSQL: a shopper leaves a cart on the web,
the idle sweep marks it abandoned, the journey e-mails its items with a personal coupon, the
shopper buys at the store counter with that coupon (through the tills' API, or the admin
counter page where the salesperson opens their cart), the journey exits, the sale is credited
to the campaign with its revenue — and the code is refused a second time in every channel."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Conversion, Delivery, JourneyEntry
from campaigns.services import builtin_journeys
from customers.models import Event
from omni import roles
from orders import services as order_services
from orders.models import Cart, CartStatus, CouponRedemption, Order, Promotion, PromotionKind
from orders.pricing import CouponUsedUp
from tests.campaigns.pipeline import shopper
from tests.factories import UserFactory
from tests.orders.conftest import shop  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]
SALES = "/api/v1/counter-sales/"


@pytest.fixture(autouse=True)
def _always_open(settings):
    settings.CAMPAIGN_QUIET_HOURS = ("00:00", "00:00")  # equal ends: no quiet hours
    settings.CAMPAIGN_CONTACT_BUDGET = (5, timedelta(days=7))


@pytest.fixture
def journey():
    promotion = Promotion.objects.create(
        name="Your cart −10 %", kind=PromotionKind.PERCENTAGE, value=10
    )
    made = builtin_journeys.abandoned_cart_journey(promotion=promotion)
    made.campaign.holdout_percent = 0
    made.campaign.save(update_fields=["holdout_percent"])
    return builtin_journeys.switch(journey=made, on=True)


@pytest.fixture
def clerk(shop):  # noqa: F811
    return UserFactory(role=roles.STORE_STAFF, locations=[shop.madrid])


def leave_cart_and_get_the_email(shop, journey, outbox, capture):  # noqa: F811
    ana = shopper(first_name="Ana", preferred_language="en", home_store=shop.madrid.code)
    cart = order_services.open_cart(customer=ana, channel="web")
    order_services.add_to_cart(cart=cart, variant=shop.shirt, quantity=2, channel="web")
    with capture(execute=True):
        order_services.mark_abandoned_carts(
            idle_minutes=60, now=timezone.now() + timedelta(hours=2)
        )
    assert Cart.objects.get(pk=cart.pk).status == CartStatus.ABANDONED
    (message,) = outbox
    delivery = Delivery.objects.get(entry__journey=journey)
    assert delivery.status == "sent" and delivery.coupon_code
    assert delivery.coupon_code in message.html and shop.madrid.name in message.html
    assert shop.shirt.product.name in message.html
    return ana, cart, delivery


def sell_through_the_till(clerk, shop, ana, code, key):  # noqa: F811
    api = APIClient()
    api.force_authenticate(clerk)
    body = {
        "store": shop.madrid.code,
        "customer": ana.pk,
        "lines": [{"sku": shop.shirt.sku, "quantity": 2}],
        "coupon_code": code,
    }
    return api.post(SALES, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def finish_at_the_counter_page(clerk, shop, ana, code):  # noqa: F811
    client = Client()
    client.force_login(clerk)
    url = reverse("admin:orders_order_counter", args=[ana.pk])
    page = client.get(url)  # the salesperson opens their cart: the abandoned one, reopened
    assert page.status_code == 200 and shop.shirt.sku in page.content.decode()
    data = {
        "action": "finish",
        "finish-location": shop.madrid.pk,
        "finish-coupon_code": code,
    }
    return client.post(url, data)


@pytest.mark.parametrize("where", ["till_api", "counter_page"])
def test_the_abandoned_cart_email_earns_a_store_sale_with_its_personal_coupon(
    where,
    shop,  # noqa: F811
    journey,
    clerk,
    outbox,
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    ana, cart, delivery = leave_cart_and_get_the_email(shop, journey, outbox, capture)
    code = delivery.coupon_code

    with capture(execute=True):
        if where == "till_api":
            response = sell_through_the_till(clerk, shop, ana, code, "till-1")
            assert response.status_code == 201, response.content
        else:
            response = finish_at_the_counter_page(clerk, shop, ana, code)
            assert response.status_code == 302, response.content.decode()[:3000]

    order = Order.objects.get()
    assert (order.channel, order.location, order.coupon.code) == ("store", shop.madrid, code)
    assert order.discount_total > 0
    if where == "counter_page":  # the salesperson finished the very cart the shopper left
        assert order.cart_id == cart.pk
    entry = JourneyEntry.objects.get(journey=journey)
    assert (entry.state, entry.exit_reason) == ("exited", "ordered")
    conversion = Conversion.objects.get(order=order)
    assert (conversion.campaign_id, conversion.delivery_id) == (journey.campaign_id, delivery.pk)
    assert (conversion.touch, conversion.credit_last, conversion.revenue) == (
        "coupon",
        1,
        order.total,
    )
    assert (conversion.order_channel, conversion.store) == ("store", shop.madrid)
    delivery.refresh_from_db()
    assert delivery.status == "converted"
    assert Event.objects.filter(customer=ana, type="campaign_conversion").count() == 1

    # The code once more, in every channel: refused, nothing written.
    order_services.add_to_cart(
        cart=order_services.open_cart(customer=ana, channel="web"),
        variant=shop.shirt,
        quantity=1,
        channel="web",
    )
    again = sell_through_the_till(clerk, shop, ana, code, "till-2")
    assert again.status_code in (400, 409, 422) and "error" in again.json()
    page = finish_at_the_counter_page(clerk, shop, ana, code)
    assert page.status_code == 200 and "errorlist" in page.content.decode()
    with pytest.raises(CouponUsedUp):
        order_services.place_order(
            cart=order_services.open_cart(customer=ana, channel="web"),
            fulfilment="ship",
            channel="web",
            coupon_code=code,
            shipping_address={
                "name": "Ana",
                "line1": "Calle Mayor 5",
                "postal_code": "28013",
                "city": "Madrid",
                "country": "ES",
            },
        )
    assert Order.objects.count() == 1 and CouponRedemption.objects.count() == 1
