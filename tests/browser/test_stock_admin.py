import pytest

from inventory import services
from inventory.models import Location, LocationKind, StockLevel, StockMovement
from omni.roles import STORE_MANAGER, STORE_STAFF
from tests.browser.helpers import make_staff, sign_in
from tests.factories import VariantFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("roles"),
]


def _store(code, name, lat, lon):
    return Location.objects.create(
        kind=LocationKind.STORE, code=code, name=name, city=name, latitude=lat, longitude=lon
    )


def test_dashboard_shows_stock_map_with_one_dot_per_location(page):
    madrid = _store("mad", "Madrid", "40.42", "-3.70")
    canarias = _store("lpa", "Las Palmas", "28.10", "-15.41")
    variant = VariantFactory()
    services.receive_stock(variant=variant, location=madrid, quantity=8)
    services.receive_stock(variant=variant, location=canarias, quantity=2)
    make_staff("encargado@example.com", STORE_MANAGER)

    sign_in(page, "encargado@example.com")

    dots = page.locator("#stock-map circle")
    assert dots.count() == 2
    # The bigger stock gets the bigger dot; the Canaries sit in the inset, bottom left.
    radii = sorted(float(dots.nth(i).get_attribute("r")) for i in range(2))
    assert radii[0] < radii[1]
    assert "Las Palmas" in page.locator("#panel-stock-map").inner_text()


def test_store_staff_adjusts_stock_with_a_reason_from_the_tablet(page):
    store = _store("mad", "Madrid", "40.42", "-3.70")
    variant = VariantFactory()
    services.receive_stock(variant=variant, location=store, quantity=5)
    level = StockLevel.objects.get(variant=variant, location=store)
    user = make_staff("tienda@example.com", STORE_STAFF, [store])
    page.set_viewport_size({"width": 1024, "height": 768})  # shop-floor tablet

    sign_in(page, "tienda@example.com")
    page.goto(f"/admin/inventory/stocklevel/{level.pk}/change/")
    page.fill("input[name=adjust_by]", "-2")
    page.select_option("select[name=adjust_kind]", "write_off")
    with page.expect_navigation():
        page.click("input[name=_save]")
    # No reason: the form says so and nothing is written.
    assert page.locator(".errorlist").count() >= 1
    assert StockMovement.objects.filter(kind="write_off").count() == 0

    assert "reason" in page.locator(".errorlist").first.inner_text().lower()

    page.fill("input[name=adjust_reason]", "Broken zip")
    with page.expect_navigation():
        page.click("input[name=_save]")
    assert page.url.endswith("/admin/inventory/stocklevel/")
    movement = StockMovement.objects.get(kind="write_off")
    assert (movement.delta, movement.balance, movement.acting_user_id) == (-2, 3, user.pk)
    assert StockLevel.objects.get(pk=level.pk).on_hand == 3
