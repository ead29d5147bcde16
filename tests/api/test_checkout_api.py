"""Storefront orders API: pickup options, shipping, coupon checks, checkout and my orders.

Every refused checkout writes nothing: no order, reservation, transfer, redemption or key.
"""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import formats, timezone, translation
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from customers import services as customer_services
from customers.models import Identity, Merge
from inventory import services as stock
from inventory.models import MovementKind, Reservation, Transfer
from omni.models import IdempotencyKey
from orders import services
from orders.api import serializers as io
from orders.models import (
    Cart,
    CartStatus,
    Coupon,
    CouponRedemption,
    Order,
    OrderLine,
    OrderStatus,
    Promotion,
    PromotionKind,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]

CARTS = "/api/v1/carts/"
LINES = "/api/v1/carts/current/lines/"
PICKUP = "/api/v1/carts/current/pickup-options/"
SHIPPING = "/api/v1/carts/current/shipping/"
COUPON = "/api/v1/coupons/check/"
CHECKOUT = "/api/v1/checkout/"
MADRID = {"latitude": "40.416775", "longitude": "-3.703790"}
ADDRESS = {
    "name": "Ana Pérez",
    "line1": "Calle Mayor 5",
    "postal_code": "28013",
    "city": "Madrid",
    "country": "ES",
}


def new_cart(api, *lines, anonymous_id="device-1"):
    token = api.post(CARTS, {"anonymous_id": anonymous_id, "channel": "web"}, format="json")
    token = token.json()["token"]
    for variant, quantity in lines:
        added = api.post(
            LINES,
            {"sku": variant.sku, "quantity": quantity},
            format="json",
            HTTP_X_CART_TOKEN=token,
        )
        assert added.status_code == 200, added.content
    return token


def checkout(api, token, body, key=None, **headers):
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    if token is not None:
        headers["HTTP_X_CART_TOKEN"] = token
    return api.post(CHECKOUT, body, format="json", **headers)


def error_of(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]


def written():
    """Everything a checkout writes, counted."""
    return (
        Order.objects.count(),
        OrderLine.objects.count(),
        Reservation.objects.count(),
        Transfer.objects.count(),
        CouponRedemption.objects.count(),
        IdempotencyKey.objects.count(),
        Cart.objects.filter(status=CartStatus.CHECKED_OUT).count(),
    )


def make_coupon(code="SAVE10", **promotion):
    promotion.setdefault("kind", PromotionKind.PERCENTAGE)
    promotion.setdefault("value", Decimal("10"))
    single_use = promotion.pop("single_use", False)
    return Coupon.objects.create(
        promotion=Promotion.objects.create(name=code, **promotion), code=code, single_use=single_use
    )


def pickup_body(shop, **extra):
    return {"fulfilment": "pickup", "location": shop.madrid.code, "email": "g@example.com", **extra}


# --- Pickup options ---------------------------------------------------------------------------


def test_pickup_options_for_the_cart_with_labels(api, shop):
    shop.madrid.opening_hours = {}  # always open: ready today whatever the test's clock says
    shop.madrid.save()
    token = new_cart(api, (shop.shirt, 2))

    response = api.get(PICKUP, {**MADRID, "radius_km": 50}, HTTP_X_CART_TOKEN=token)

    assert response.status_code == 200, response.content
    (option,) = response.json()
    assert option["code"] == "mad" and option["name"] == "Tienda Gran Vía"
    assert option["ready_today"] is True and option["via_transfer"] is False
    assert option["ready_on"] == timezone.localdate().isoformat()
    assert option["distance_km"] == 0.0
    assert option["label"] == "Ready today at Tienda Gran Vía, 0.0 km"


