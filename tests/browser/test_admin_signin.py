import pytest
from django.contrib.auth.models import Group

from inventory.models import Location, LocationKind
from omni.models import User
from omni.roles import STORE_MANAGER, STORE_STAFF

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("roles"),
]


def _staff(email, role):
    user = User.objects.create_user(email=email, password="s3cret-Pass!", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def _sign_in(page, email):
    page.goto("/admin/")
    # The admin sends anonymous users to allauth's sign-in page (where MFA applies).
    assert "/accounts/login/" in page.url
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", "s3cret-Pass!")
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")


def test_store_staff_signs_in_and_sees_only_their_store(page):
    granvia = Location.objects.create(kind=LocationKind.STORE, code="mad-gv", name="Gran Vía")
    Location.objects.create(kind=LocationKind.STORE, code="bcn-pg", name="Passeig de Gràcia")
    staff = _staff("tienda@example.com", STORE_STAFF)
    granvia.staff.add(staff)

    _sign_in(page, "tienda@example.com")
    page.goto("/admin/inventory/location/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "Gran Vía" in rows.first.inner_text()
    assert "Passeig" not in page.content()


def test_store_manager_sees_every_location_and_spanish_ui(page):
    Location.objects.create(kind=LocationKind.STORE, code="mad-gv", name="Gran Vía")
    Location.objects.create(kind=LocationKind.WAREHOUSE, code="wh-1", name="Almacén Getafe")
    _staff("encargado@example.com", STORE_MANAGER)

    _sign_in(page, "encargado@example.com")
    page.goto("/admin/inventory/location/")
    assert page.locator("#result_list tbody tr").count() == 2

    # The language picker in the admin header switches the whole UI to Spanish.
    page.goto("/admin/")
    page.select_option("#language-select", "es")
    page.wait_for_function("document.documentElement.lang === 'es'")
    assert "Panel" in page.title()
    page.goto("/admin/inventory/location/")
    assert "Ubicaciones" in page.content()
