"""Carts that follow the customer: device carts, sign-in merge, profile merges, bad input."""

import pytest
from rest_framework.test import APIClient

from customers import services as customer_services
from customers.models import Event
from inventory import services as stock
from inventory.models import Location, LocationKind
from orders import services
from orders.exceptions import InvalidCartLine, NotEnoughToSell
from orders.models import Cart, CartLine, CartStatus
from tests.factories import VariantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]


@pytest.fixture
def variant():
    store = Location.objects.create(kind=LocationKind.STORE, code="s1", name="S1")
    v = VariantFactory()
    stock.receive_stock(variant=v, location=store, quantity=5)
    return v


def test_device_cart_lines_add_up_and_record_cart_events(variant):
    cart = services.cart_for_device(anonymous_id="phone-1", channel="app")
    services.add_to_cart(cart=cart, variant=variant, quantity=2, channel="app")
    services.add_to_cart(cart=cart, variant=variant, quantity=1, channel="app")

    assert CartLine.objects.get(cart=cart).quantity == 3
    assert services.cart_for_device(anonymous_id="phone-1", channel="app") == cart  # one open cart
    events = Event.objects.filter(customer=cart.customer, type="cart_updated")
    assert [e.properties["quantity"] for e in events.order_by("pk")] == [2, 3]


@pytest.mark.parametrize("quantity", [0, -1, 1.5, True, 100])
def test_bad_quantities_are_refused_and_nothing_is_written(variant, quantity):
    cart = services.cart_for_device(anonymous_id="d", channel="web")
    with pytest.raises(InvalidCartLine):
        services.add_to_cart(cart=cart, variant=variant, quantity=quantity, channel="web")
    assert not CartLine.objects.exists()
    assert not Event.objects.filter(type="cart_updated").exists()


def test_inactive_variant_and_more_than_sellable_are_refused(variant):
    cart = services.cart_for_device(anonymous_id="d", channel="web")
    with pytest.raises(NotEnoughToSell):
        services.add_to_cart(cart=cart, variant=variant, quantity=6, channel="web")
    variant.active = False
    variant.save()
    with pytest.raises(InvalidCartLine):
        services.add_to_cart(cart=cart, variant=variant, quantity=1, channel="web")
    assert not CartLine.objects.exists()


def test_profile_merge_moves_and_merges_the_carts(variant):
    other = VariantFactory()
    stock.receive_stock(variant=other, location=Location.objects.get(code="s1"), quantity=5)
    phone_cart = services.cart_for_device(anonymous_id="phone-1", channel="app")
    services.add_to_cart(cart=phone_cart, variant=variant, quantity=1, channel="app")
    known = customer_services.identify(identifiers=[("email", "ana@example.com", True)])
    own_cart = services.open_cart(customer=known, channel="web")
    services.add_to_cart(cart=own_cart, variant=variant, quantity=1, channel="web")
    services.add_to_cart(cart=own_cart, variant=other, quantity=2, channel="web")

    # The phone is recognised as Ana's: the anonymous profile is stitched into hers.
    survivor = customer_services.identify(
        identifiers=[("email", "ana@example.com", True), ("anonymous", "phone-1")]
    )

    assert survivor == known
    open_carts = Cart.objects.filter(customer=known, status=CartStatus.OPEN)
    assert list(open_carts) == [own_cart]
    assert dict(own_cart.lines.values_list("variant_id", "quantity")) == {
        variant.pk: 2,
        other.pk: 2,
    }
    phone_cart.refresh_from_db()
    assert (phone_cart.status, phone_cart.merged_into_id, phone_cart.customer_id) == (
        CartStatus.MERGED,
        own_cart.pk,
        known.pk,
    )


def test_api_cart_follows_the_shopper_from_phone_to_laptop(variant):
    phone = APIClient()
    created = phone.post(
        "/api/v1/carts/", {"anonymous_id": "phone-9", "channel": "app"}, format="json"
    )
    assert created.status_code == 201
    token = created.json()["token"]
    added = phone.post(
        "/api/v1/carts/current/lines/",
        {"sku": variant.sku, "quantity": 2, "channel": "app"},
        format="json",
        HTTP_X_CART_TOKEN=token,
    )
    assert added.status_code == 200
    assert added.json()["lines"][0]["quantity"] == 2

    # On the laptop the shopper signs up (allauth headless, app client) and brings the token.
    laptop = APIClient()
    signup = laptop.post(
        "/_allauth/app/v1/auth/signup",
        {"email": "ana@example.com", "password": "a-Strong-pass-123"},
        format="json",
    )
    laptop.credentials(HTTP_X_SESSION_TOKEN=signup.json()["meta"]["session_token"])
    mine = laptop.get("/api/v1/carts/current/", HTTP_X_CART_TOKEN=token)

    assert mine.status_code == 200
    assert mine.json()["lines"][0]["sku"] == variant.sku
    assert mine.json()["lines"][0]["quantity"] == 2
    # The old token still finds the merged cart's successor; a bad one is a 404.
    again = laptop.get("/api/v1/carts/current/", HTTP_X_CART_TOKEN=token)
    assert again.json()["token"] == mine.json()["token"]
    assert phone.get("/api/v1/carts/current/", HTTP_X_CART_TOKEN="nope").status_code == 404


def test_api_bad_line_input_is_a_4xx_with_fields(variant):
    client = APIClient()
    token = client.post("/api/v1/carts/", {"anonymous_id": "x"}, format="json").json()["token"]
    for body, field in (
        ({"sku": "NOPE", "quantity": 1}, "sku"),
        ({"sku": variant.sku, "quantity": -1}, "quantity"),
        ({"sku": variant.sku, "quantity": 50}, "quantity"),
    ):
        response = client.post(
            "/api/v1/carts/current/lines/", body, format="json", HTTP_X_CART_TOKEN=token
        )
        assert 400 <= response.status_code < 500
        assert field in response.json()["error"]["fields"]
    assert not CartLine.objects.exists()
    assert client.post("/api/v1/carts/", {}, format="json").status_code == 400


def test_a_counter_cart_may_hold_units_not_sellable_online(variant):
    from inventory.models import StockLevel

    StockLevel.objects.filter(variant=variant).update(safety_stock=5)  # nothing online
    web = services.cart_for_device(anonymous_id="w", channel="web")
    with pytest.raises(NotEnoughToSell):
        services.add_to_cart(cart=web, variant=variant, quantity=1, channel="web")
    counter = services.cart_for_device(anonymous_id="till", channel="store")
    services.add_to_cart(cart=counter, variant=variant, quantity=2, channel="store")
    assert counter.lines.get().quantity == 2
