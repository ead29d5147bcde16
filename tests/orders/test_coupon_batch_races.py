"""Two batches issued at the same moment on PostgreSQL, drawing from a code space small enough
to collide often: each still gets exactly its quantity of codes, and no code exists twice."""

import pytest

from customers.models import Customer
from orders import services
from orders.models import Coupon, CouponBatch, Promotion, PromotionKind
from orders.services import promotions
from tests.concurrency.conftest import run_in_threads

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]


def test_two_batches_at_once_stay_unique_even_when_codes_collide(monkeypatch):
    monkeypatch.setattr(promotions, "CODE_LENGTH", 3)  # 29,791 codes: collisions are certain
    promotion = Promotion.objects.create(name="Race", kind=PromotionKind.PERCENTAGE, value=5)

    results = run_in_threads(
        lambda i: services.issue_coupon_batch(promotion=promotion, quantity=3000, prefix="R"),
        2,
    )

    assert all(isinstance(r, CouponBatch) for r in results), results
    for batch in results:
        assert Coupon.objects.filter(batch=batch).count() == 3000
    codes = list(Coupon.objects.values_list("code", flat=True))
    assert len(codes) == len(set(codes)) == 6000


def test_two_issuers_of_personal_codes_give_each_customer_one_code(monkeypatch):
    promotion = Promotion.objects.create(name="Race", kind=PromotionKind.PERCENTAGE, value=5)
    ids = [Customer.objects.create().pk for _ in range(200)]

    results = run_in_threads(
        lambda i: services.issue_personal_codes(
            promotion=promotion, customer_ids=ids, acting_user=None
        ),
        2,
    )

    assert results[0] == results[1] and len(results[0]) == 200, results
    assert Coupon.objects.count() == 200
