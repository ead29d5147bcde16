"""Must show: every bad input to the API is a clean 4xx in the error format, never a 500, and
leaves nothing half-written.

Bodies with NUL or lone surrogates are encoded by hand (``json.dumps`` escapes them as
``\\u0000`` / ``\\ud800``), as a client would send them.
"""

import json

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from customers.models import Customer, Event, Identity
from inventory.models import Product, Variant
from omni import roles
from omni.models import IdempotencyKey
from orders.models import Cart, CartLine, Order
from tests.factories import UserFactory, VariantFactory
from tests.orders import conftest as orders_fixtures

pytestmark = pytest.mark.django_db

shop = orders_fixtures.shop

CARTS = "/api/v1/carts/"
LINES = "/api/v1/carts/current/lines/"
COUPON = "/api/v1/coupons/check/"
CHECKOUT = "/api/v1/checkout/"
EVENTS = "/api/v1/events/"
UNSTORABLE = "Null characters and lone surrogates are not allowed."


@pytest.fixture(autouse=True)
def _clear_throttles():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api():
    return APIClient()


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


def test_a_huge_invalid_choice_is_cut_short(api):
    response = send(api, CARTS, {"anonymous_id": "d", "channel": "w" * 100_000})

    error = error_of(response, 400)
    assert len(response.content) < 1_000
    assert error["message"].endswith("…")
