"""The public catalog API: products, variants and locations."""

from decimal import Decimal

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token

from inventory.models import LocationKind, Product
from omni import roles
from tests.factories import (
    CategoryFactory,
    LocationFactory,
    ProductFactory,
    UserFactory,
    VariantFactory,
)

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products/"
VARIANTS = "/api/v1/variants/"
LOCATIONS = "/api/v1/locations/"


@pytest.fixture(autouse=True)
def _clear_throttles():
    cache.clear()  # the API throttles count requests in the cache
    yield
    cache.clear()


def gtin13(body: str) -> str:
    """A valid EAN-13 from 12 digits (appends the check digit)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def product_with_variants(name, *variants, **product_fields):
    """``variants``: (size, colour, price) triples."""
    product = ProductFactory(name=name, **product_fields)
    for size, colour, price in variants:
        VariantFactory(product=product, size=size, colour=colour, price=Decimal(price))
    return product


@pytest.fixture
def backoffice_token():
    user = UserFactory(role=roles.BACKOFFICE_ADMIN)
    return Token.objects.create(user=user).key


# --- List and detail -------------------------------------------------------------------------


def test_product_list_is_paginated_and_nests_category_and_variants(client):
    shoes = CategoryFactory(name="Shoes", slug="shoes")
    product = ProductFactory(name="Runner", category=shoes, brand="Acme")
    cheap = VariantFactory(product=product, size="42", colour="white", price=Decimal("59.90"))
    dear = VariantFactory(product=product, size="43", colour="white", price=Decimal("79.90"))
    ProductFactory(name="Sandal", category=shoes)

    response = client.get(PRODUCTS)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [item["name"] for item in body["results"]] == ["Runner", "Sandal"]
    runner = body["results"][0]
    assert runner["category"] == {"id": shoes.pk, "name": "Shoes", "slug": "shoes", "parent": None}
    assert runner["brand"] == "Acme"
    assert runner["price_from"] == "59.90"
    assert runner["price_to"] == "79.90"
    assert [v["sku"] for v in runner["variants"]] == [cheap.sku, dear.sku]
    assert runner["variants"][0] == {
        "id": cheap.pk,
        "sku": cheap.sku,
        "gtin": None,
        "size": "42",
        "colour": "white",
        "price": "59.90",
    }
    assert body["results"][1]["variants"] == []
    assert body["results"][1]["price_from"] is None


def test_product_list_pagination_params(client):
    for n in range(5):
        ProductFactory(name=f"P{n}")

    response = client.get(PRODUCTS, {"page_size": 2, "page": 2})

    body = response.json()
    assert body["count"] == 5
    assert [item["name"] for item in body["results"]] == ["P2", "P3"]
    assert body["next"] and body["previous"]


def test_product_detail(client):
    product = product_with_variants("Parka", ("M", "green", "120.00"), ("L", "green", "125.00"))

    response = client.get(f"{PRODUCTS}{product.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == product.pk
    assert body["slug"] == product.slug
    assert body["price_from"] == "120.00"
    assert body["price_to"] == "125.00"
    assert {v["size"] for v in body["variants"]} == {"M", "L"}


def test_trailing_slash_is_optional(client):
    """The router is declared with ``trailing_slash="/?"``: no redirect without the slash."""
    product = ProductFactory()

    assert client.get(f"{PRODUCTS}{product.pk}").status_code == 200
    assert client.get(PRODUCTS.rstrip("/")).status_code == 200


# --- Filters ---------------------------------------------------------------------------------


def test_filter_by_category_includes_sub_categories(client):
    clothing = CategoryFactory(slug="clothing")
    coats = CategoryFactory(slug="coats", parent=clothing)
    rain = CategoryFactory(slug="rain-coats", parent=coats)
    food = CategoryFactory(slug="food")
    shirt = ProductFactory(name="Shirt", category=clothing)
    parka = ProductFactory(name="Parka", category=coats)
    poncho = ProductFactory(name="Poncho", category=rain)
    apple = ProductFactory(name="Apple", category=food)

    assert set(ids(client.get(PRODUCTS, {"category": "clothing"}))) == {
        shirt.pk,
        parka.pk,
        poncho.pk,
    }
    assert set(ids(client.get(PRODUCTS, {"category": "coats"}))) == {parka.pk, poncho.pk}
    assert ids(client.get(PRODUCTS, {"category": "rain-coats"})) == [poncho.pk]
    assert set(ids(client.get(PRODUCTS + "?category=rain-coats&category=food"))) == {
        poncho.pk,
        apple.pk,
    }


def test_unknown_category_slug_is_a_400(client):
    response = client.get(PRODUCTS, {"category": "no-such-category"})

    assert response.status_code == 400
    assert "category" in response.json()["error"]["fields"]


def test_filter_by_size_and_colour_is_case_insensitive(client):
    red_s = product_with_variants("Tee", ("S", "red", "10.00"), ("M", "blue", "12.00"))
    product_with_variants("Polo", ("L", "red", "30.00"))

    assert ids(client.get(PRODUCTS, {"size": "s"})) == [red_s.pk]
    polo = Product.objects.get(name="Polo")
    assert set(ids(client.get(PRODUCTS, {"colour": "RED"}))) == {red_s.pk, polo.pk}
    assert ids(client.get(PRODUCTS, {"size": "XL"})) == []


def test_size_colour_and_price_apply_to_the_same_variant(client):
    mixed = product_with_variants("Mixed", ("S", "red", "10.00"), ("M", "blue", "50.00"))
    blue_s = product_with_variants("Blue small", ("S", "blue", "20.00"))

    assert ids(client.get(PRODUCTS, {"size": "S", "colour": "blue"})) == [blue_s.pk]
    assert ids(client.get(PRODUCTS, {"size": "S", "colour": "red"})) == [mixed.pk]
    # The S variant costs 10, the 50 one is M: no single variant is S and >= 40.
    assert ids(client.get(PRODUCTS, {"size": "S", "price_min": "40"})) == []
    assert ids(client.get(PRODUCTS, {"size": "M", "price_min": "40"})) == [mixed.pk]
    assert ids(client.get(PRODUCTS, {"colour": "blue", "price_max": "30"})) == [blue_s.pk]


def test_price_range_filter(client):
    cheap = product_with_variants("Cheap", ("M", "black", "9.99"))
    mid = product_with_variants("Mid", ("M", "black", "25.00"))
    dear = product_with_variants("Dear", ("M", "black", "99.00"))

    assert ids(client.get(PRODUCTS, {"price_min": "10", "price_max": "99"})) == [dear.pk, mid.pk]
    assert ids(client.get(PRODUCTS, {"price_max": "9.99"})) == [cheap.pk]
    assert ids(client.get(PRODUCTS, {"price_min": "25", "price_max": "25"})) == [mid.pk]


def test_text_search_on_name_and_exact_sku(client):
    jacket = ProductFactory(name="Denim jacket")
    variant = VariantFactory(product=jacket, sku="DJ-001-M")
    ProductFactory(name="Linen trousers")

    assert ids(client.get(PRODUCTS, {"q": "denim"})) == [jacket.pk]
    assert ids(client.get(PRODUCTS, {"q": variant.sku.lower()})) == [jacket.pk]
    assert ids(client.get(PRODUCTS, {"q": "DJ-001"})) == []  # SKUs match exactly only
    assert ids(client.get(PRODUCTS, {"q": "nothing like this"})) == []


def test_inactive_products_and_variants_are_hidden_from_the_public(client):
    product = product_with_variants("Visible", ("S", "red", "10.00"))
    retired = VariantFactory(product=product, size="M", colour="red", price=Decimal("99.00"))
    retired.active = False
    retired.save()
    hidden = product_with_variants("Hidden", ("S", "red", "10.00"), active=False)

    body = client.get(PRODUCTS).json()
    assert [item["id"] for item in body["results"]] == [product.pk]
    visible = body["results"][0]
    assert [v["size"] for v in visible["variants"]] == ["S"]
    assert visible["price_to"] == "10.00"  # the inactive variant's price does not count
    # Filters ignore inactive variants too.
    assert ids(client.get(PRODUCTS, {"size": "M"})) == []
    assert client.get(f"{PRODUCTS}{hidden.pk}/").status_code == 404
    assert ids(client.get(VARIANTS)) == [product.variants.get(size="S").pk]


def test_staff_with_catalog_permissions_see_inactive_products_in_detail(client):
    hidden = ProductFactory(active=False)
    client.force_login(UserFactory(role=roles.BACKOFFICE_ADMIN))

    assert client.get(f"{PRODUCTS}{hidden.pk}/").status_code == 200
    assert hidden.pk not in ids(client.get(PRODUCTS))


@pytest.mark.parametrize("products", [10, 30])
def test_product_list_query_count_does_not_grow_with_rows(
    client, django_assert_max_num_queries, products
):
    parent = CategoryFactory(slug="all")
    for n in range(products):
        product = ProductFactory(category=CategoryFactory(parent=parent))
        for size in ("S", "M", "L", "XL"):
            VariantFactory(product=product, size=size, price=Decimal(10 + n))

    with django_assert_max_num_queries(4):
        response = client.get(PRODUCTS)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == products
    assert all(len(item["variants"]) == 4 for item in body["results"])

    with django_assert_max_num_queries(6):
        filtered = client.get(
            PRODUCTS, {"category": "all", "size": "M", "price_min": "10", "q": "Product"}
        )
    assert filtered.json()["count"] == products


# --- Variants and locations -------------------------------------------------------------------


def test_variant_lookup_by_gtin(client):
    code = gtin13("840000000001")
    wanted = VariantFactory(gtin=code)
    VariantFactory(gtin=gtin13("840000000002"))

    response = client.get(VARIANTS, {"gtin": code})

    assert ids(response) == [wanted.pk]
    item = response.json()["results"][0]
    assert item["sku"] == wanted.sku
    assert item["product"] == wanted.product_id
    assert item["price"] == "19.99"
    assert ids(client.get(VARIANTS, {"gtin": gtin13("840000000003")})) == []


def test_variant_lookup_by_sku(client):
    wanted = VariantFactory(sku="ABC-123")
    VariantFactory()

    assert ids(client.get(VARIANTS, {"sku": "abc-123"})) == [wanted.pk]


def test_locations_filter_by_kind_and_pickup_point(client):
    pickup_store = LocationFactory(name="Sol", is_pickup_point=True)
    LocationFactory(name="Serrano", is_pickup_point=False)
    LocationFactory(name="Hub", warehouse=True, is_pickup_point=True)
    LocationFactory(name="Closed", is_pickup_point=True, active=False)

    response = client.get(LOCATIONS, {"kind": "store", "is_pickup_point": "true"})

    assert ids(response) == [pickup_store.pk]
    item = response.json()["results"][0]
    assert item["kind"] == LocationKind.STORE
    assert item["timezone"] == "Europe/Madrid"
    assert Decimal(item["latitude"]) == pickup_store.latitude
    assert "staff" not in item
    assert len(ids(client.get(LOCATIONS, {"kind": "warehouse"}))) == 1
    assert len(ids(client.get(LOCATIONS))) == 3  # inactive locations are not listed


# --- Writes ----------------------------------------------------------------------------------


def test_anonymous_cannot_create_products(client):
    category = CategoryFactory(slug="shoes")

    response = client.post(
        PRODUCTS,
        {"name": "Boot", "slug": "boot", "category": category.slug},
        content_type="application/json",
    )

    assert response.status_code in (401, 403)
    error = response.json()["error"]
    assert error["code"] == "not_authenticated"
    assert error["message"]
    assert error["fields"] == {}
    assert not Product.objects.filter(slug="boot").exists()


def test_user_without_catalog_permissions_cannot_create_products(client):
    CategoryFactory(slug="shoes")
    client.force_login(UserFactory(role=roles.MARKETER))

    response = client.post(
        PRODUCTS,
        {"name": "Boot", "slug": "boot", "category": "shoes"},
        content_type="application/json",
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not Product.objects.filter(slug="boot").exists()


def test_backoffice_admin_creates_a_product_with_a_token(client, backoffice_token):
    CategoryFactory(slug="shoes")

    response = client.post(
        PRODUCTS,
        {"name": "Boot", "slug": "boot", "category": "shoes", "brand": "Acme"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {backoffice_token}",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["category"] == "shoes"
    product = Product.objects.get(slug="boot")
    assert body["id"] == product.pk
    assert product.category.slug == "shoes"
    assert product.brand == "Acme"
    assert product.active is True


def test_bad_category_slug_on_create_is_a_400(client, backoffice_token):
    response = client.post(
        PRODUCTS,
        {"name": "Boot", "slug": "boot", "category": "no-such-category"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {backoffice_token}",
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "category" in error["fields"]
    assert error["message"].startswith("category")
    assert not Product.objects.filter(slug="boot").exists()


def test_bad_token_is_rejected(client):
    response = client.get(PRODUCTS, HTTP_AUTHORIZATION="Token not-a-real-token")

    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "authentication_failed"
