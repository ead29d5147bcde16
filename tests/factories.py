"""factory_boy factories shared by the whole test suite.

``UserFactory(role=roles.MARKETER)`` puts the user in that role's Group (created by the data
migrations) and makes them staff; ``UserFactory(password="...")`` sets a usable password
(default: ``DEFAULT_PASSWORD``).
"""

from decimal import Decimal

import factory
from django.contrib.auth.models import Group
from factory.django import DjangoModelFactory

from inventory.models import Category, Location, LocationKind, Product, Variant
from omni import roles
from omni.models import User

DEFAULT_PASSWORD = "correct-horse-battery-staple-42"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@omni.example")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    is_active = True
    is_staff = False
    is_superuser = False

    class Params:
        superuser = factory.Trait(is_staff=True, is_superuser=True)

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted if extracted is not None else DEFAULT_PASSWORD)
        if create:
            obj.save(update_fields=["password"])

    @factory.post_generation
    def role(obj, create, extracted, **kwargs):
        """``role=`` one of ``omni.roles.ROLES``: join that Group and become staff."""
        if not extracted:
            return
        if extracted not in roles.ROLES:
            raise ValueError(f"Unknown role {extracted!r}; use one of {roles.ROLES}")
        if not create:
            raise ValueError("role= needs a saved user (use create, not build)")
        obj.groups.add(Group.objects.get(name=extracted))
        if not obj.is_staff:
            obj.is_staff = True
            obj.save(update_fields=["is_staff"])

    @factory.post_generation
    def locations(obj, create, extracted, **kwargs):
        """``locations=[loc, ...]``: assign the user to those locations (Location.staff)."""
        if create and extracted:
            obj.locations.add(*extracted)


class CategoryFactory(DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")
    parent = None


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n:05d}")
    slug = factory.Sequence(lambda n: f"product-{n}")
    category = factory.SubFactory(CategoryFactory)
    brand = "Omni"
    description = ""
    active = True


class VariantFactory(DjangoModelFactory):
    class Meta:
        model = Variant

    product = factory.SubFactory(ProductFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:06d}")
    gtin = None
    size = "M"
    colour = "black"
    price = Decimal("19.99")
    active = True


class LocationFactory(DjangoModelFactory):
    class Meta:
        model = Location
        skip_postgeneration_save = True

    kind = LocationKind.STORE
    code = factory.Sequence(lambda n: f"loc-{n}")
    name = factory.Sequence(lambda n: f"Location {n}")
    address = "Calle Mayor 1"
    city = "Madrid"
    postal_code = "28013"
    country = "ES"
    latitude = Decimal("40.416775")
    longitude = Decimal("-3.703790")
    timezone = "Europe/Madrid"
    opening_hours = factory.LazyFunction(
        lambda: {day: [["10:00", "21:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat")}
    )
    is_pickup_point = False
    ships_to_customers = False
    sells_online = True
    active = True

    class Params:
        warehouse = factory.Trait(
            kind=LocationKind.WAREHOUSE,
            name=factory.Sequence(lambda n: f"Warehouse {n}"),
            ships_to_customers=True,
            opening_hours=factory.LazyFunction(dict),
        )

    @factory.post_generation
    def staff(obj, create, extracted, **kwargs):
        """``staff=[user, ...]``: the users who work at this location."""
        if create and extracted:
            obj.staff.add(*extracted)
