"""A message shows the shopper's cart items in stock at their store, and the store: their home
store when it holds everything, else the store holding the most, nearest first."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from campaigns import personal, planning, reports, sending
from campaigns.models import CampaignStatus, CampaignVariant
from inventory.models import StockLevel
from orders.models import Cart, CartLine, CartStatus
from tests.campaigns.pipeline import campaign, shopper
from tests.factories import LocationFactory, VariantFactory

pytestmark = pytest.mark.django_db
NOON_MADRID = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
TEMPLATE = (
    "<p>{% for p in products %}[{{ p.name }} {{ p.price }} {{ p.url }}]{% endfor %}</p>"
    "<p>{{ store.name }} · {{ store.address }}</p>"
)


@pytest.fixture
def shop(settings):
    settings.CAMPAIGN_PRODUCT_URL = "https://shop.example/p/{slug}/"
    home = LocationFactory(code="home", name="Gran Vía", address="Gran Vía 1")
    near = LocationFactory(code="near", name="Sol", latitude=Decimal("40.4169"))
    far = LocationFactory(code="far", name="Barcelona", latitude=Decimal("41.3874"))
    boots = VariantFactory(product__name="Botas", product__slug="botas", size="38", colour="")
    coat = VariantFactory(product__name="Abrigo", price=Decimal("89.90"))
    return {"home": home, "near": near, "far": far, "boots": boots, "coat": coat}


def yesterday():
    return datetime.now(UTC) - timedelta(days=1)


def stock(location, variant, on_hand=3, reserved=0):
    StockLevel.objects.create(
        location=location, variant=variant, on_hand=on_hand, reserved=reserved
    )


def cart_of(customer, *variants, status=CartStatus.OPEN):
    cart = Cart.objects.create(customer=customer, status=status)
    for variant in variants:
        CartLine.objects.create(cart=cart, variant=variant, quantity=1)
    return cart


def shown(customer):
    return personal.for_customers([customer])[customer.pk]


def test_home_store_holding_the_whole_cart(shop):
    ana = shopper(home_store="home")
    cart_of(ana, shop["boots"], shop["coat"])
    for variant in (shop["boots"], shop["coat"]):
        stock(shop["home"], variant)
        stock(shop["near"], variant)
    data = shown(ana)
    assert data["store"] == {"name": "Gran Vía", "address": "Gran Vía 1, 28013 Madrid"}
    assert data["products"] == [
        {"name": "Botas (38)", "price": Decimal("19.99"), "url": "https://shop.example/p/botas/", "image": ""},
        {"name": "Abrigo (M, black)", "price": Decimal("89.90"), "url": data["products"][1]["url"], "image": ""},
    ]  # fmt: skip


def test_the_store_holding_most_of_the_cart_then_the_nearest(shop):
    ana = shopper(home_store="home")
    cart_of(ana, shop["boots"], shop["coat"])
    stock(shop["home"], shop["boots"])  # one of two at home
    for store in (shop["near"], shop["far"]):  # both at two others: the nearer wins
        stock(store, shop["boots"])
        stock(store, shop["coat"])
    data = shown(ana)
    assert data["store"]["name"] == "Sol"
    assert [p["name"] for p in data["products"]] == ["Botas (38)", "Abrigo (M, black)"]


def test_reserved_units_are_not_in_stock_and_the_latest_cart_counts(shop):
    ana = shopper(home_store="home")
    old = cart_of(ana, shop["coat"], status=CartStatus.ABANDONED)
    Cart.objects.filter(pk=old.pk).update(updated_at=yesterday())
    cart_of(ana, shop["boots"], shop["coat"])
    stock(shop["home"], shop["boots"])
    stock(shop["home"], shop["coat"], on_hand=2, reserved=2)  # all held for someone else
    data = shown(ana)
    assert data["store"]["name"] == "Gran Vía"  # nobody holds the coat: home it is
    assert [p["name"] for p in data["products"]] == ["Botas (38)"]


def test_no_cart_shows_no_products_and_the_home_store(shop):
    data = shown(shopper(home_store="home"))
    assert data["products"] == [] and data["store"]["name"] == "Gran Vía"
    assert shown(shopper()) == {"products": [], "store": {}}


def test_only_templates_naming_them_pay_for_the_reads():
    assert personal.needed([CampaignVariant(content={"email": {"html": TEMPLATE}})])
    plain = CampaignVariant(content={"email": {"subject": "Hola", "html": "<p>Hola</p>"}})
    assert not personal.needed([plain])


def test_the_sent_email_and_the_preview_show_the_cart_at_the_store(shop, outbox, settings):
    settings.CAMPAIGN_QUIET_HOURS = ("21:00", "09:00")
    ana = shopper(home_store="home", preferred_language="es")
    cart_of(ana, shop["boots"])
    stock(shop["near"], shop["boots"])
    made = campaign(status=CampaignStatus.SENDING)
    CampaignVariant.objects.filter(campaign=made).update(
        content={"email": {"subject": "Tu carrito", "html": TEMPLATE}}
    )
    preview = reports.preview_context(made, ana, "email")
    assert [p["name"] for p in preview["products"]] == ["Botas (38)"]
    planning.plan_campaign(campaign=made, now=NOON_MADRID)
    assert sending.send_batch(campaign_id=made.pk, now=NOON_MADRID).sent == 1
    (message,) = outbox
    assert (
        "[Botas (38) 19.99 " in message.html and "Sol · Calle Mayor 1, 28013 Madrid" in message.html
    )


def test_without_a_cart_best_sellers_in_stock_at_their_store_favourites_first(
    shop, add_order, make_customer
):
    from customers.models import CustomerTraits
    from tests.factories import CategoryFactory

    buyer = make_customer()
    dresses = CategoryFactory(slug="dresses")
    dress = VariantFactory(product__name="Vestido", product__category=dresses)
    dress_other_size = VariantFactory(product=dress.product, size="L")
    hat = VariantFactory(product__name="Sombrero")
    for variant, sold in ((shop["boots"], 5), (hat, 4), (dress, 2), (dress_other_size, 2)):
        for _ in range(sold):
            add_order(buyer, variant, shop["home"])
    add_order(buyer, shop["coat"], shop["home"], status="cancelled")  # not a sale
    for variant in (shop["boots"], shop["coat"], dress, dress_other_size):  # the hat: none
        stock(shop["home"], variant)
    ana = shopper(home_store="home")
    CustomerTraits.objects.create(customer=ana, favourite_categories=["dresses"])
    names = [p["name"] for p in shown(ana)["products"]]
    assert names == ["Vestido (M, black)", "Botas (38)"]  # one dress, the best seller; no hat
    ben = shopper()  # no home store: the store he buys at most
    CustomerTraits.objects.create(customer=ben, preferred_store="home")
    data = shown(ben)
    assert data["store"]["name"] == "Gran Vía"
    assert [p["name"] for p in data["products"]] == ["Botas (38)", "Vestido (M, black)"]
