"""A cart holds at most settings.CART_MAX_LINES lines (100 by default); a checkout of the most
lines works (its time is in BENCHMARKS.md, bench/cart_limit.py)."""

import pytest
from rest_framework.test import APIClient

from inventory import services as stock
from orders import services
from orders.models import Cart, CartLine, Order
from tests.api.test_checkout_api import LINES, checkout, error_of, new_cart, pickup_body
from tests.factories import VariantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]


def stocked_variants(shop, n):
    variants = VariantFactory.create_batch(n)
    for variant in variants:
        stock.receive_stock(variant=variant, location=shop.madrid, quantity=3)
    return variants


def test_the_line_after_the_limit_is_refused_and_nothing_is_written(shop, settings):
    settings.CART_MAX_LINES = 3
    api = APIClient()
    first, second, third, fourth = stocked_variants(shop, 4)
    token = new_cart(api, (first, 1), (second, 1), (third, 1))

    response = api.post(
        LINES, {"sku": fourth.sku, "quantity": 1}, format="json", HTTP_X_CART_TOKEN=token
    )

    assert error_of(response, 400)["code"] == "too_many_lines"
    assert CartLine.objects.filter(cart__token=token).count() == 3
    # A line already in the cart can still change.
    again = api.post(
        LINES, {"sku": first.sku, "quantity": 2}, format="json", HTTP_X_CART_TOKEN=token
    )
    assert again.status_code == 200, again.content


def test_a_merged_cart_over_the_limit_is_not_checked_out(shop, settings):
    settings.CART_MAX_LINES = 2
    variants = stocked_variants(shop, 3)
    api = APIClient()
    token = new_cart(api, (variants[0], 1), (variants[1], 1))
    cart = Cart.objects.get(token=token)
    CartLine.objects.create(cart=cart, variant=variants[2], quantity=1)  # as a merge would

    response = checkout(api, token, pickup_body(shop))

    assert error_of(response, 400)["code"] == "too_many_lines"
    assert not Order.objects.exists()


def test_a_cart_of_the_default_maximum_checks_out(shop, settings):
    assert settings.CART_MAX_LINES == 100
    variants = stocked_variants(shop, 100)
    api = APIClient()
    token = new_cart(api)
    cart = Cart.objects.get(token=token)
    for variant in variants:
        services.add_to_cart(cart=cart, variant=variant, quantity=1, channel="web")

    response = checkout(api, token, pickup_body(shop))

    assert response.status_code == 201, response.content
    assert len(response.json()["lines"]) == 100
