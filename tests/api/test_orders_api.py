"""Orders API end to end, and the staff/integration side: list, detail, ready, collect, import.

Staff see only the orders of their stores (orders.selectors.orders_for_user): another store's
order is a 404, never a 403 that would confirm it exists.
"""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from customers import services as customer_services
from inventory import services as stock
from inventory.models import Reservation, StockLevel
from omni import roles
from orders import services
from orders.models import Order, OrderStatus, PaymentState
from tests.factories import UserFactory, VariantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]

ORDERS = "/api/v1/orders/"
IMPORT = "/api/v1/orders/import/"
ADDRESS = {
    "name": "Luis Gil",
    "line1": "Calle Larios 3",
    "postal_code": "29005",
    "city": "Málaga",
    "country": "ES",
}


def as_user(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def madrid_staff(shop):
    return as_user(
        UserFactory(email="desk@omni.example", role=roles.STORE_STAFF, locations=[shop.madrid])
    )


@pytest.fixture
def canarias_staff(shop):
    return as_user(
        UserFactory(email="lpa@omni.example", role=roles.STORE_STAFF, locations=[shop.canarias])
    )


@pytest.fixture
def backoffice(db):
    return as_user(UserFactory(email="erp@omni.example", role=roles.BACKOFFICE_ADMIN))


def error_of(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]


def place(shop, email, location=None, quantity=1, variant=None):
    customer = customer_services.identify(identifiers=[("email", email)], source="web")
    cart = services.open_cart(customer=customer, channel="web")
    services.add_to_cart(cart=cart, variant=variant or shop.shirt, quantity=quantity, channel="web")
    return services.place_order(cart=cart, fulfilment="pickup", location=location or shop.madrid)


# --- End to end -------------------------------------------------------------------------------


def test_anonymous_cart_to_collected_pickup_over_http(
    shop, madrid_staff, outbox, django_capture_on_commit_callbacks
):
    # A phone starts an anonymous cart.
    phone = APIClient()
    token = phone.post(
        "/api/v1/carts/", {"anonymous_id": "phone-7", "channel": "app"}, format="json"
    ).json()["token"]
    added = phone.post(
        "/api/v1/carts/current/lines/",
        {"sku": shop.shirt.sku, "quantity": 2, "channel": "app"},
        format="json",
        HTTP_X_CART_TOKEN=token,
    )
    assert added.status_code == 200, added.content
    # The shopper signs up on a laptop and brings the cart along.
    laptop = APIClient()
    signup = laptop.post(
        "/_allauth/app/v1/auth/signup",
        {"email": "ana@example.com", "password": "a-Strong-pass-123"},
        format="json",
    )
    laptop.credentials(HTTP_X_SESSION_TOKEN=signup.json()["meta"]["session_token"])
    options = laptop.get(
        "/api/v1/carts/current/pickup-options/",
        {"latitude": 40.4168, "longitude": -3.7038, "radius_km": 20},
        HTTP_X_CART_TOKEN=token,
    )
    assert [o["code"] for o in options.json()] == ["mad"]

    placed = laptop.post(
        "/api/v1/checkout/",
        {"fulfilment": "pickup", "location": "mad", "pay_at_pickup": True},
        format="json",
        HTTP_X_CART_TOKEN=token,
        HTTP_IDEMPOTENCY_KEY="laptop-checkout-1",
    )
    assert placed.status_code == 201, placed.content
    number = placed.json()["number"]
    assert placed.json()["status"] == "placed"
    assert placed.json()["lines"][0]["quantity"] == 2

    # The store sees it at the desk, picks it and gets the code once.
    listed = madrid_staff.get(ORDERS, {"status": "placed", "location": "mad"}).json()
    assert [o["number"] for o in listed["results"]] == [number]
    with django_capture_on_commit_callbacks(execute=True):
        ready = madrid_staff.post(f"{ORDERS}{number}/ready/")
    assert ready.status_code == 200, ready.content
    code = ready.json()["pickup_code"]
    assert ready.json()["status"] == "ready" and len(code) == 6
    message = next(m for m in outbox if m.channel == "email")
    assert message.to == "ana@example.com" and code in message.body
    again = madrid_staff.post(f"{ORDERS}{number}/ready/")
    assert error_of(again, 409)["code"] == "invalid_order_state"  # the code is never shown twice

    collected = madrid_staff.post(f"{ORDERS}{number}/collect/", {"code": code}, format="json")
    assert collected.status_code == 200, collected.content
    assert collected.json()["status"] == "collected"
    assert collected.json()["payment_state"] == PaymentState.PAID
    assert [h["status"] for h in collected.json()["history"]] == ["placed", "ready", "collected"]
    mine = laptop.get(f"/api/v1/me/orders/{number}/").json()
    assert mine["status"] == "collected"
    assert StockLevel.objects.get(variant=shop.shirt, location=shop.madrid).on_hand == 3


# --- Scoping and permissions ------------------------------------------------------------------


def test_staff_of_another_store_get_404(shop, canarias_staff, madrid_staff):
    order = place(shop, "a@example.com")
    url = f"{ORDERS}{order.number}/"

    assert canarias_staff.get(ORDERS).json()["results"] == []
    assert error_of(canarias_staff.get(url), 404)["code"] == "order_not_found"
    assert error_of(canarias_staff.post(f"{url}ready/"), 404)["code"] == "order_not_found"
    collect = canarias_staff.post(f"{url}collect/", {"identity_checked": True}, format="json")
    assert error_of(collect, 404)
    assert Order.objects.get().status == OrderStatus.PLACED

    assert madrid_staff.get(url).status_code == 200


def test_orders_api_needs_staff_permissions(shop):
    order = place(shop, "a@example.com")
    shopper = APIClient()
    signup = shopper.post(
        "/_allauth/app/v1/auth/signup",
        {"email": "s@example.com", "password": "a-Strong-pass-123"},
        format="json",
    )
    shopper.credentials(HTTP_X_SESSION_TOKEN=signup.json()["meta"]["session_token"])
    marketer = as_user(UserFactory(role=roles.MARKETER))  # may view orders, not act on them

    for client in (APIClient(), shopper):
        assert error_of(client.get(ORDERS), 403)
        assert error_of(client.get(f"{ORDERS}{order.number}/"), 403)
    assert error_of(marketer.post(f"{ORDERS}{order.number}/ready/"), 403)
    assert error_of(marketer.post(IMPORT, {}, format="json"), 403)


def test_list_filters_and_paginates(shop, madrid_staff, canarias_staff):
    at_madrid = place(shop, "a@example.com")
    at_canarias = place(shop, "b@example.com", location=shop.canarias, variant=shop.jeans)
    manager = as_user(UserFactory(role=roles.STORE_MANAGER))

    everything = manager.get(ORDERS).json()
    assert everything["count"] == 2
    assert {o["number"] for o in everything["results"]} == {at_madrid.number, at_canarias.number}
    by_location = manager.get(ORDERS, {"location": "lpa"}).json()["results"]
    assert [o["number"] for o in by_location] == [at_canarias.number]
    by_status = manager.get(ORDERS, {"status": ["awaiting_transfer", "ready"]}).json()["results"]
    assert [o["number"] for o in by_status] == [at_canarias.number]
    assert manager.get(ORDERS, {"fulfilment": "ship"}).json()["count"] == 0
    page = manager.get(ORDERS, {"page_size": 1}).json()
    assert len(page["results"]) == 1 and page["next"]
    assert error_of(manager.get(ORDERS, {"status": "lost"}), 400)["code"] == "invalid"
    assert canarias_staff.get(ORDERS).json()["count"] == 1


@pytest.mark.parametrize("staff", ["madrid_staff", "manager"])
def test_list_query_count_does_not_grow_with_rows(
    shop, request, django_assert_max_num_queries, staff
):
    client = (
        as_user(UserFactory(role=roles.STORE_MANAGER))
        if staff == "manager"
        else request.getfixturevalue("madrid_staff")
    )
    place(shop, "first@example.com")
    client.get(ORDERS)  # warm the user's permission cache
    with django_assert_max_num_queries(4) as few:
        assert client.get(ORDERS).json()["count"] == 1
    for i in range(4):
        place(shop, f"more{i}@example.com")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(ORDERS).json()["count"] == 5


def test_detail_query_count_does_not_grow_with_lines(shop, madrid_staff):
    few = place(shop, "a@example.com")
    customer = customer_services.identify(identifiers=[("email", "b@example.com")], source="web")
    cart = services.open_cart(customer=customer, channel="web")
    for variant in (VariantFactory(price=Decimal("5")) for _ in range(3)):
        stock.receive_stock(variant=variant, location=shop.madrid, quantity=3)
        services.add_to_cart(cart=cart, variant=variant, quantity=1, channel="web")
    services.add_to_cart(cart=cart, variant=shop.jeans, quantity=1, channel="web")  # transfer
    many = services.place_order(cart=cart, fulfilment="pickup", location=shop.madrid)
    madrid_staff.get(f"{ORDERS}{few.number}/")  # warm the permission cache

    with CaptureQueriesContext(connection) as one:
        madrid_staff.get(f"{ORDERS}{few.number}/")
    with CaptureQueriesContext(connection) as four:
        body = madrid_staff.get(f"{ORDERS}{many.number}/").json()
    assert len(body["lines"]) == 4
    assert len(four.captured_queries) == len(one.captured_queries)


# --- Ready and collect ------------------------------------------------------------------------


def test_collect_wrong_codes_then_locked(shop, madrid_staff, outbox):
    order = place(shop, "a@example.com")
    code = madrid_staff.post(f"{ORDERS}{order.number}/ready/").json()["pickup_code"]
    wrong = "000000" if code != "000000" else "111111"
    url = f"{ORDERS}{order.number}/collect/"

    for attempt in range(1, 6):
        response = madrid_staff.post(url, {"code": wrong}, format="json")
        assert error_of(response, 400)["code"] == "wrong_pickup_code"
        if attempt < 5:  # each wrong code is counted, although the request failed
            assert Order.objects.get().code_attempts == attempt
    locked = madrid_staff.post(url, {"code": code}, format="json")
    assert error_of(locked, 429)["code"] == "too_many_attempts"
    assert Order.objects.get().status == OrderStatus.READY
    # Checking the shopper's identity still hands it over.
    checked = madrid_staff.post(url, {"identity_checked": True}, format="json")
    assert checked.status_code == 200 and checked.json()["status"] == "collected"
    assert not Reservation.objects.filter(status="active").exists()


def test_collect_input_and_state(shop, madrid_staff):
    order = place(shop, "a@example.com")
    url = f"{ORDERS}{order.number}/collect/"
    assert error_of(madrid_staff.post(url, {}, format="json"), 400)["fields"] == {
        "code": ["Give the pickup code, or check the shopper's identity."]
    }
    not_ready = madrid_staff.post(url, {"code": "123456"}, format="json")
    assert error_of(not_ready, 409)["code"] == "invalid_order_state"
    assert error_of(madrid_staff.post(f"{ORDERS}NOPE/ready/"), 404)


# --- Import -----------------------------------------------------------------------------------


def import_body(shop, **extra):
    return {
        "channel": "marketplace",
        "external_reference": "AMZ-405-1",
        "buyer": {"marketplace_id": "amz-buyer-9", "email": "luis@example.com"},
        "lines": [{"sku": shop.jeans.sku, "quantity": 2, "unit_price": "45.00"}],
        "shipping_address": ADDRESS,
        "latitude": 36.72,
        "longitude": -4.42,
        **extra,
    }


def test_import_is_idempotent_by_external_reference(shop, backoffice):
    first = backoffice.post(IMPORT, import_body(shop), format="json")
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["channel"] == "marketplace" and body["external_reference"] == "AMZ-405-1"
    assert body["fulfilment"] == "ship" and body["totals"]["subtotal"] == "90.00"
    assert body["lines"][0]["unit_price"] == "45.00"
    order = Order.objects.get()
    assert order.customer.identities.filter(kind="marketplace", value="amz-buyer-9").exists()

    again = backoffice.post(IMPORT, import_body(shop), format="json")
    assert again.status_code == 200, again.content
    assert again.json()["number"] == body["number"]
    assert Order.objects.count() == 1
    assert StockLevel.objects.get(variant=shop.jeans, location=shop.warehouse).reserved == 2


def test_import_with_an_idempotency_key(shop, backoffice):
    first = backoffice.post(IMPORT, import_body(shop), format="json", HTTP_IDEMPOTENCY_KEY="i-1")
    retry = backoffice.post(IMPORT, import_body(shop), format="json", HTTP_IDEMPOTENCY_KEY="i-1")
    assert first.status_code == retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    other = backoffice.post(
        IMPORT,
        import_body(shop, external_reference="AMZ-405-2"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="i-1",
    )
    assert error_of(other, 422)["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"lines": [{"sku": "NOPE", "quantity": 1, "unit_price": "1.00"}]}, "invalid"),
        ({"lines": []}, "invalid"),
        ({"buyer": {}}, "invalid"),
        ({"channel": "web"}, "invalid"),
        ({"shipping_address": {"name": "X"}}, "invalid"),
        ({"lines": [{"sku": "JEANS", "quantity": 11, "unit_price": "1.00"}]}, "insufficient_stock"),
        ({"lines": [{"sku": "JEANS", "quantity": 1, "unit_price": "-1"}]}, "invalid"),
    ],
)
def test_import_refusals_write_nothing(shop, backoffice, change, code):
    shop.jeans.sku = "JEANS"
    shop.jeans.save()
    response = backoffice.post(IMPORT, import_body(shop, **change), format="json")
    assert error_of(response, 409 if code == "insufficient_stock" else 400)["code"] == code
    assert not Order.objects.exists()
    assert not Reservation.objects.exists()


def test_store_staff_cannot_import(shop, madrid_staff):
    assert error_of(madrid_staff.post(IMPORT, import_body(shop), format="json"), 403)
    assert not Order.objects.exists()
