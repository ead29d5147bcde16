"""A shopper, in the browser, follows a campaign's unsubscribe link on a desktop and on a
phone. Screenshots (1024×768 and 390×844) go to /tmp/helpers/shots/ when it exists."""

from pathlib import Path

import pytest
from django.urls import reverse

from campaigns.tracking import unsubscribe_token
from customers import services
from customers.models import Channel, Consent, ConsentSource, ConsentState, IdentityKind

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/helpers/shots")
SIZES = {"desktop": {"width": 1024, "height": 768}, "phone": {"width": 390, "height": 844}}


def _shot(page, name):
    if SHOTS.is_dir():
        page.screenshot(path=str(SHOTS / name), full_page=False)


def _subscriber(email):
    customer = services.identify(
        identifiers=[(IdentityKind.EMAIL, email, True)],
        source=Channel.WEB,
        profile={"first_name": "Ana", "preferred_language": "en"},
    )
    services.set_consent(
        customer=customer,
        channel="email",
        purpose="marketing",
        granted=True,
        source=ConsentSource.IMPORT,
    )
    return customer


@pytest.mark.parametrize("size", sorted(SIZES))
def test_a_shopper_unsubscribes_from_marketing_emails(page, size):
    customer = _subscriber(f"ana.{size}@example.com")
    page.set_viewport_size(SIZES[size])
    page.goto(reverse("campaigns-unsubscribe", args=[unsubscribe_token(customer.pk, "email", 7)]))
    heading = page.locator("h1")
    assert heading.inner_text() == "Unsubscribe a•••@example.com from marketing e-mails?"
    button = page.get_by_role("button", name="Unsubscribe")
    box = button.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= SIZES[size]["width"]
    _shot(page, f"unsubscribe_ask_{size}.png")

    button.click()
    page.wait_for_selector("text=You are unsubscribed")
    _shot(page, f"unsubscribe_done_{size}.png")
    latest = Consent.objects.filter(customer=customer, channel="email").latest("pk")
    assert latest.state == ConsentState.WITHDRAWN


def test_a_tampered_link_shows_a_clear_page(page):
    page.set_viewport_size(SIZES["phone"])
    response = page.goto("/c/u/not-a-real-token/")
    assert response.status == 400
    assert page.locator("h1").inner_text() == "This link does not work"
    _shot(page, "unsubscribe_invalid_phone.png")


@pytest.mark.usefixtures("roles")
def test_a_marketer_suppresses_an_address_in_the_admin(page):
    from omni.roles import MARKETER
    from tests.browser.helpers import make_staff, sign_in

    services.suppress_address(kind="email", value="bounced@example.com", reason="hard_bounce")
    make_staff("marketing@example.com", MARKETER)
    page.set_viewport_size(SIZES["desktop"])
    sign_in(page, "marketing@example.com", start="/admin/customers/suppression/add/")
    page.select_option("select[name=kind]", "email")
    page.fill("input[name=value]", "Asked.By.Phone@Example.com")
    _shot(page, "suppression_add.png")
    with page.expect_navigation():
        page.click("input[name=_save]")
    assert "Added by staff" in page.locator(".messagelist").inner_text()
    assert page.locator("#result_list").inner_text().count("@example.com") == 2
    assert "asked.by.phone@example.com" in page.locator("#result_list").inner_text()
    _shot(page, "suppression_list.png")
