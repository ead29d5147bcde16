"""A small shop for order tests: a warehouse, two pickup stores (Madrid, Las Palmas) and stock."""

from decimal import Decimal

import pytest

from inventory import services as stock
from tests.factories import LocationFactory, VariantFactory


@pytest.fixture
def shop(db):
    warehouse = LocationFactory(
        warehouse=True,
        code="wh",
        name="Almacén Getafe",
        latitude=Decimal("40.30"),
        longitude=Decimal("-3.73"),
    )
    madrid = LocationFactory(code="mad", name="Tienda Gran Vía", is_pickup_point=True)
    canarias = LocationFactory(
        code="lpa",
        name="Tienda Las Palmas",
        is_pickup_point=True,
        city="Las Palmas",
        latitude=Decimal("28.1235"),
        longitude=Decimal("-15.4363"),
        timezone="Atlantic/Canary",
    )
    shirt = VariantFactory(price=Decimal("19.99"))
    jeans = VariantFactory(price=Decimal("49.90"))
    stock.receive_stock(variant=shirt, location=madrid, quantity=5)
    stock.receive_stock(variant=jeans, location=warehouse, quantity=10)
    stock.receive_stock(variant=shirt, location=warehouse, quantity=10)
    return type(
        "Shop",
        (),
        {
            "warehouse": warehouse,
            "madrid": madrid,
            "canarias": canarias,
            "shirt": shirt,
            "jeans": jeans,
        },
    )
