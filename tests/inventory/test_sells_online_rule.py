""" "A location may sell online" is written once (inventory/models.py) in three forms: the ORM
filter, the SQL condition the reservation statements use, and the property of a loaded row.
They must pick the same locations."""

import itertools

import pytest
from django.db import connection

from inventory.models import SELLS_ONLINE_SQL, Location, StockLevel, sells_online_q
from tests.factories import LocationFactory, VariantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def every_kind_of_location():
    variant = VariantFactory()
    for n, (active, online) in enumerate(itertools.product([True, False], repeat=2)):
        location = LocationFactory(code=f"loc{n}", active=active, sells_online=online)
        StockLevel.objects.create(variant=variant, location=location, on_hand=1)
    return variant


def test_the_orm_the_sql_and_the_property_agree(every_kind_of_location):
    orm = set(Location.objects.selling_online().values_list("code", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT l.code FROM {Location._meta.db_table} AS l "
            f"WHERE {SELLS_ONLINE_SQL.format(alias='l')}"
        )
        sql = {code for (code,) in cursor.fetchall()}
    python = {loc.code for loc in Location.objects.all() if loc.sells_online_now}
    related = set(
        StockLevel.objects.filter(sells_online_q("location__")).values_list(
            "location__code", flat=True
        )
    )

    assert orm == sql == python == related == {"loc0"}
