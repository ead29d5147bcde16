import pytest

from inventory.models import Location, LocationKind
from omni.roles import STORE_MANAGER, STORE_STAFF
from tests.browser.helpers import make_staff, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("roles"),
]


def test_store_staff_signs_in_and_sees_only_their_store(page):
    granvia = Location.objects.create(kind=LocationKind.STORE, code="mad-gv", name="Gran Vía")
    Location.objects.create(kind=LocationKind.STORE, code="bcn-pg", name="Passeig de Gràcia")
    staff = make_staff("tienda@example.com", STORE_STAFF)
    granvia.staff.add(staff)

    sign_in(page, "tienda@example.com")
    page.goto("/admin/inventory/location/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "Gran Vía" in rows.first.inner_text()
    assert "Passeig" not in page.content()


def test_store_manager_sees_every_location_and_spanish_ui(page):
    Location.objects.create(kind=LocationKind.STORE, code="mad-gv", name="Gran Vía")
    Location.objects.create(kind=LocationKind.WAREHOUSE, code="wh-1", name="Almacén Getafe")
    make_staff("encargado@example.com", STORE_MANAGER)

    sign_in(page, "encargado@example.com")
    page.goto("/admin/inventory/location/")
    assert page.locator("#result_list tbody tr").count() == 2

    # The language picker in the admin header switches the whole UI to Spanish.
    page.goto("/admin/")
    page.select_option("#language-select", "es")
    page.wait_for_function("document.documentElement.lang === 'es'")
    assert "Panel" in page.title()
    page.goto("/admin/inventory/location/")
    assert "Ubicaciones" in page.content()
