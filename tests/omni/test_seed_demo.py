from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from inventory.models import Category, Location, LocationKind, Product, Variant, validate_gtin
from omni.models import User
from omni.roles import ROLES

# Transactional: the seeded rows are truncated afterwards instead of rolled back, so the
# thousands of dead rows they would leave do not slow the tests that run after them.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("roles")]


def _counts():
    return {
        model.__name__: model.objects.count()
        for model in (Category, Product, Variant, Location, User)
    }


def test_seed_demo_builds_a_realistic_retailer():
    out = StringIO()
    call_command("seed_demo", stdout=out)

    assert Location.objects.filter(kind=LocationKind.WAREHOUSE).count() == 2
    stores = Location.objects.filter(kind=LocationKind.STORE)
    assert stores.count() == 8
    assert stores.values("city").distinct().count() >= 6
    # Real coordinates in Spain (Canaries included) and real time zones.
    for location in Location.objects.all():
        assert 27 < location.latitude < 44 and -19 < location.longitude < 5
    assert set(Location.objects.values_list("timezone", flat=True)) == {
        "Europe/Madrid",
        "Atlantic/Canary",
    }
    assert 180 <= Product.objects.count() <= 260
    assert Variant.objects.values("size").distinct().count() > 5
    assert Variant.objects.values("colour").distinct().count() > 3
    for gtin in Variant.objects.values_list("gtin", flat=True)[:200]:
        validate_gtin(gtin)

    # One demo user per role, each password printed once.
    for role in ROLES:
        assert Group.objects.get(name=role).user_set.filter(is_staff=True).count() == 1
    assert out.getvalue().count("password: ") == len(ROLES)
    staff = Group.objects.get(name="Store staff").user_set.get()
    assert staff.locations.count() == 1


def test_seed_demo_twice_does_not_fail_or_duplicate():
    call_command("seed_demo", stdout=StringIO())
    first = _counts()
    passwords = dict(User.objects.values_list("email", "password"))

    out = StringIO()
    call_command("seed_demo", stdout=out)

    assert _counts() == first
    assert "password: " not in out.getvalue()  # not reset, not printed again
    assert dict(User.objects.values_list("email", "password")) == passwords
