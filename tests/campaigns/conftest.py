"""Fixtures for the campaigns tests: customers with traits, events, consents and orders, built
directly as rows (the segment compiler reads rows; how they came about is other apps' tests)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.models import (
    Channel,
    Consent,
    ConsentSource,
    ConsentState,
    Customer,
    CustomerTraits,
    Event,
    Identity,
    IdentityKind,
)
from orders.models import Fulfilment, Order, OrderLine, OrderStatus
from tests.factories import CategoryFactory, LocationFactory, ProductFactory, VariantFactory


def ids(queryset) -> set[int]:
    return set(queryset.values_list("pk", flat=True))


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def make_customer(db):
    """``make_customer(traits={...}, email=..., phone=..., **profile)``."""

    def make(*, traits=None, email=None, phone=None, **profile):
        profile.setdefault("first_name", "Ana")
        customer = Customer.objects.create(**profile)
        if traits is not None:
            CustomerTraits.objects.create(customer=customer, **traits)
        for kind, value in ((IdentityKind.EMAIL, email), (IdentityKind.PHONE, phone)):
            if value:
                Identity.objects.create(
                    customer=customer, kind=kind, value=value, source=Channel.WEB
                )
        return customer

    return make


@pytest.fixture
def add_event(db, now):
    def add(customer, type, *, ago=timedelta(hours=1), channel=Channel.WEB):
        return Event.objects.create(
            customer=customer, type=type, channel=channel, occurred_at=now - ago
        )

    return add


@pytest.fixture
def add_consent(db, now):
    """Append a consent row ``ago`` in the past (the table is append-only; the time is set
    by an UPDATE, as auto_now_add would otherwise stamp now)."""

    def add(customer, channel, state=ConsentState.GRANTED, *, purpose="marketing", ago=None):
        row = Consent.objects.create(
            customer=customer,
            channel=channel,
            purpose=purpose,
            state=state,
            source=ConsentSource.IMPORT,
        )
        if ago is not None:
            Consent.objects.filter(pk=row.pk).update(created_at=now - ago)
        return row

    return add


@pytest.fixture
def catalogue(db):
    shoes = CategoryFactory(slug="shoes", name="Shoes")
    boots = CategoryFactory(slug="boots", name="Boots", parent=shoes)
    shirts = CategoryFactory(slug="shirts", name="Shirts")
    return type(
        "Catalogue",
        (),
        {
            "boot": VariantFactory(product=ProductFactory(category=boots, slug="boot-x")),
            "shirt": VariantFactory(product=ProductFactory(category=shirts, slug="shirt-y")),
            "store": LocationFactory(code="mad"),
        },
    )


@pytest.fixture
def add_order(db, now):
    def add(
        customer,
        variant,
        location,
        *,
        channel=Channel.WEB,
        ago=timedelta(days=1),
        status=OrderStatus.COMPLETED,
    ):
        order = Order.objects.create(
            customer=customer,
            channel=channel,
            fulfilment=Fulfilment.SHIP,
            status=status,
            subtotal=Decimal("10.00"),
            discount_total=Decimal("0"),
            shipping_total=Decimal("0"),
            tax_total=Decimal("1.74"),
            total=Decimal("10.00"),
        )
        OrderLine.objects.create(
            order=order,
            variant=variant,
            sku=variant.sku,
            name="x",
            quantity=1,
            unit_price=Decimal("10.00"),
            tax_rate=Decimal("21.00"),
            tax=Decimal("1.74"),
            total=Decimal("10.00"),
            location=location,
        )
        Order.objects.filter(pk=order.pk).update(created_at=now - ago)
        return order

    return add


@pytest.fixture
def marketer(db):
    from omni import roles
    from tests.factories import UserFactory

    return UserFactory(role=roles.MARKETER)


@pytest.fixture
def make_segment(db, marketer):
    from campaigns import services

    def make(rules, name="Segment"):
        return services.save_segment(name=name, rules=rules, acting_user=marketer)

    return make
