import re

import pytest

from customers import services as customer_services
from inventory import services as stock
from inventory.models import Location, LocationKind
from omni.roles import STORE_STAFF
from orders import services
from orders.models import Order, OrderStatus
from tests.browser.helpers import make_staff, sign_in
from tests.factories import VariantFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("roles", "outbox"),
]


def _pickup_order(store, variant, email):
    shopper = customer_services.identify(identifiers=[("email", email)], source="web")
    cart = services.open_cart(customer=shopper, channel="web")
    services.add_to_cart(cart=cart, variant=variant, quantity=1, channel="web")
    return services.place_order(cart=cart, fulfilment="pickup", location=store)


def test_store_staff_marks_an_order_ready_and_hands_it_over_with_the_code(page):
    store = Location.objects.create(
        kind=LocationKind.STORE,
        code="mad",
        name="Tienda Gran Vía",
        city="Madrid",
        latitude="40.42",
        longitude="-3.70",
        is_pickup_point=True,
    )
    variant = VariantFactory()
    stock.receive_stock(variant=variant, location=store, quantity=3)
    order = _pickup_order(store, variant, "ana@example.com")
    make_staff("tienda@example.com", STORE_STAFF, [store])
    page.set_viewport_size({"width": 1024, "height": 768})  # shop-floor tablet

    sign_in(page, "tienda@example.com")
    # From the dashboard to the desk.
    assert "1" in page.locator("#desk-counts").inner_text()
    with page.expect_navigation():
        page.click("#open-desk")
    assert "/admin/orders/order/desk/" in page.url
    row = page.locator(f"#queue-to-pick #order-{order.number}")
    assert row.count() == 1

    with page.expect_navigation():
        row.locator("button.mark-ready").click()
    # Back on the desk: the code is shown once, and the order moved to the ready queue.
    message = page.locator(".messagelist").inner_text()
    code = re.search(r"Pickup code: (\d{6})", message).group(1)
    assert page.locator(f"#queue-ready #order-{order.number}").count() == 1
    assert "left" in page.locator(f"#queue-ready #order-{order.number}").inner_text()
    assert page.locator(f"#queue-to-pick #order-{order.number}").count() == 0

    # The shopper gives the number and a mistyped code: the form says so.
    page.fill("#code-check input[name=number]", order.number)
    page.fill("#code-check input[name=code]", "000000" if code != "000000" else "111111")
    with page.expect_navigation():
        page.click("#collect-with-code")
    assert "does not match" in page.locator("#code-check .errorlist").inner_text()
    order.refresh_from_db()
    assert order.status == OrderStatus.READY

    page.fill("#code-check input[name=code]", code)
    with page.expect_navigation():
        page.click("#collect-with-code")
    assert f"{order.number} collected." in page.locator(".messagelist").inner_text()
    assert page.locator(f"#queue-ready #order-{order.number}").count() == 0
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.COLLECTED
    assert order.history.last().acting_user.email == "tienda@example.com"