def test_pickup_option_by_transfer_names_the_day_in_the_shoppers_language(api, shop):
    shop.madrid.opening_hours = {}
    shop.madrid.save()
    token = new_cart(api, (shop.jeans, 1))  # only the warehouse has jeans: 2 days by transfer
    day = timezone.localdate() + timedelta(days=2)

    english = api.get(PICKUP, {**MADRID, "radius_km": 50}, HTTP_X_CART_TOKEN=token).json()
    spanish = api.get(
        PICKUP, {**MADRID, "radius_km": 50}, HTTP_X_CART_TOKEN=token, HTTP_ACCEPT_LANGUAGE="es"
    ).json()

    assert [o["code"] for o in english] == ["mad"]
    assert english[0]["via_transfer"] is True and english[0]["ready_today"] is False
    assert english[0]["ready_on"] == day.isoformat()
    with translation.override("en"):
        assert english[0]["label"] == f"Ready {formats.date_format(day, 'l')} via transfer"
    with translation.override("es"):
        weekday = formats.date_format(day, "l")
    assert weekday not in english[0]["label"]
    assert weekday in spanish[0]["label"]


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"latitude": "40.4"},
        {"latitude": "abc", "longitude": "-3.7"},
        {"latitude": "91", "longitude": "-3.7"},
        {"latitude": "40.4", "longitude": "-181"},
        {**MADRID, "radius_km": "-1"},
    ],
)
def test_pickup_options_need_good_coordinates(api, shop, query):
    token = new_cart(api, (shop.shirt, 1))
    error = error_of(api.get(PICKUP, query, HTTP_X_CART_TOKEN=token), 400)
    assert error["code"] == "invalid"


def test_pickup_options_of_an_empty_cart(api, shop):
    token = new_cart(api)
    assert error_of(api.get(PICKUP, MADRID, HTTP_X_CART_TOKEN=token), 400)["code"] == "empty_cart"
    assert error_of(api.get(PICKUP, MADRID), 404)["code"] == "cart_not_found"


# --- Shipping and coupons ---------------------------------------------------------------------


def test_shipping_fee_until_the_free_shipping_threshold(api, shop):
    token = new_cart(api, (shop.shirt, 1))
    small = api.get(SHIPPING, HTTP_X_CART_TOKEN=token).json()
    assert small == {
        "fee": "4.95",
        "free_from": "50.00",
        "free": False,
        "missing_for_free": "30.01",
        "totals": {
            "subtotal": "19.99",
            "discount_total": "0.00",
            "shipping_total": "4.95",
            "tax_total": small["totals"]["tax_total"],
            "total": "24.94",
        },
    }
    api.post(LINES, {"sku": shop.jeans.sku, "quantity": 1}, format="json", HTTP_X_CART_TOKEN=token)
    big = api.get(SHIPPING, HTTP_X_CART_TOKEN=token).json()
    assert big["free"] is True and big["missing_for_free"] == "0.00"
    assert big["totals"]["shipping_total"] == "0.00" and big["totals"]["total"] == "69.89"
    empty = new_cart(api, anonymous_id="device-2")
    assert error_of(api.get(SHIPPING, HTTP_X_CART_TOKEN=empty), 400)["code"] == "empty_cart"


def test_coupon_check_says_what_the_code_is_worth(api, shop):
    make_coupon()
    make_coupon("FREESHIP", kind=PromotionKind.FREE_SHIPPING)
    token = new_cart(api, (shop.shirt, 2))

    response = api.post(COUPON, {"code": " save10 "}, format="json", HTTP_X_CART_TOKEN=token)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["code"] == "SAVE10" and body["discount"] == "4.00"
    assert body["free_shipping"] is False
    assert body["totals"]["total"] == "35.98" and body["totals"]["shipping_total"] == "0.00"
    ship = api.post(
        COUPON, {"code": "FREESHIP", "fulfilment": "ship"}, format="json", HTTP_X_CART_TOKEN=token
    ).json()
    assert ship["free_shipping"] is True and ship["totals"]["shipping_total"] == "0.00"
    assert not CouponRedemption.objects.exists()  # a check redeems nothing


def test_coupon_check_refusals(api, shop):
    make_coupon("OLD", ends_at=timezone.now() - timedelta(days=1))
    make_coupon("ONCE", single_use=True)
    Coupon.objects.filter(code="ONCE").update(used=True)
    token = new_cart(api, (shop.shirt, 1))

    def check(code):
        return api.post(COUPON, {"code": code}, format="json", HTTP_X_CART_TOKEN=token)

    assert error_of(check("NOPE"), 400)["code"] == "coupon_invalid"
    assert error_of(check("OLD"), 400)["code"] == "coupon_invalid"
    assert error_of(check("ONCE"), 409)["code"] == "coupon_used_up"
    assert error_of(check(""), 400)["code"] == "invalid"


