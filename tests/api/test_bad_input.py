"""Must show: every bad input to the API is a clean 4xx in the error format, never a 500, and
leaves nothing half-written.

Bodies with NUL or lone surrogates are encoded by hand (``json.dumps`` escapes them as
``\\u0000`` / ``\\ud800``), as a client would send them.
"""

import json

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from customers.models import Customer, Event, Identity
from inventory.models import Product, Variant
from omni import roles
from omni.models import IdempotencyKey
from orders.models import Cart, CartLine, Order
from tests.factories import UserFactory, VariantFactory

pytestmark = pytest.mark.django_db

CARTS = "/api/v1/carts/"
LINES = "/api/v1/carts/current/lines/"
COUPON = "/api/v1/coupons/check/"
CHECKOUT = "/api/v1/checkout/"
EVENTS = "/api/v1/events/"
UNSTORABLE = "Null characters and lone surrogates are not allowed."


@pytest.fixture
def backoffice(db):
    client = APIClient()
    client.force_authenticate(UserFactory(role=roles.BACKOFFICE_ADMIN))
    return client


@pytest.fixture
def cart(api, shop):
    """The token of an anonymous cart holding one shirt."""
    token = api.post(CARTS, {"anonymous_id": "device-1"}, format="json").json()["token"]
    added = api.post(LINES, {"sku": shop.shirt.sku, "quantity": 1}, HTTP_X_CART_TOKEN=token)
    assert added.status_code == 200, added.content
    return token


def send(api, path, body, method="post", **headers):
    """``body`` as a client would send it: JSON text, NUL and surrogates as \\u escapes."""
    text = body if isinstance(body, str | bytes) else json.dumps(body, ensure_ascii=True)
    return getattr(api, method)(path, text, content_type="application/json", **headers)


def error_of(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}
    assert isinstance(error["message"], str) and error["message"]
    return error


def written():
    """Every row the storefront endpoints write, counted."""
    return (
        Cart.objects.count(),
        CartLine.objects.count(),
        Order.objects.count(),
        IdempotencyKey.objects.count(),
        Customer.objects.count(),
        Identity.objects.count(),
        Event.objects.count(),
    )


# --- Deep nesting ------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
def test_deeply_nested_json_is_a_400_not_a_recursion_error(api, depth):
    before = written()

    error = error_of(send(api, CARTS, "[" * depth + "]" * depth), 400)

    assert error["code"] == "too_deep"
    assert "32" in error["message"]
    assert written() == before


def test_nesting_up_to_the_limit_is_parsed(api):
    nested = {}
    for _ in range(30):  # the body itself, "extra" and 30 levels: 32
        nested = {"a": nested}

    response = send(api, CARTS, {"anonymous_id": "device-9", "extra": nested})

    assert response.status_code == 201, response.content


def test_nesting_limit_is_a_setting(api, settings):
    settings.API_JSON_MAX_DEPTH = 2

    error = error_of(send(api, CARTS, {"anonymous_id": "d", "extra": {"a": {}}}), 400)

    assert error["code"] == "too_deep"
    assert "2" in error["message"]


def test_deep_nesting_inside_an_event_batch(api):
    deep = "[" * 5_000 + "]" * 5_000
    body = '{"batch": [{"type": "page", "anonymous_id": "d", "properties": {"x": ' + deep + "}}]}"

    assert error_of(send(api, EVENTS, body), 400)["code"] == "too_deep"
    assert not Event.objects.exists()


# --- Body size ---------------------------------------------------------------------------------


def test_ten_megabyte_json_body_is_a_413_in_the_error_format(api):
    body = {"anonymous_id": "x" * 10_000_000}

    error = error_of(send(api, CARTS, body), 413)

    assert error["code"] == "too_large"
    assert not Cart.objects.exists()


def test_ten_megabyte_form_body_is_a_413_in_the_error_format(api):
    body = "anonymous_id=" + "x" * 10_000_000

    response = api.post(CARTS, body, content_type="application/x-www-form-urlencoded")

    assert error_of(response, 413)["code"] == "too_large"


