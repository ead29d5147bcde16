"""Coupon batches and personal codes: unique, unguessable single-use codes issued set-based,
bad input refused without writing anything, a CSV safe to open in a spreadsheet."""

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers import services as customer_services
from omni import roles
from orders import selectors, services
from orders.exceptions import InvalidCouponBatch
from orders.exports import csv_safe
from orders.models import Coupon, CouponBatch, CouponRedemption, Promotion, PromotionKind
from orders.pricing import CouponInvalid, CouponUsedUp, PricedLine, redeem_coupon
from orders.services import promotions
from tests.factories import UserFactory, VariantFactory

pytestmark = pytest.mark.django_db

BODY = f"[{promotions.CODE_ALPHABET}]{{{promotions.CODE_LENGTH}}}"


@pytest.fixture
def promotion():
    return Promotion.objects.create(name="Spring", kind=PromotionKind.PERCENTAGE, value=10)


def _shopper(email):
    return customer_services.identify(identifiers=[("email", email)], source="web")


def test_a_batch_is_n_unique_single_use_codes_with_the_prefix(promotion):
    user = UserFactory(role=roles.MARKETER)
    with CaptureQueriesContext(connection) as queries:
        batch = services.issue_coupon_batch(
            promotion=promotion, quantity=1200, prefix=" spring26 ", acting_user=user
        )
    assert len(queries) <= 8  # set-based: a handful of statements, not one per code
    codes = list(batch.coupons.values_list("code", flat=True))
    assert len(codes) == len(set(codes)) == 1200 == batch.quantity
    assert all(re.fullmatch(f"SPRING26-{BODY}", code) for code in codes)
    assert not set("0O1IL") & set("".join(code[9:] for code in codes))
    assert batch.coupons.filter(single_use=True, used=False, promotion=promotion).count() == 1200
    assert (batch.prefix, batch.created_by) == ("SPRING26", user)


def test_codes_have_enough_entropy():
    assert len(promotions.CODE_ALPHABET) ** promotions.CODE_LENGTH > 2**58
    assert len({promotions.new_code() for _ in range(5000)}) == 5000


def test_a_collision_with_an_existing_code_is_drawn_again(promotion, monkeypatch):
    Coupon.objects.create(promotion=promotion, code="DUP")
    draws = iter(["DUP", "AAA", "DUP", "BBB"])
    monkeypatch.setattr(promotions, "new_code", lambda prefix="": next(draws))
    batch = services.issue_coupon_batch(promotion=promotion, quantity=2)
    assert sorted(batch.coupons.values_list("code", flat=True)) == ["AAA", "BBB"]


def test_running_out_of_codes_writes_nothing(promotion, monkeypatch):
    Coupon.objects.create(promotion=promotion, code="DUP")
    monkeypatch.setattr(promotions, "new_code", lambda prefix="": "DUP")
    with pytest.raises(InvalidCouponBatch):
        services.issue_coupon_batch(promotion=promotion, quantity=3)
    assert not CouponBatch.objects.exists() and Coupon.objects.count() == 1


@pytest.mark.parametrize(
    ("quantity", "prefix", "field"),
    [
        (0, "", "quantity"),
        (100_001, "", "quantity"),
        (-5, "", "quantity"),
        ("10", "", "quantity"),
        (True, "", "quantity"),
        (None, "", "quantity"),
        (2**70, "", "quantity"),
        (10, "A-B", "prefix"),
        (10, "=CMD", "prefix"),
        (10, "X" * 13, "prefix"),
        (10, "AB\x00", "prefix"),
        (10, "\ud800", "prefix"),
        (10, "ÑU", "prefix"),
        (10, 42, "prefix"),
    ],
)
def test_bad_input_is_refused_naming_the_field(promotion, quantity, prefix, field):
    with pytest.raises(InvalidCouponBatch) as refused:
        services.issue_coupon_batch(promotion=promotion, quantity=quantity, prefix=prefix)
    assert field in refused.value.fields
    assert not CouponBatch.objects.exists() and not Coupon.objects.exists()