# --- Checkout ---------------------------------------------------------------------------------


def test_guest_checkout_for_pickup(api, shop):
    token = new_cart(api, (shop.shirt, 2), (shop.jeans, 1))

    response = checkout(api, token, pickup_body(shop, pay_at_pickup=True), key="k-1")

    assert response.status_code == 201, response.content
    body = response.json()
    order = Order.objects.get()
    assert body["number"] == order.number
    assert body["status"] == OrderStatus.AWAITING_TRANSFER  # the jeans come from the warehouse
    assert body["fulfilment"] == "pickup"
    assert body["location"] == {"code": "mad", "name": "Tienda Gran Vía"}
    assert body["promised_on"] == order.promised_on.isoformat()
    assert body["payment_state"] == "pay_at_pickup"
    assert body["totals"]["total"] == "89.88"
    assert sorted((line["sku"], line["quantity"], line["state"]) for line in body["lines"]) == [
        (shop.shirt.sku, 2, "allocated"),
        (shop.jeans.sku, 1, "in_transfer"),
    ]
    assert [h["status"] for h in body["history"]] == ["placed", "awaiting_transfer"]
    # The e-mail went to the cart's profile: the pickup code can be sent there.
    assert Identity.objects.filter(customer=order.customer, value="g@example.com").exists()
    assert Cart.objects.get(token=token).status == CartStatus.CHECKED_OUT
    assert "Idempotent-Replayed" not in response


def test_guest_checkout_to_an_address_with_a_coupon(api, shop):
    make_coupon()
    token = new_cart(api, (shop.shirt, 1))
    body = {
        "fulfilment": "ship",
        "shipping_address": ADDRESS,
        "coupon": "save10",
        "phone": "600 111 222",
        **MADRID,
    }

    response = checkout(api, token, body)

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["location"] is None and data["coupon"] == "SAVE10"
    assert data["totals"]["discount_total"] == "2.00" and data["totals"]["shipping_total"] == "4.95"
    assert data["shipping_address"]["city"] == "Madrid"
    order = Order.objects.get()
    assert order.customer.identities.filter(kind="phone", value="+34600111222").exists()
    assert CouponRedemption.objects.get().reference == order.number


@pytest.mark.parametrize("shipping", [False, True])
def test_checkout_response_is_the_order_as_stored(api, shop, shipping):
    """The 201 body is built from what the checkout wrote, without reading it back: it must be
    exactly what a fresh read of the order gives."""
    make_coupon()
    token = new_cart(api, (shop.shirt, 2), (shop.jeans, 1))
    if shipping:
        body = {"fulfilment": "ship", "shipping_address": ADDRESS, "coupon": "SAVE10", **MADRID}
        body["email"] = "g@example.com"
    else:
        body = pickup_body(shop, coupon="SAVE10")  # the jeans come by transfer

    response = checkout(api, token, body, key="k-fresh")

    assert response.status_code == 201, response.content
    stored = io.OrderSerializer(io.order_queryset(Order.objects).get()).data
    assert response.json() == json.loads(JSONRenderer().render(stored))


def test_guest_needs_an_email_or_phone(api, shop):
    token = new_cart(api, (shop.shirt, 1))
    before = written()
    body = {"fulfilment": "pickup", "location": "mad"}
    assert error_of(checkout(api, token, body, key="a"), 400)["fields"] == {
        "email": ["Give an e-mail address or a phone number for the order."]
    }
    bad_phone = checkout(api, token, {**body, "phone": "12"}, key="b")
    assert error_of(bad_phone, 400)["code"] == "invalid_identifier"
    assert error_of(checkout(api, None, {**body, "email": "x@example.com"}), 404)["code"] == (
        "cart_not_found"
    )
    assert written() == before
    assert not Identity.objects.filter(kind="phone").exists()