def test_body_limit_is_djangos_setting(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100

    error = error_of(send(api, CARTS, {"anonymous_id": "x" * 200}), 413)

    assert error["code"] == "too_large"


class ReadsBody:
    """A middleware that reads the body before any view does (as CSRF checks on forms do)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.body  # noqa: B018
        return self.get_response(request)


def test_a_body_read_before_drf_is_a_413_in_the_error_format(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.ReadsBody"]
    api = APIClient()  # loads the middleware on its first request

    error = error_of(send(api, CARTS, {"anonymous_id": "x" * 10_000_000}), 413)

    assert error["code"] == "too_large"


def test_a_big_body_outside_the_api_keeps_djangos_page(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100

    response = client.post("/accounts/login/", {"login": "x" * 200, "password": "y"})

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


# --- NUL and lone surrogates -------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b", "\udfff"])
def test_cart_line_sku_that_postgresql_cannot_store(api, cart, bad):
    before = written()

    error = error_of(send(api, LINES, {"sku": bad, "quantity": 1}, HTTP_X_CART_TOKEN=cart), 400)

    assert error["code"] == "invalid"
    assert error["fields"] == {"sku": [UNSTORABLE]}
    assert written() == before


@pytest.mark.parametrize("bad", ["m\x00", "\ud800"])
def test_checkout_location_that_postgresql_cannot_store(api, cart, bad):
    before = written()
    body = {"fulfilment": "pickup", "location": bad, "email": "g@example.com"}

    error = error_of(send(api, CHECKOUT, body, HTTP_X_CART_TOKEN=cart), 400)

    assert list(error["fields"]) == ["location"]
    assert written() == before


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"anonymous_id": "d", "channel": "web", "k\x00": 1}, "k\ufffd"),
        ({"anonymous_id": "d", "extra": [1, {"x": "\ud800"}]}, "extra[1].x"),
        ({"anonymous_id": "d", "extra": {"\udc00": "v"}}, "extra.\ufffd"),
        ('"\\u0000"', "body"),  # the whole body is one string
    ],
)
def test_keys_and_nested_values_anywhere_in_a_body_are_checked(api, body, path):
    before = written()

    error = error_of(send(api, CARTS, body), 400)

    assert error["fields"] == {path: [UNSTORABLE]}
    assert error["message"] == f"{path}: {UNSTORABLE}"
    assert written() == before


def test_form_bodies_are_checked_too(api):
    response = api.post(
        CARTS, "anonymous_id=a%00b", content_type="application/x-www-form-urlencoded"
    )

    assert error_of(response, 400)["fields"] == {"anonymous_id": [UNSTORABLE]}
    assert not Cart.objects.exists()


def test_coupon_code_with_nul(api, cart):
    response = send(api, COUPON, {"code": "SAVE\x0010"}, HTTP_X_CART_TOKEN=cart)

    assert error_of(response, 400)["fields"] == {"code": [UNSTORABLE]}


@pytest.mark.parametrize(
    ("headers", "where"),
    [
        ({"HTTP_X_CART_TOKEN": "tok\x00en"}, "header.X-Cart-Token"),
        ({"HTTP_IDEMPOTENCY_KEY": "key\x00"}, "header.Idempotency-Key"),
        ({"HTTP_AUTHORIZATION": "Token abc\x00"}, "header.Authorization"),
        ({"HTTP_USER_AGENT": "agent\x00"}, "header.User-Agent"),
    ],
)
def test_headers_used_as_data_are_checked(api, cart, headers, where):
    before = written()
    body = {"fulfilment": "pickup", "location": "mad", "email": "g@example.com"}
    headers.setdefault("HTTP_X_CART_TOKEN", cart)

    error = error_of(send(api, CHECKOUT, body, **headers), 400)

    assert error["fields"] == {where: [UNSTORABLE]}
    assert written() == before


def test_query_string_and_path_are_checked(api, backoffice):
    error = error_of(api.get("/api/v1/products/", {"q": "shirt\x00"}), 400)
    assert error["fields"] == {"query.q": [UNSTORABLE]}

    error = error_of(backoffice.get("/api/v1/orders/A-1\x00/"), 400)
    assert error["fields"] == {"path": [UNSTORABLE]}


# --- The event batch: typed fields, per-event errors -------------------------------------------


def good_event(n, **extra):
    return {
        "type": "track",
        "event": "product_viewed",
        "anonymous_id": f"good-{n}",
        "message_id": f"m-{n}",
        **extra,
    }


BAD_EVENTS = {
    "channel as a list": ({"channel": ["web"]}, "channel"),
    "channel as an object": ({"channel": {"web": 1}}, "channel"),
    "type as a list": ({"type": ["track"]}, "type"),
    "30 February": ({"timestamp": "2024-02-30T10:00:00+00:00"}, "timestamp"),
    "hour 25": ({"timestamp": "2024-02-03T25:00:00Z"}, "timestamp"),
    "offset of 25 hours": ({"timestamp": "2024-02-03T10:00:00+25:00"}, "timestamp"),
    "timestamp as a number": ({"timestamp": 1700000000}, "timestamp"),
    "after year 9999 in UTC": ({"timestamp": "9999-12-31T23:59:59-23:59"}, "timestamp"),
    "before year 1 in UTC": ({"timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp"),
    "properties as a list": ({"properties": [1, 2]}, "properties"),
    "properties as text": ({"properties": "x"}, "properties"),
    "traits as a list": ({"type": "identify", "traits": ["x"]}, "traits"),
    "anonymous_id as a list": ({"anonymous_id": ["d"]}, "anonymous_id"),
    "anonymous_id as a number": ({"anonymous_id": 7}, "anonymous_id"),
    "message_id as a number": ({"message_id": 7}, "message_id"),
    "event name as an object": ({"event": {"x": 1}}, "event"),
    "event name with NUL": ({"event": "view\x00ed"}, "event"),
    "anonymous_id with NUL": ({"anonymous_id": "dev\x00"}, "anonymous_id"),
    "anonymous_id with a lone surrogate": ({"anonymous_id": "dev\ud800"}, "anonymous_id"),
    "message_id with NUL": ({"message_id": "m\x00"}, "message_id"),
    "properties key with NUL": ({"properties": {"k\x00": 1}}, "properties.k\ufffd"),
    "properties value, a lone surrogate": (
        {"properties": {"a": [{"b": "\udc00"}]}},
        "properties.a[0].b",
    ),
    "traits value with NUL": (
        {"type": "identify", "traits": {"first_name": "Ana\x00"}},
        "traits.first_name",
    ),
    "order total out of range": (
        {"event": "order_placed", "properties": {"total": "1e30"}},
        "properties.total",
    ),
}


@pytest.mark.parametrize("case", BAD_EVENTS)
def test_a_bad_event_is_its_own_error_and_writes_nothing(api, case):
    change, field = BAD_EVENTS[case]
    bad = {**good_event(2), "anonymous_id": "bad-device", "message_id": "m-bad", **change}

    response = send(api, EVENTS, {"batch": [good_event(1), bad, good_event(3)]})

    assert response.status_code == 200, response.content
    first, error, third = response.json()
    assert (first["status"], error["status"], third["status"]) == ("created", "error", "created")
    assert error["index"] == 1 and error["error"]["code"] == "invalid"
    assert field in error["error"]["fields"], error
    assert Event.objects.count() == 2
    assert not Event.objects.filter(idempotency_key="m-bad").exists()
    assert not Identity.objects.filter(value__startswith="bad-device").exists()
    assert not Identity.objects.filter(value__startswith="dev").exists()


def test_an_offset_postgresql_does_not_take_is_stored_in_utc(api):
    event = good_event(1, timestamp="2024-02-03T23:30:00+23:00")

    [result] = send(api, EVENTS, {"batch": [event]}).json()

    assert result["status"] == "created", result
    stored = Event.objects.get(pk=result["event_id"]).occurred_at
    assert stored.isoformat() == "2024-02-03T00:30:00+00:00"


def test_the_batch_itself_must_be_a_list(api):
    for body in ({"batch": {"type": "page"}}, {"batch": "x"}, "3"):
        assert error_of(send(api, EVENTS, body), 400)["fields"] == {
            "batch": ['Send {"batch": [ ...events ]}.']
        }


# --- Deleting what other rows depend on --------------------------------------------------------


def test_deleting_a_variant_with_stock_history_is_a_409(backoffice, shop):
    error = error_of(backoffice.delete(f"/api/v1/variants/{shop.jeans.pk}/"), 409)

    assert error["code"] == "in_use"
    assert "stock ledger" in error["message"]
    assert "stock ledger" in error["fields"]["dependents"]
    assert Variant.objects.filter(pk=shop.jeans.pk).exists()


def test_deleting_a_product_with_stock_history_is_a_409(backoffice, shop):
    product = shop.jeans.product

    error = error_of(backoffice.delete(f"/api/v1/products/{product.pk}/"), 409)

    assert error["code"] == "in_use"
    assert "stock ledger" in error["message"]
    assert Product.objects.filter(pk=product.pk).exists()
    assert Variant.objects.filter(pk=shop.jeans.pk).exists()


def test_deleting_an_unused_product_still_works(backoffice, shop):
    unused = VariantFactory()  # never received, sold or put in a cart

    response = backoffice.delete(f"/api/v1/products/{unused.product.pk}/")

    assert response.status_code == 204
    assert not Variant.objects.filter(pk=unused.pk).exists()


# --- Errors never echo a huge value ------------------------------------------------------------


def test_an_unknown_megabyte_sku_is_not_echoed(api, cart):
    response = send(api, LINES, {"sku": "S" * 1_000_000, "quantity": 1}, HTTP_X_CART_TOKEN=cart)

    error = error_of(response, 400)
    assert len(response.content) < 1_000
    assert error["fields"]["sku"] == [f"Object with sku={'S' * 99}… does not exist."]
    assert error["message"] == f"sku: Object with sku={'S' * 99}… does not exist."


def test_an_unknown_long_sku_for_an_import_is_not_echoed(backoffice, shop):
    body = {
        "channel": "marketplace",
        "external_reference": "A-1",
        "buyer": {"email": "b@example.com"},
        "lines": [{"sku": "Q" * 50_000, "quantity": 1, "unit_price": "1.00"}],
        "shipping_address": {
            "name": "Ana",
            "line1": "Calle 1",
            "postal_code": "28013",
            "city": "Madrid",
            "country": "ES",
        },
    }

    response = send(backoffice, "/api/v1/orders/import/", body)

    assert error_of(response, 400)["code"] == "invalid"
    assert len(response.content) < 1_000


def test_a_huge_invalid_choice_is_cut_short(api):
    response = send(api, CARTS, {"anonymous_id": "d", "channel": "w" * 100_000})

    error = error_of(response, 400)
    assert len(response.content) < 1_000
    assert error["message"].endswith("…")


def test_a_huge_invalid_email_in_an_event_is_cut_short(api):
    server_key = UserFactory()
    server_key.user_permissions.add(Permission.objects.get(codename="add_event"))
    api.force_authenticate(server_key)

    response = send(api, EVENTS, {"batch": [good_event(1, email="@" + "e" * 100_000)]})

    [result] = response.json()
    assert result["status"] == "error" and "email" in result["error"]["fields"]
    assert len(response.content) < 1_000


# --- Wrong types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"sku": ["a"], "quantity": 1},
        {"sku": {"a": 1}, "quantity": 1},
        {"sku": True, "quantity": 1},
        {"sku": None, "quantity": 1},
        {"sku": 1.5, "quantity": 1},
        {"sku": "X", "quantity": "many"},
        {"sku": "X", "quantity": [1]},
        {"sku": "X", "quantity": 1, "channel": ["web"]},
        [{"sku": "X", "quantity": 1}],
        '"X"',
        3,
        None,
    ],
)
def test_wrong_types_for_a_cart_line(api, cart, body):
    before = written()

    error = error_of(send(api, LINES, body, HTTP_X_CART_TOKEN=cart), 400)

    assert error["code"] == "invalid"
    assert written() == before


@pytest.mark.parametrize(
    "change",
    [
        {"location": ["mad"]},
        {"location": {"code": "mad"}},
        {"location": True},
        {"fulfilment": ["pickup"]},
        {"fulfilment": "ship", "location": None, "shipping_address": ["Calle 1"]},
        {"latitude": {"x": 1}, "longitude": 1},
        {"latitude": "NaN", "longitude": "Infinity"},
        {"coupon": ["SAVE10"]},
        {"email": ["g@example.com"]},
        {"pay_at_pickup": "maybe"},
    ],
)
def test_wrong_types_at_checkout_write_nothing(api, cart, change):
    before = written()
    body = {"fulfilment": "pickup", "location": "mad", "email": "g@example.com", **change}

    error = error_of(send(api, CHECKOUT, body, HTTP_X_CART_TOKEN=cart), 400)

    assert error["code"] == "invalid"
    assert written() == before


@pytest.mark.parametrize("body", ['{"code": NaN}', '{"code": "x",', b'{"code": "\xed\xa0\x80"}'])
def test_bodies_that_are_not_strict_utf8_json(api, cart, body):
    error = error_of(send(api, COUPON, body, HTTP_X_CART_TOKEN=cart), 400)

    assert error["code"] == "parse_error"
