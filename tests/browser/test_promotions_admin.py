"""A marketer, in the browser: a promotion with its channels ticked, a batch of codes for it,
and the CSV of those codes downloaded. Screenshots at 1024×768 go to /tmp/helpers/shots/."""

import csv
import io
from pathlib import Path

import pytest

from omni.roles import MARKETER
from orders.models import Coupon, CouponBatch, Promotion
from tests.browser.helpers import make_staff, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("roles"),
]

SHOTS = Path("/tmp/helpers/shots")


def _shot(page, name):
    if SHOTS.is_dir():
        page.screenshot(path=str(SHOTS / name), full_page=False)


def test_a_marketer_creates_a_promotion_and_a_coupon_batch_and_downloads_the_codes(page):
    make_staff("marketing@example.com", MARKETER)
    page.set_viewport_size({"width": 1024, "height": 768})
    sign_in(page, "marketing@example.com", start="/admin/orders/promotion/add/")

    page.fill("input[name=name]", "Spring 26")
    page.select_option("select[name=kind]", "percentage")
    page.fill("input[name=value]", "15")
    page.check("input[name=channels][value=web]")
    page.check("input[name=channels][value=store]")
    page.locator("input[name=channels][value=web]").scroll_into_view_if_needed()
    _shot(page, "promotion_channels.png")
    with page.expect_navigation():
        page.click("input[name=_continue]")
    promotion = Promotion.objects.get()
    assert promotion.channels == ["web", "store"]
    assert page.locator("input[name=channels][value=store]").is_checked()

    # From the promotion's page to a batch of its codes.
    page.locator("text=Issue a batch of codes").scroll_into_view_if_needed()
    _shot(page, "promotion_saved.png")
    with page.expect_navigation():
        page.click("text=Issue a batch of codes")
    assert page.locator("select[name=promotion]").input_value() == str(promotion.pk)
    page.fill("input[name=quantity]", "40")
    page.fill("input[name=prefix]", "spring26")
    _shot(page, "coupon_batch_add.png")
    with page.expect_navigation():
        page.click("input[name=_save]")
    batch = CouponBatch.objects.get()
    assert page.url.endswith(f"/admin/orders/couponbatch/{batch.pk}/change/")
    assert "40 codes issued" in page.locator(".messagelist").inner_text()
    assert page.locator("input[name=_save]").count() == 0  # issued: read-only
    _shot(page, "coupon_batch_issued.png")

    with page.expect_download() as info:
        page.click("text=Download CSV")
    text = Path(info.value.path()).read_text()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "code" and len(rows) == 41
    codes = {row[0] for row in rows[1:]}
    assert codes == set(Coupon.objects.filter(batch=batch).values_list("code", flat=True))
    assert all(code.startswith("SPRING26-") for code in codes)