def test_same_key_twice_places_one_order_and_replays_it(api, shop):
    token = new_cart(api, (shop.shirt, 1))
    first = checkout(api, token, pickup_body(shop), key="retry-1")
    second = checkout(api, token, pickup_body(shop), key="retry-1")

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    # The same key with another body is refused.
    other = checkout(api, token, pickup_body(shop, pay_at_pickup=True), key="retry-1")
    assert error_of(other, 422)["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


def test_two_anonymous_carts_never_share_keys(api, shop):
    one = new_cart(api, (shop.shirt, 1), anonymous_id="device-1")
    two = new_cart(api, (shop.shirt, 2), anonymous_id="device-2")
    same_email = pickup_body(shop, email="same@example.com")

    first = checkout(api, one, same_email, key="order-1")
    second = checkout(api, two, same_email, key="order-1")

    assert first.status_code == second.status_code == 201, second.content
    assert "Idempotent-Replayed" not in second
    assert first.json()["number"] != second.json()["number"]
    # A typed e-mail proves no one: two guests, two profiles, two orders of what each cart held.
    assert Order.objects.values("customer").distinct().count() == 2
    assert sorted(o.lines.get().quantity for o in Order.objects.all()) == [1, 2]


def test_bench_shape(api, shop):
    """The shape bench/orders.py relies on."""
    token = api.post(CARTS, {"anonymous_id": "bench-1", "channel": "web"}, format="json")
    token = token.json()["token"]
    api.post(LINES, {"sku": shop.shirt.sku, "quantity": 1}, format="json", HTTP_X_CART_TOKEN=token)
    response = checkout(
        api, token, {"fulfilment": "pickup", "location": "mad", "email": "b@x.es"}, key="b-1"
    )
    assert response.status_code == 201
    assert response.json()["number"].startswith("OM")


def _unsellable(shop):
    stock.adjust_stock(
        variant=shop.shirt,
        location=shop.warehouse,
        delta=-10,
        kind=MovementKind.WRITE_OFF,
        reason="damaged",
    )


def _inactive(shop):
    shop.shirt.active = False
    shop.shirt.save()


@pytest.mark.parametrize(
    ("body", "prepare", "status", "code"),
    [
        ({"location": "wh"}, None, 400, "not_a_pickup_point"),
        ({"location": "nope"}, None, 400, "invalid"),
        ({"location": ["mad"]}, None, 400, "invalid"),
        ({"location": 7}, None, 400, "invalid"),
        ({"location": None}, None, 400, "invalid"),
        ({"coupon": "NOPE"}, None, 400, "coupon_invalid"),
        ({"coupon": "OLD"}, None, 400, "coupon_invalid"),
        ({"coupon": "ONCE"}, None, 409, "coupon_used_up"),
        ({}, _unsellable, 409, "insufficient_stock"),
        ({}, _inactive, 400, "invalid_cart_line"),
        ({"fulfilment": "ship"}, None, 400, "invalid"),
        ({"fulfilment": "ship", "shipping_address": {"name": "A"}}, None, 400, "invalid"),
        ({"fulfilment": "counter"}, None, 400, "invalid"),
        ({"latitude": 40}, None, 400, "invalid"),
    ],
)
def test_refused_checkout_writes_nothing(api, shop, body, prepare, status, code):
    make_coupon("OLD", ends_at=timezone.now() - timedelta(days=1))
    make_coupon("ONCE", single_use=True)
    Coupon.objects.filter(code="ONCE").update(used=True)
    token = new_cart(api, (shop.shirt, 12))
    if prepare:
        prepare(shop)
    before = written()

    response = checkout(api, token, pickup_body(shop, **body), key="attempt")

    assert error_of(response, status)["code"] == code
    assert written() == before
    assert not Reservation.objects.filter(status="active").exists()
    assert Cart.objects.get(token=token).status == CartStatus.OPEN


def test_empty_cart_checkout(api, shop):
    token = new_cart(api)
    before = written()
    assert error_of(checkout(api, token, pickup_body(shop), key="e"), 400)["code"] == "empty_cart"
    assert written() == before


def test_guest_giving_a_known_email_orders_their_own_cart_and_sees_nothing_of_the_owner(api, shop):
    known = customer_services.identify(
        identifiers=[("email", "ana@example.com", True)], source="web"
    )
    saved = services.open_cart(customer=known, channel="web")
    services.add_to_cart(cart=saved, variant=shop.jeans, quantity=1, channel="web")
    token = new_cart(api, (shop.shirt, 1))

    response = checkout(api, token, pickup_body(shop, email="ana@example.com"), key="x")

    assert response.status_code == 201, response.content
    assert [line["sku"] for line in response.json()["lines"]] == [shop.shirt.sku]
    order = Order.objects.get()
    assert order.customer != known and order.customer.status == "live"
    assert not Merge.objects.exists()
    assert saved.lines.get().variant == shop.jeans  # the owner's cart is untouched
    assert Cart.objects.get(pk=saved.pk).status == CartStatus.OPEN
    # The typed address is the guest's contact data, unverified, on the guest's own profile.
    typed = Identity.objects.get(customer=order.customer, kind="email")
    assert (typed.value, typed.verified) == ("ana@example.com", False)


def test_guest_typing_a_known_phone_keeps_it_as_unverified_contact(api, shop):
    known = customer_services.identify(identifiers=[("phone", "+34600111222")], source="store")
    token = new_cart(api, (shop.shirt, 1))

    response = checkout(api, token, {**pickup_body(shop, email=""), "phone": "600 111 222"})

    assert response.status_code == 201, response.content
    order = Order.objects.get()
    assert order.customer != known
    assert Identity.objects.get(kind="phone", verified=True).customer == known
    assert Identity.objects.get(kind="phone", verified=False).customer == order.customer


# --- My orders --------------------------------------------------------------------------------


def sign_up(client, email):
    response = client.post(
        "/_allauth/app/v1/auth/signup",
        {"email": email, "password": "a-Strong-pass-123"},
        format="json",
    )
    assert response.status_code == 200, response.content
    client.credentials(HTTP_X_SESSION_TOKEN=response.json()["meta"]["session_token"])
    return client


def shopper_order(client, shop, quantity=1):
    client.post(LINES, {"sku": shop.shirt.sku, "quantity": quantity}, format="json")
    response = checkout(client, None, {"fulfilment": "pickup", "location": "mad"})
    assert response.status_code == 201, response.content
    return response.json()["number"]


def test_my_orders_are_mine_only(shop):
    ana = sign_up(APIClient(), "ana@example.com")
    bea = sign_up(APIClient(), "bea@example.com")
    mine = shopper_order(ana, shop)
    theirs = shopper_order(bea, shop, quantity=2)

    listed = ana.get("/api/v1/me/orders/").json()
    assert [o["number"] for o in listed["results"]] == [mine]
    detail = ana.get(f"/api/v1/me/orders/{mine}/")
    assert detail.status_code == 200 and detail.json()["lines"][0]["quantity"] == 1
    assert error_of(ana.get(f"/api/v1/me/orders/{theirs}/"), 404)["code"] == "order_not_found"
    assert error_of(ana.post(f"/api/v1/me/orders/{theirs}/cancel/"), 404)
    assert error_of(APIClient().get("/api/v1/me/orders/"), 403)


def test_shopper_cancels_until_ready(shop):
    ana = sign_up(APIClient(), "ana@example.com")
    number = shopper_order(ana, shop)

    response = ana.post(f"/api/v1/me/orders/{number}/cancel/", {"reason": "Changed my mind"})

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert response.json()["history"][-1]["note"] == "Changed my mind"
    assert not Reservation.objects.filter(status="active").exists()

    ready = shopper_order(ana, shop)
    services.mark_ready(order=Order.objects.get(number=ready))
    assert error_of(ana.post(f"/api/v1/me/orders/{ready}/cancel/"), 409)["code"] == (
        "invalid_order_state"
    )
    assert Order.objects.get(number=ready).status == OrderStatus.READY
