"""Promotions and coupons: every rule, and bad codes refused without writing anything."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError
from django.utils import timezone

from customers import services as customer_services
from inventory.models import Category
from orders.models import Coupon, CouponRedemption, Promotion, PromotionKind
from orders.pricing import (
    CouponInvalid,
    CouponUsedUp,
    PricedLine,
    check_coupon,
    redeem_coupon,
)
from tests.factories import ProductFactory, VariantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]


def _line(price, quantity=1, variant=None):
    variant = variant or VariantFactory(price=Decimal(price))
    return PricedLine(variant=variant, quantity=quantity, unit_price=Decimal(price))


def _coupon(code="SAVE", **promotion):
    promotion.setdefault("kind", PromotionKind.PERCENTAGE)
    promotion.setdefault("value", Decimal("10"))
    single_use = promotion.pop("single_use", False)
    return Coupon.objects.create(
        promotion=Promotion.objects.create(name=code, **promotion),
        code=code,
        single_use=single_use,
    )


def test_percentage_rounds_half_up_to_the_cent():
    _coupon(value=Decimal("15"))
    discount = check_coupon(code=" save ", lines=[_line("19.99", 3)], channel="web")
    assert discount.amount == Decimal("9.00")  # 59.97 × 15 % = 8.9955 → 9.00


def test_fixed_amount_never_exceeds_the_eligible_total_and_free_shipping():
    _coupon(kind=PromotionKind.FIXED_AMOUNT, value=Decimal("50"))
    assert check_coupon(code="SAVE", lines=[_line("30.00")], channel="app").amount == Decimal(
        "30.00"
    )
    _coupon(code="SHIP", kind=PromotionKind.FREE_SHIPPING)
    discount = check_coupon(code="ship", lines=[_line("30.00")], channel="web")
    assert discount.free_shipping and discount.amount == 0


def test_only_eligible_categories_count_including_sub_categories():
    shoes = Category.objects.create(name="Shoes", slug="shoes")
    boots = Category.objects.create(name="Boots", slug="boots", parent=shoes)
    coupon = _coupon(value=Decimal("50"))
    coupon.promotion.categories.add(shoes)
    boot = VariantFactory(product=ProductFactory(category=boots), price=Decimal("80"))
    lines = [_line("80.00", variant=boot), _line("20.00")]

    assert check_coupon(code="SAVE", lines=lines, channel="web").amount == Decimal("40.00")
    with pytest.raises(CouponInvalid):
        check_coupon(code="SAVE", lines=[_line("20.00")], channel="web")


@pytest.mark.parametrize(
    "promotion, channel, message",
    [
        ({"active": False}, "web", "ended"),
        ({"ends_at": timezone.now() - timedelta(minutes=1)}, "web", "not valid at this time"),
        ({"starts_at": timezone.now() + timedelta(days=1)}, "web", "not valid at this time"),
        ({"channels": ["store"]}, "web", "channel"),
        ({"min_basket": Decimal("100")}, "web", "at least"),
    ],
)
def test_invalid_coupons_say_why_and_write_nothing(promotion, channel, message):
    _coupon(**promotion)
    with pytest.raises(CouponInvalid, match=message):
        redeem_coupon(code="SAVE", lines=[_line("50.00")], channel=channel, reference="o-1")
    assert not CouponRedemption.objects.exists()
    assert Promotion.objects.get().times_used == 0


def test_unknown_code():
    with pytest.raises(CouponInvalid, match="Unknown"):
        check_coupon(code="NOPE", lines=[_line("10.00")], channel="web")


def test_single_use_code_redeems_once_across_channels():
    _coupon(single_use=True)
    redeem_coupon(code="SAVE", lines=[_line("10.00")], channel="web", reference="o-1")
    with pytest.raises(CouponUsedUp):
        redeem_coupon(code="SAVE", lines=[_line("10.00")], channel="store", reference="o-2")
    assert CouponRedemption.objects.count() == 1
    assert Promotion.objects.get().times_used == 1


def test_overall_and_per_customer_limits():
    _coupon(max_uses=2, max_uses_per_customer=1)
    ana = customer_services.identify(identifiers=[("email", "ana@example.com", True)])
    bob = customer_services.identify(identifiers=[("email", "bob@example.com", True)])
    redeem_coupon(code="SAVE", lines=[_line("10")], channel="web", reference="1", customer=ana)
    with pytest.raises(CouponUsedUp):
        redeem_coupon(code="SAVE", lines=[_line("10")], channel="app", reference="2", customer=ana)
    redeem_coupon(code="SAVE", lines=[_line("10")], channel="store", reference="3", customer=bob)
    with pytest.raises(CouponUsedUp):
        redeem_coupon(code="SAVE", lines=[_line("10")], channel="web", reference="4")
    assert Promotion.objects.get().times_used == 2


def test_database_refuses_a_second_redemption_of_a_single_use_code():
    coupon = _coupon(single_use=True)
    fields = {
        "coupon": coupon,
        "promotion": coupon.promotion,
        "channel": "web",
        "discount": Decimal("1"),
        "single_use": True,
    }
    CouponRedemption.objects.create(reference="a", **fields)
    with pytest.raises(IntegrityError):
        CouponRedemption.objects.create(reference="b", **fields)


def test_backoffice_admin_creates_a_promotion_with_codes_in_the_admin(client):
    from omni import roles
    from tests.factories import UserFactory

    client.force_login(UserFactory(role=roles.BACKOFFICE_ADMIN))
    response = client.post(
        "/admin/orders/promotion/add/",
        {
            "name": "Black Friday",
            "kind": "percentage",
            "value": "20",
            "min_basket": "0",
            "channels": ["web", "store"],
            "active": "on",
            "coupons-TOTAL_FORMS": "1",
            "coupons-INITIAL_FORMS": "0",
            "coupons-MIN_NUM_FORMS": "0",
            "coupons-MAX_NUM_FORMS": "1000",
            "coupons-0-code": "bf 2026",
            "coupons-0-single_use": "",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert Coupon.objects.get().code == "BF2026"
    assert Promotion.objects.get().channels == ["web", "store"]

    client.force_login(UserFactory(role=roles.STORE_STAFF))
    assert client.get("/admin/orders/promotion/add/").status_code == 403
