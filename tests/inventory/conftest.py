"""Fixtures for the inventory stock tests: a store, a warehouse, variants and stock helpers."""

from dataclasses import dataclass

import pytest
from django.db.models import Sum

from inventory import services
from inventory.models import (
    Reservation,
    StockLevel,
    StockMovement,
    Transfer,
    TransferLine,
)
from tests.factories import LocationFactory, UserFactory, VariantFactory


@pytest.fixture
def store(db):
    """A store that sells online and is a pickup point (Madrid, Puerta del Sol)."""
    return LocationFactory(code="sol", name="Sol", is_pickup_point=True, sells_online=True)


@pytest.fixture
def other_store(db):
    return LocationFactory(code="gran-via", name="Gran Vía", is_pickup_point=True)


@pytest.fixture
def offline_store(db):
    """A store that sells at its counter only."""
    return LocationFactory(code="outlet", name="Outlet", sells_online=False)


@pytest.fixture
def warehouse(db):
    return LocationFactory(code="wh-central", warehouse=True)


@pytest.fixture
def variant(db):
    return VariantFactory(sku="TEE-BLK-M")


@pytest.fixture
def other_variant(db):
    return VariantFactory(sku="TEE-BLK-L")


@pytest.fixture
def staff_user(db):
    return UserFactory(email="clerk@omni.example", is_staff=True)


@pytest.fixture
def stock(db):
    """``stock(variant, location, 10)`` receives 10 units (through the service, with a ledger row)."""

    def receive(variant, location, quantity, **kwargs):
        services.receive_stock(variant=variant, location=location, quantity=quantity, **kwargs)
        return level_of(variant, location)

    return receive


def level_of(variant, location) -> StockLevel | None:
    """The current stock row of (variant, location), or None when there is none."""
    return StockLevel.objects.filter(variant=variant, location=location).first()


def movements_of(variant, location):
    return list(
        StockMovement.objects.filter(variant=variant, location=location).order_by(
            "created_at", "pk"
        )
    )


def ledger_total(variant, location) -> int:
    return (
        StockMovement.objects.filter(variant=variant, location=location).aggregate(t=Sum("delta"))[
            "t"
        ]
        or 0
    )


@dataclass(frozen=True)
class Snapshot:
    levels: tuple
    movements: int
    reservations: tuple
    transfers: tuple
    transfer_lines: tuple


def take_snapshot() -> Snapshot:
    """Everything a stock service may write, to assert that a refused call wrote nothing."""
    return Snapshot(
        levels=tuple(
            StockLevel.objects.order_by("pk").values_list(
                "pk",
                "variant_id",
                "location_id",
                "on_hand",
                "reserved",
                "safety_stock",
                "in_transit",
                "min_qty",
                "max_qty",
            )
        ),
        movements=StockMovement.objects.count(),
        reservations=tuple(
            Reservation.objects.order_by("pk").values_list(
                "pk", "variant_id", "location_id", "quantity", "status", "expires_at", "closed_at"
            )
        ),
        transfers=tuple(
            Transfer.objects.order_by("pk").values_list(
                "pk", "status", "shipped_at", "received_at", "expected_on"
            )
        ),
        transfer_lines=tuple(
            TransferLine.objects.order_by("pk").values_list(
                "pk", "transfer_id", "variant_id", "quantity", "received_qty"
            )
        ),
    )


@pytest.fixture
def snapshot(db):
    """``before = snapshot()`` … ``assert snapshot() == before``."""
    return take_snapshot
