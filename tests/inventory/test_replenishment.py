"""The replenishment plan (stores below min → max) and the ``replenish`` command."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from inventory import selectors, services
from inventory.models import Transfer, TransferStatus

pytestmark = pytest.mark.django_db


def _params(variant, location, **params):
    services.set_stock_parameters(variant=variant, location=location, **params)


def test_warehouses_come_first_then_stores_above_their_max(
    stock, store, other_store, warehouse, variant
):
    stock(variant, store, 1)
    _params(variant, store, min_qty=4, max_qty=10)  # needs 9
    stock(variant, warehouse, 5)
    stock(variant, other_store, 12)
    _params(variant, other_store, min_qty=2, max_qty=8)  # 4 above its max

    plan = selectors.replenishment_plan()

    assert [(line.source_code, line.destination_code, line.quantity) for line in plan] == [
        (warehouse.code, store.code, 5),
        (other_store.code, store.code, 4),
    ]


def test_reserved_units_safety_stock_and_incoming_units_are_respected(
    stock, store, warehouse, variant
):
    stock(variant, store, 1)
    _params(variant, store, min_qty=3, max_qty=6)  # needs 5
    stock(variant, warehouse, 10)
    _params(variant, warehouse, safety_stock=2)
    services.reserve(lines=[services.StockLine(variant.pk, warehouse.pk, 5)], owner="cart:1")

    [line] = selectors.replenishment_plan()
    assert line.quantity == 3  # 10 on hand − 5 reserved − 2 safety stock

    services.create_replenishment_transfers(plan=[line])
    # The draft counts as incoming: 1 + 3 ≥ min 3, nothing more to plan.
    assert selectors.replenishment_plan() == []


def test_command_prints_the_plan_and_applies_it_once(stock, store, warehouse, variant):
    stock(variant, store, 1)
    _params(variant, store, min_qty=2, max_qty=5)
    stock(variant, warehouse, 20)

    out = StringIO()
    call_command("replenish", "--store", store.code, stdout=out)
    assert "1 line(s), 4 unit(s)" in out.getvalue()
    assert not Transfer.objects.exists()

    call_command("replenish", "--apply", stdout=StringIO())
    transfer = Transfer.objects.get()
    assert (transfer.source, transfer.destination, transfer.status) == (
        warehouse,
        store,
        TransferStatus.DRAFT,
    )
    assert list(transfer.lines.values_list("variant_id", "quantity")) == [(variant.pk, 4)]

    call_command("replenish", "--apply", stdout=StringIO())
    assert Transfer.objects.count() == 1


def test_command_refuses_an_unknown_store():
    with pytest.raises(CommandError, match="nope"):
        call_command("replenish", "--store", "nope", stdout=StringIO())