# --- Personal codes ----------------------------------------------------------------------------


def test_personal_codes_one_per_customer_again_on_a_retry(promotion):
    ana, ben = _shopper("ana@example.com"), _shopper("ben@example.com")
    codes = services.issue_personal_codes(
        promotion=promotion, customer_ids=[ana.pk, ben.pk, ana.pk], acting_user=None
    )
    assert set(codes) == {ana.pk, ben.pk} and codes[ana.pk] != codes[ben.pk]
    assert all(re.fullmatch(BODY, code) for code in codes.values())
    coupon = Coupon.objects.get(code=codes[ana.pk])
    assert (coupon.customer, coupon.single_use, coupon.used) == (ana, True, False)
    # A retried send gets the same codes back; nothing new is written.
    assert (
        services.issue_personal_codes(
            promotion=promotion, customer_ids=[ben.pk, ana.pk], acting_user=None
        )
        == codes
    )
    assert Coupon.objects.count() == 2


def test_many_customers_are_handled_a_chunk_at_a_time(promotion, monkeypatch):
    monkeypatch.setattr(promotions, "PERSONAL_CHUNK", 2)
    ids = [_shopper(f"c{i}@example.com").pk for i in range(5)]
    with CaptureQueriesContext(connection) as queries:
        codes = services.issue_personal_codes(
            promotion=promotion, customer_ids=ids, acting_user=None
        )
    assert sorted(codes) == sorted(ids) and len(set(codes.values())) == 5
    live_checks = [q for q in queries if 'FROM "customers_customer"' in q["sql"]]
    assert len(live_checks) == 3  # 2 + 2 + 1 ids
    assert Coupon.objects.filter(customer_id__in=ids).count() == 5


def test_personal_codes_skip_profiles_that_are_not_live(promotion):
    ana, ben = _shopper("ana@example.com"), _shopper("ben@example.com")
    customer_services.merge_customers(survivor=ana, absorbed=ben, cause="test")
    codes = services.issue_personal_codes(
        promotion=promotion, customer_ids=[ana.pk, ben.pk, 10**12], acting_user=None
    )
    assert list(codes) == [ana.pk]


@pytest.mark.parametrize("ids", [["1"], [1.5], [None], [True], range(100_001)])
def test_personal_codes_refuse_what_is_not_a_customer_id(promotion, ids):
    with pytest.raises(InvalidCouponBatch) as refused:
        services.issue_personal_codes(promotion=promotion, customer_ids=ids, acting_user=None)
    assert "customer_ids" in refused.value.fields
    assert not Coupon.objects.exists()


def test_personal_codes_remember_the_campaign_its_variant_and_the_holdout(promotion):
    ana, ben, cas = (_shopper(f"{n}@example.com") for n in ("ana", "ben", "cas"))
    codes = services.issue_personal_codes(
        promotion=promotion,
        customer_ids=[ana.pk, ben.pk, cas.pk],
        campaign_id=7,
        variant_ids={ana.pk: 70, ben.pk: 71},
        holdout_ids={cas.pk},
    )
    stored = {
        c.customer_id: (c.campaign_id, c.campaign_variant_id, c.holdout, c.single_use)
        for c in Coupon.objects.filter(code__in=codes.values())
    }
    assert stored == {
        ana.pk: (7, 70, False, True),
        ben.pk: (7, 71, False, True),
        cas.pk: (7, None, True, True),
    }
    # Without a campaign, as before: no campaign, no variant, not held out.
    plain = services.issue_personal_codes(promotion=promotion, customer_ids=[ana.pk])
    coupon = Coupon.objects.get(code=plain[ana.pk])
    assert (coupon.campaign_id, coupon.campaign_variant_id, coupon.holdout) == (None, None, False)


