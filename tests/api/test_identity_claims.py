"""Identity claims over HTTP, as an attacker would try them (issue 11).

Only proof links a person to existing data: a verified e-mail, a signed-in session, a server key.
An e-mail typed at a guest checkout, an unverified account e-mail and a cart token are not.
"""

import re

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from customers import services as customer_services
from customers.models import Consent, Customer, Identity, Merge
from orders.models import Cart, CartStatus, Order, OrderStatus
from tests.api import test_checkout_api as checkout_api
from tests.api.test_checkout_api import CARTS, LINES, checkout, error_of, new_cart, pickup_body

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]

VICTIM = "victim@example.com"
ATTACKER = "attacker@example.com"
VERIFY = "/_allauth/app/v1/auth/email/verify"


def sign_up(email):
    return checkout_api.sign_up(APIClient(), email)


def verify(client, mailoutbox, email):
    """Click the link allauth sent to ``email`` (through the headless API)."""
    message = next(m for m in reversed(mailoutbox) if m.to == [email])
    key = re.search(r"/confirm-email/([^/\s]+)/", message.body).group(1)
    response = client.post(VERIFY, {"key": key}, format="json")
    assert response.status_code == 200, response.content


def add(client, variant, quantity=1, token=None):
    headers = {"HTTP_X_CART_TOKEN": token} if token else {}
    response = client.post(
        LINES, {"sku": variant.sku, "quantity": quantity}, format="json", **headers
    )
    return response


@pytest.fixture
def victim(shop, mailoutbox):
    """A shopper with a verified account, a placed order and a saved cart."""
    client = sign_up(VICTIM)
    verify(client, mailoutbox, VICTIM)
    assert add(client, shop.shirt).status_code == 200
    placed = checkout(client, None, {"fulfilment": "pickup", "location": shop.madrid.code})
    assert placed.status_code == 201, placed.content
    assert add(client, shop.jeans, 2).status_code == 200
    customer = Customer.objects.get(user__email=VICTIM)
    customer_services.set_consent(
        customer=customer, channel="sms", purpose="marketing", granted=True, source="web_form"
    )
    client.order_number = placed.json()["number"]
    client.customer = customer
    return client


def test_the_takeover_chain_gives_the_attacker_nothing(shop, victim, mailoutbox):
    device = APIClient()
    # 1. Guest checkout from the attacker's device giving the victim's e-mail.
    token = new_cart(device, (shop.shirt, 1), anonymous_id="attacker-device")
    first = checkout(device, token, pickup_body(shop, email=VICTIM))
    assert first.status_code == 201, first.content
    assert Order.objects.get(number=first.json()["number"]).customer != victim.customer
    assert not Merge.objects.exists()

    # 2. The same device asks for its cart again: its own, empty, not the victim's saved cart.
    again = device.post(CARTS, {"anonymous_id": "attacker-device"}, format="json")
    assert again.status_code == 201, again.content
    assert again.json()["lines"] == []
    assert again.json()["token"] != Cart.objects.get(customer=victim.customer, status="open").token

    # 3. A second guest checkout from it gives the attacker's own e-mail.
    token = again.json()["token"]
    assert add(device, shop.shirt, token=token).status_code == 200
    second = checkout(device, token, pickup_body(shop, email=ATTACKER))
    assert second.status_code == 201, second.content
    assert not Identity.objects.filter(customer=victim.customer, value=ATTACKER).exists()

    # 4. The attacker signs up with that e-mail, and even verifies it.
    attacker = sign_up(ATTACKER)
    verify(attacker, mailoutbox, ATTACKER)
    me = attacker.get("/api/v1/me/")
    assert me.status_code == 200 and me.json()["id"] != victim.customer.pk
    numbers = {o["number"] for o in attacker.get("/api/v1/me/orders/").json()["results"]}
    assert victim.order_number not in numbers
    export = attacker.get("/api/v1/me/export/").json()
    assert export["customer"]["id"] != victim.customer.pk
    assert victim.order_number not in str(export)
    # The victim's address shows only as what the attacker typed: their own unverified contact.
    assert [i["verified"] for i in export["identities"] if i["value"] == VICTIM] == [False]
    refused = attacker.post(f"/api/v1/me/orders/{victim.order_number}/cancel/")
    assert error_of(refused, 404)["code"] == "order_not_found"
    attacker.post(
        "/api/v1/me/consents/",
        {"channel": "sms", "purpose": "marketing", "granted": False},
        format="json",
    )

    # The victim's profile, orders, cart and consents are as they were.
    victim.customer.refresh_from_db()
    assert victim.customer.status == "live" and victim.customer.user.email == VICTIM
    assert Order.objects.get(number=victim.order_number).status == OrderStatus.PLACED
    assert Order.objects.get(number=victim.order_number).customer == victim.customer
    saved = Cart.objects.get(customer=victim.customer, status=CartStatus.OPEN)
    assert [(line.variant, line.quantity) for line in saved.lines.all()] == [(shop.jeans, 2)]
    latest = Consent.objects.filter(customer=victim.customer, channel="sms").latest("pk")
    assert latest.state == "granted"
    assert {o["number"] for o in victim.get("/api/v1/me/orders/").json()["results"]} == {
        victim.order_number
    }


def test_a_guests_orders_join_an_account_only_once_it_verifies_the_email(shop, mailoutbox):
    guest = APIClient()
    token = new_cart(guest, (shop.shirt, 1), anonymous_id="guest-device")
    placed = checkout(guest, token, pickup_body(shop, email="guest@example.com"))
    assert placed.status_code == 201, placed.content
    number = placed.json()["number"]

    account = sign_up("guest@example.com")  # not verified yet
    assert account.get("/api/v1/me/orders/").json()["results"] == []
    assert error_of(account.get(f"/api/v1/me/orders/{number}/"), 404)["code"] == "order_not_found"
    assert error_of(account.post(f"/api/v1/me/orders/{number}/cancel/"), 404)
    assert Order.objects.get(number=number).status == OrderStatus.PLACED

    verify(account, mailoutbox, "guest@example.com")

    listed = account.get("/api/v1/me/orders/").json()["results"]
    assert [o["number"] for o in listed] == [number]
    assert account.post(f"/api/v1/me/orders/{number}/cancel/").status_code == 200


