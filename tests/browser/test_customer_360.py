import pytest

from customers import services
from customers.models import Consent
from omni.roles import STORE_STAFF
from tests.browser.helpers import make_staff, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("roles"),
]


def test_counter_search_by_phone_opens_the_360_and_records_consent(page):
    clerk = make_staff("tienda@example.com", STORE_STAFF)
    ana = services.identify(
        identifiers=[("email", "ana@example.com", True), ("phone", "+34 600 111 222")],
        profile={"first_name": "Ana", "last_name": "Martín"},
    )
    services.record_events(
        events=[
            {"type": "page", "email": "ana@example.com", "channel": "web", "message_id": "p1"},
            {
                "type": "track",
                "event": "order_placed",
                "email": "ana@example.com",
                "channel": "store",
                "message_id": "o1",
                "properties": {"total": "35.00", "store": "mad-granvia"},
            },
        ]
    )
    page.set_viewport_size({"width": 1024, "height": 768})

    sign_in(page, "tienda@example.com", start="/admin/customers/customer/")

    # The shopper says their number the way people do; the search normalises it.
    page.fill("#searchbar", "600 11 12 22")
    with page.expect_navigation():
        page.press("#searchbar", "Enter")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    with page.expect_navigation():
        rows.first.locator("th a").click()

    timeline = page.locator("#timeline-panel").inner_text()
    assert "Order placed" in timeline and "Page viewed" in timeline
    assert "+34600111222" in page.content()

    page.click("#record-consent summary")
    page.select_option("#consent-form select[name=channel]", "sms")
    page.select_option("#consent-form select[name=granted]", "1")
    with page.expect_navigation():
        page.click("#consent-form input[type=submit]")
    consent = Consent.objects.get(customer=ana, channel="sms")
    assert (consent.state, consent.staff_id) == ("granted", clerk.pk)
    assert "Granted" in page.locator("#consents-panel").inner_text()