def test_an_unused_code_is_given_again_only_for_the_same_campaign(promotion):
    ana = _shopper("ana@example.com")
    first = services.issue_personal_codes(
        promotion=promotion, customer_ids=[ana.pk], campaign_id=7, variant_ids={ana.pk: 70}
    )
    # A retried send of campaign 7 gets the same code back, as it was issued.
    again = services.issue_personal_codes(
        promotion=promotion, customer_ids=[ana.pk], campaign_id=7, variant_ids={ana.pk: 71}
    )
    assert again == first
    assert Coupon.objects.get(code=first[ana.pk]).campaign_variant_id == 70
    # Another campaign of the same promotion, or none, issues its own code.
    other = services.issue_personal_codes(promotion=promotion, customer_ids=[ana.pk], campaign_id=8)
    plain = services.issue_personal_codes(promotion=promotion, customer_ids=[ana.pk])
    assert len({first[ana.pk], other[ana.pk], plain[ana.pk]}) == 3
    assert services.issue_personal_codes(promotion=promotion, customer_ids=[ana.pk]) == plain
    assert sorted(Coupon.objects.values_list("campaign_id", flat=True), key=str) == [
        7,
        8,
        None,
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"campaign_id": "7"}, "campaign_id"),
        ({"campaign_id": 0}, "campaign_id"),
        ({"campaign_id": True}, "campaign_id"),
        ({"campaign_id": 7, "variant_ids": [1]}, "variant_ids"),
        ({"campaign_id": 7, "variant_ids": {1: "a"}}, "variant_ids"),
        ({"campaign_id": 7, "holdout_ids": "12"}, "holdout_ids"),
        ({"campaign_id": 7, "holdout_ids": [None]}, "holdout_ids"),
        ({"campaign_id": 7, "holdout_ids": None}, "holdout_ids"),
        ({"holdout_ids": [1]}, "campaign_id"),
        ({"variant_ids": {1: 2}}, "campaign_id"),
    ],
)
def test_campaign_arguments_are_checked(promotion, kwargs, field):
    ana = _shopper("ana@example.com")
    with pytest.raises(InvalidCouponBatch) as refused:
        services.issue_personal_codes(promotion=promotion, customer_ids=[ana.pk], **kwargs)
    assert field in refused.value.fields
    assert not Coupon.objects.exists()


def test_personal_offers_are_the_codes_a_customer_can_redeem_now_in_the_channel(promotion):
    ana, ben = _shopper("ana@example.com"), _shopper("ben@example.com")
    now = timezone.now()

    def code_of(customer, **promotion_fields):
        promo = Promotion.objects.create(
            name=str(promotion_fields), kind=PromotionKind.PERCENTAGE, value=5, **promotion_fields
        )
        return services.issue_personal_codes(promotion=promo, customer_ids=[customer.pk])[
            customer.pk
        ]

    good = [
        code_of(ana),
        code_of(ana, channels=["store", "web"]),
        code_of(ana, starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=1)),
        code_of(ana, max_uses=5, times_used=4),
    ]
    code_of(ben)
    code_of(ana, active=False)
    web_only = code_of(ana, channels=["web"])
    code_of(ana, starts_at=now + timedelta(days=1))
    code_of(ana, ends_at=now - timedelta(seconds=1))
    code_of(ana, max_uses=5, times_used=5)
    used = code_of(ana)
    Coupon.objects.filter(code=used).update(used=True)
    services.issue_personal_codes(
        promotion=promotion, customer_ids=[ana.pk], campaign_id=3, holdout_ids=[ana.pk]
    )

    offers = selectors.personal_offers(ana, channel="store", now=now)
    assert [c.code for c in offers] == good
    web = [c.code for c in selectors.personal_offers(ana, channel="web", now=now)]
    assert sorted(web) == sorted([*good, web_only])


def _lines():
    variant = VariantFactory(price=Decimal("20"))
    return [PricedLine(variant=variant, quantity=1, unit_price=Decimal("20"))]