def test_a_foreign_cart_token_is_not_absorbed_by_a_signed_in_shopper(shop, victim):
    victims_cart = Cart.objects.get(customer=victim.customer, status=CartStatus.OPEN)
    attacker = sign_up(ATTACKER)

    response = add(attacker, shop.shirt, token=victims_cart.token)

    assert error_of(response, 403)["code"] == "cart_not_yours"
    assert error_of(
        attacker.get("/api/v1/carts/current/", HTTP_X_CART_TOKEN=victims_cart.token), 403
    )
    victims_cart.refresh_from_db()
    assert victims_cart.status == CartStatus.OPEN and victims_cart.customer == victim.customer
    assert [(line.variant, line.quantity) for line in victims_cart.lines.all()] == [(shop.jeans, 2)]
    assert not Merge.objects.exists()


def test_a_guests_cart_token_is_not_absorbed_either(shop):
    guest = APIClient()
    token = new_cart(guest, (shop.shirt, 1), anonymous_id="guest-device")
    assert checkout(guest, token, pickup_body(shop, email="g@example.com")).status_code == 201
    next_cart = guest.post(CARTS, {"anonymous_id": "guest-device"}, format="json").json()["token"]
    assert add(guest, shop.jeans, token=next_cart).status_code == 200
    attacker = sign_up(ATTACKER)

    assert error_of(add(attacker, shop.shirt, token=next_cart), 403)["code"] == "cart_not_yours"
    assert Order.objects.get().customer.user is None
    assert not Merge.objects.exists()


def test_a_token_alone_does_not_open_a_signed_up_shoppers_cart(shop, victim):
    victims_cart = Cart.objects.get(customer=victim.customer, status=CartStatus.OPEN)
    stranger = APIClient()

    response = stranger.get("/api/v1/carts/current/", HTTP_X_CART_TOKEN=victims_cart.token)

    assert error_of(response, 403)["code"] == "sign_in_required"
    body = pickup_body(shop, email=ATTACKER)
    assert error_of(checkout(stranger, victims_cart.token, body), 403)["code"] == (
        "sign_in_required"
    )
    assert not Identity.objects.filter(value=ATTACKER).exists()


def test_a_device_id_that_led_to_an_account_opens_nothing_without_signing_in(shop, victim):
    # The victim signs in on a new device that holds an anonymous cart: it merges (legitimate).
    device = APIClient()
    token = new_cart(device, (shop.shirt, 1), anonymous_id="victims-phone")
    victim_on_phone = add(victim, shop.shirt, token=token)
    assert victim_on_phone.status_code == 200, victim_on_phone.content
    assert Merge.objects.get().survivor == victim.customer

    # The device id now leads to the account: a stranger sending it gets no cart.
    stranger = APIClient()
    response = stranger.post(CARTS, {"anonymous_id": "victims-phone"}, format="json")
    assert error_of(response, 403)["code"] == "sign_in_required"
    assert error_of(stranger.get("/api/v1/carts/current/", HTTP_X_CART_TOKEN=token), 403)


def test_signing_in_on_a_new_device_still_merges_its_anonymous_cart(shop, victim):
    device = APIClient()
    token = new_cart(device, (shop.shirt, 3), anonymous_id="new-phone")
    anonymous = Cart.objects.get(token=token).customer

    response = victim.get("/api/v1/carts/current/", HTTP_X_CART_TOKEN=token)

    assert response.status_code == 200, response.content
    lines = {line["sku"]: line["quantity"] for line in response.json()["lines"]}
    assert lines == {shop.jeans.sku: 2, shop.shirt.sku: 3}
    assert Customer.objects.get(pk=anonymous.pk).merged_into == victim.customer


def test_a_profile_of_another_account_is_never_returned_for_an_email(shop, mailoutbox):
    """customer_for_user: a verified e-mail held by a profile linked to another account goes
    to review; the new account gets its own profile."""
    first = sign_up("first@example.com")
    verify(first, mailoutbox, "first@example.com")
    owner = Customer.objects.get(user__email="first@example.com")
    # The first account changes its sign-in e-mail; its profile keeps the verified address.
    owner.user.email = "renamed@example.com"
    owner.user.save()
    owner.user.emailaddress_set.update(email="renamed@example.com")

    cache.clear()  # allauth sends one confirmation per address every 3 minutes
    second = sign_up("first@example.com")
    verify(second, mailoutbox, "first@example.com")

    me = second.get("/api/v1/me/").json()
    assert me["id"] != owner.pk
    assert Customer.objects.get(pk=owner.pk).user.email == "renamed@example.com"
    assert not Merge.objects.exists()


def test_the_refusals_speak_the_shoppers_language(shop, victim):
    victims_cart = Cart.objects.get(customer=victim.customer, status=CartStatus.OPEN)
    attacker = sign_up(ATTACKER)
    spanish = {"HTTP_ACCEPT_LANGUAGE": "es", "HTTP_X_CART_TOKEN": victims_cart.token}

    theirs = attacker.get("/api/v1/carts/current/", **spanish)
    anonymous = APIClient().get("/api/v1/carts/current/", **spanish)

    assert "pertenece a otro cliente" in error_of(theirs, 403)["message"]
    assert "inicia sesión" in error_of(anonymous, 403)["message"]
