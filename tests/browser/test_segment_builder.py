"""A marketer builds a segment in the admin without code and watches the live count change,
then saves it (on a 1024×768 tablet)."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from campaigns.models import Segment
from customers.models import Channel, Consent, Customer, CustomerTraits, Event
from omni.roles import MARKETER
from tests.browser.helpers import make_staff, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("roles"),
]
SHOTS = Path("/tmp/helpers/shots")


def people():
    """Six customers: 1..6 orders; the even ones gave e-mail consent; #6 has a fresh cart."""
    for n in range(1, 7):
        customer = Customer.objects.create(first_name=f"Cliente{n}", last_name="Prueba")
        CustomerTraits.objects.create(customer=customer, orders_count=n)
        if n % 2 == 0:
            Consent.objects.create(
                customer=customer,
                channel="email",
                purpose="marketing",
                state="granted",
                source="import",
            )
        if n == 6:
            Event.objects.create(
                customer=customer,
                type="cart_updated",
                channel=Channel.WEB,
                occurred_at=timezone.now() - timedelta(hours=2),
            )


def count(page) -> str:
    return page.locator("#segment-count").inner_text()


def expect_count(page, value: str):
    page.wait_for_function(
        "v => document.getElementById('segment-count').textContent === v", arg=value
    )


def test_marketer_builds_a_segment_and_watches_the_count(page):
    people()
    make_staff("marketing@example.com", MARKETER)
    page.set_viewport_size({"width": 1024, "height": 768})
    sign_in(page, "marketing@example.com", start="/admin/campaigns/segment/add/")

    expect_count(page, "6")  # no conditions yet: everyone
    page.fill("input[name=name]", "Fieles con e-mail")

    page.click(".seg-group .seg-add-condition")
    row = page.locator(".seg-rule").nth(0)
    row.locator(".seg-type").select_option("trait")
    row.locator(".seg-field").select_option("orders_count")
    row.locator(".seg-op").select_option(">=")
    row.locator("input[type=text]").fill("3")
    expect_count(page, "4")

    # a typo is named, not counted
    row.locator("input[type=text]").fill("3x")
    page.wait_for_function("() => document.getElementById('segment-errors').textContent !== ''")
    assert "Condition 1 (Trait · Number of orders)" in page.locator("#segment-errors").inner_text()
    row.locator("input[type=text]").fill("3")
    expect_count(page, "4")

    page.click(".seg-group .seg-add-condition")
    consent = page.locator(".seg-rule").nth(1)
    consent.locator(".seg-type").select_option("consent")
    consent.locator("select[data-param=channel]").select_option("email")
    expect_count(page, "2")

    # a nested "any" group: a fresh cart, or a lifetime of 6+ orders
    page.click("#segment-tree > .seg-group > .seg-actions .seg-add-group")
    group = page.locator("#segment-tree .seg-group .seg-group")
    inner = group.locator(".seg-rule").nth(0)
    inner.locator(".seg-type").select_option("event")
    inner.locator("select[data-param=event]").select_option("cart_updated")
    inner.locator("input[data-param=within]").fill("1")
    expect_count(page, "1")
    sample = page.locator("#segment-sample").inner_text()
    assert "Cliente6 Prueba" in sample
    page.screenshot(path=str(SHOTS / "segment_builder_1024.png"), full_page=False)

    with page.expect_navigation():
        page.click("input[name=_continue]")
    segment = Segment.objects.get()
    assert segment.name == "Fieles con e-mail"
    assert [r.get("type", "group") for r in segment.rules["rules"]] == ["trait", "consent", "group"]
    assert re.search(r"/admin/campaigns/segment/\d+/change/", page.url)
    expect_count(page, "1")  # the saved tree is drawn again and counted
    page.screenshot(path=str(SHOTS / "segment_builder_saved_1024.png"), full_page=True)
