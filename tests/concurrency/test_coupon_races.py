from decimal import Decimal

import pytest

from orders.models import Coupon, CouponRedemption, Promotion, PromotionKind
from orders.pricing import CouponUsedUp, PricedLine, redeem_coupon
from tests.factories import VariantFactory

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sql_path"),
]


def test_50_concurrent_redemptions_of_one_single_use_coupon_give_exactly_one(concurrently):
    promotion = Promotion.objects.create(
        name="Welcome", kind=PromotionKind.FIXED_AMOUNT, value=Decimal("5")
    )
    Coupon.objects.create(promotion=promotion, code="WELCOME-1", single_use=True)
    variant = VariantFactory(price=Decimal("20"))
    lines = [PricedLine(variant=variant, quantity=1, unit_price=Decimal("20"))]
    channels = ["web", "app", "store", "marketplace", "social"]

    results = concurrently(
        lambda i: redeem_coupon(
            code="welcome-1", lines=lines, channel=channels[i % 5], reference=f"order-{i}"
        ),
        50,
    )

    won = [r for r in results if isinstance(r, CouponRedemption)]
    lost = [r for r in results if isinstance(r, CouponUsedUp)]
    assert len(won) == 1 and len(lost) == 49, [type(r) for r in results]
    assert CouponRedemption.objects.count() == 1
    assert Promotion.objects.get().times_used == 1
    assert Coupon.objects.get().used