def test_a_personal_code_is_redeemed_once_and_only_by_its_customer(promotion):
    ana, ben = _shopper("ana@example.com"), _shopper("ben@example.com")
    code = services.issue_personal_codes(
        promotion=promotion, customer_ids=[ana.pk], acting_user=None
    )[ana.pk]
    lines = _lines()
    for stranger in (ben, None):
        with pytest.raises(CouponInvalid):
            redeem_coupon(code=code, lines=lines, channel="web", reference="x", customer=stranger)
    redeem_coupon(code=code.lower(), lines=lines, channel="store", reference="a", customer=ana)
    with pytest.raises(CouponUsedUp):
        redeem_coupon(code=code, lines=lines, channel="web", reference="b", customer=ana)
    assert CouponRedemption.objects.count() == 1
    # Used: the next campaign gives Ana a new code.
    again = services.issue_personal_codes(
        promotion=promotion, customer_ids=[ana.pk], acting_user=None
    )
    assert again[ana.pk] != code


def test_personal_codes_follow_the_customer_into_a_merge(promotion):
    ana, ben = _shopper("ana@example.com"), _shopper("ben@example.com")
    code = services.issue_personal_codes(
        promotion=promotion, customer_ids=[ben.pk], acting_user=None
    )[ben.pk]
    customer_services.merge_customers(survivor=ana, absorbed=ben, cause="test")
    assert Coupon.objects.get(code=code).customer == ana
    redeem_coupon(code=code, lines=_lines(), channel="web", reference="a", customer=ana)


# --- Admin and CSV -------------------------------------------------------------------------------


def test_a_marketer_issues_a_batch_in_the_admin_and_downloads_its_codes(client, promotion):
    promotion.name = '=HYPERLINK("http://evil")'
    promotion.save()
    client.force_login(UserFactory(role=roles.MARKETER))
    response = client.post(
        "/admin/orders/couponbatch/add/",
        {"promotion": promotion.pk, "quantity": "25", "prefix": "flyer"},
    )
    batch = CouponBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/orders/couponbatch/{batch.pk}/change/"
    page = client.get(response["Location"]).content.decode()
    assert f"/admin/orders/couponbatch/{batch.pk}/codes.csv" in page
    assert 'name="quantity"' not in page  # issued batches are read-only

    download = client.get(f"/admin/orders/couponbatch/{batch.pk}/codes.csv")
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
    assert "attachment" in download["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert rows[0] == ["code", "promotion", "batch prefix", "used"]
    assert len(rows) == 26
    assert {row[0] for row in rows[1:]} == set(batch.coupons.values_list("code", flat=True))
    assert all(row[1] == '\'=HYPERLINK("http://evil")' for row in rows[1:])


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"quantity": "0", "prefix": ""}, "quantity"),
        ({"quantity": "100001", "prefix": ""}, "quantity"),
        ({"quantity": "ten", "prefix": ""}, "quantity"),
        ({"quantity": "5", "prefix": "=1+1"}, "prefix"),
        ({"quantity": "5", "prefix": "a b"}, "prefix"),
        ({"quantity": "5", "prefix": "X" * 13}, "prefix"),
    ],
)
def test_the_batch_form_names_the_bad_field(client, promotion, fields, field):
    client.force_login(UserFactory(role=roles.MARKETER))
    response = client.post("/admin/orders/couponbatch/add/", {"promotion": promotion.pk, **fields})
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not CouponBatch.objects.exists() and not Coupon.objects.exists()


def test_a_store_clerk_cannot_download_codes(client, promotion):
    batch = services.issue_coupon_batch(promotion=promotion, quantity=2)
    client.force_login(UserFactory(role=roles.STORE_STAFF))
    assert client.get(f"/admin/orders/couponbatch/{batch.pk}/codes.csv").status_code == 403
    client.force_login(UserFactory(role=roles.MARKETER))
    assert client.get("/admin/orders/couponbatch/999999/codes.csv").status_code == 404


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(start):
    assert csv_safe(f"{start}SUM(A1)") == f"'{start}SUM(A1)"
    assert csv_safe("SPRING-ABC") == "SPRING-ABC" and csv_safe(None) == ""
