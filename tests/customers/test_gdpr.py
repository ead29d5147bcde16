"""GDPR: export everything about a person; erase them so no text column still names them.

Orders do not exist yet (the orders app comes later): the erasure test keeps the stock ledger
rows that name the customer by id; the orders app will add its own rows to this test's scope.
"""

import json

import pytest
from allauth.account.models import EmailAddress
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from customers import services
from customers.exceptions import CustomerNotLive
from customers.models import (
    Consent,
    ConsentChannel,
    ConsentPurpose,
    ConsentSource,
    Customer,
    CustomerStatus,
    CustomerTraits,
    Erasure,
    Event,
    Identity,
    IdentityKind,
    Merge,
    MergeReview,
)
from inventory.models import StockMovement
from inventory.services import receive_stock
from tests.factories import LocationFactory, UserFactory, VariantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]

EMAIL = "ana.perez@example.com"
PHONE = "+34600111222"
PHONE_NATIONAL = "600111222"

# PostgreSQL type OIDs of the columns that can hold text: text, char, varchar, json, jsonb.
TEXT_TYPE_OIDS = {25, 1042, 1043, 114, 3802}


def text_columns() -> list[tuple[str, str]]:
    columns = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                field_type = connection.introspection.data_types_reverse.get(column.type_code)
                if column.type_code in TEXT_TYPE_OIDS or field_type in (
                    "CharField",
                    "TextField",
                    "JSONField",
                ):
                    columns.append((table, column.name))
    return columns


def find_everywhere(needle: str) -> list[str]:
    """Every ``table.column`` of a text-like type whose value contains ``needle``."""
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    qn = connection.ops.quote_name
    hits = []
    with connection.cursor() as cursor:
        for table, column in text_columns():
            cursor.execute(
                f"SELECT count(*) FROM {qn(table)} WHERE {qn(column)}::text ILIKE %s", [pattern]
            )
            if cursor.fetchone()[0]:
                hits.append(f"{table}.{column}")
    return hits


@pytest.fixture
def admin_user(db):
    return UserFactory(email="dpo@omni.example", superuser=True)


@pytest.fixture
def shopper(db):
    """A shopper account with a verified e-mail (allauth), linked to her customer profile."""
    user = UserFactory(email=EMAIL, first_name="Ana", last_name="Pérez")
    EmailAddress.objects.create(user=user, email=EMAIL, verified=True, primary=True)
    return user


@pytest.fixture
def ana(shopper, staff_user):
    """Ana with everything a person leaves behind: identities, events, consents, a merge."""
    customer = services.customer_for_user(shopper)
    assert customer.user_id == shopper.pk
    services.identify(
        customer=customer,
        identifiers=[(IdentityKind.ANONYMOUS, "ana-phone-app"), (IdentityKind.SOCIAL, "@anap")],
        profile={"first_name": "Ana", "last_name": "Pérez", "home_store": "sol"},
    )
    # A till profile with her phone, merged into her web profile (its snapshot names the phone).
    till = services.identify(
        identifiers=[(IdentityKind.PHONE, "600 111 222"), (IdentityKind.POS_ID, "T1-0042")],
        source="store",
    )
    results = services.record_events(
        events=[
            {"type": "track", "event": "store_visit", "channel": "store", "phone": PHONE,
             "properties": {"store": "sol", "note": f"asked to be called on {PHONE_NATIONAL}"}},
            {"type": "track", "event": "order_placed", "email": EMAIL, "email_verified": True,
             "properties": {"total": "59.90", "receipt_email": EMAIL, "category": "shoes"}},
            {"type": "track", "event": "newsletter_form", "anonymous_id": "ana-phone-app",
             "properties": {"typed_email": EMAIL.upper(), "typed_phone": PHONE}},
        ]
    )  # fmt: skip
    assert [r.status for r in results] == ["created"] * 3
    services.identify(
        identifiers=[(IdentityKind.EMAIL, EMAIL, True), (IdentityKind.PHONE, PHONE)],
        source="store",
    )
    till.refresh_from_db()
    assert till.status == CustomerStatus.MERGED and till.merged_into_id == customer.pk
    services.set_consent(
        customer=customer,
        channel=ConsentChannel.SMS,
        purpose=ConsentPurpose.MARKETING,
        granted=True,
        source=ConsentSource.STORE,
        staff=staff_user,
        evidence={"signed_form": f"{EMAIL} / {PHONE}"},
    )
    services.recompute_traits()
    customer.refresh_from_db()
    return customer


def test_export_returns_everything_as_json(ana):
    data = services.export_customer(ana)

    text = json.dumps(data, cls=DjangoJSONEncoder)
    assert json.loads(text)["customer"]["id"] == ana.pk
    assert data["customer"]["first_name"] == "Ana"
    assert data["customer"]["status"] == CustomerStatus.LIVE
    assert {(i["kind"], i["value"]) for i in data["identities"]} == {
        ("email", EMAIL),
        ("phone", PHONE),
        ("pos_id", "T1-0042"),
        ("anonymous", "ana-phone-app"),
        ("social", "@anap"),
    }
    assert [(c["channel"], c["state"]) for c in data["consents"]] == [("sms", "granted")]
    assert {e["type"] for e in data["events"]} == {"store_visit", "order_placed", "custom"}
    assert {e["name"] for e in data["events"]} >= {"newsletter_form"}
    assert any(e["properties"].get("receipt_email") == EMAIL for e in data["events"])
    assert data["traits"]["orders_count"] == 1
    assert str(data["traits"]["revenue"]) == "59.90"
    assert len(data["merges"]) == 1


def test_erase_leaves_neither_email_nor_phone_in_any_text_column(ana, shopper, admin_user):
    location = LocationFactory(code="sol")
    variant = VariantFactory()
    movement = receive_stock(
        variant=variant, location=location, quantity=1, reference=f"customer:{ana.pk}"
    )
    MergeReview.objects.create(
        customer_a=ana,
        customer_b=services.identify(identifiers=[(IdentityKind.EMAIL, "bea@example.com")]),
        kind=IdentityKind.PHONE,
        value=PHONE,
        reason="test",
    )
    events_before = Event.objects.filter(customer=ana).count()
    # The search works: before the erasure it finds her in many places.
    assert len(find_everywhere(EMAIL)) >= 4
    assert find_everywhere(PHONE)
    assert find_everywhere(PHONE_NATIONAL)

    erased = services.erase_customer(customer=ana, acting_user=admin_user, reason="Art. 17 #12")

    assert find_everywhere(EMAIL) == []
    assert find_everywhere(PHONE) == []
    assert find_everywhere(PHONE_NATIONAL) == []
    assert find_everywhere("Pérez") == []

    assert erased.status == CustomerStatus.ERASED
    assert (erased.first_name, erased.last_name, erased.home_store) == ("", "", "")
    assert erased.user_id is None
    assert not Identity.objects.filter(customer=ana).exists()
    assert Customer.objects.filter(merged_into=ana).get().status == CustomerStatus.ERASED
    assert not CustomerTraits.objects.filter(customer=ana).exists()
    # Touchpoints and consent evidence stay as anonymous facts.
    assert Event.objects.filter(customer=ana).count() == events_before
    assert all(
        p == {} for p in Event.objects.filter(customer=ana).values_list("properties", flat=True)
    )
    assert Consent.objects.filter(customer=ana).count() == 1
    assert Merge.objects.get(survivor=ana).snapshot == {"erased": True}
    # The stock ledger keeps its rows.
    assert StockMovement.objects.filter(pk=movement.pk, reference=f"customer:{ana.pk}").exists()
    # Audited.
    erasure = Erasure.objects.get(customer=ana)
    assert erasure.acting_user_id == admin_user.pk
    assert erasure.reason == "Art. 17 #12"
    # The shopper account is anonymised and disabled.
    shopper.refresh_from_db()
    assert shopper.email != EMAIL and "erased" in shopper.email
    assert not shopper.is_active
    assert not shopper.has_usable_password()
    assert (shopper.first_name, shopper.last_name) == ("", "")
    assert not EmailAddress.objects.filter(user=shopper).exists()


def test_erasing_twice_is_a_no_op(ana, admin_user):
    services.erase_customer(customer=ana, acting_user=admin_user)
    ana.refresh_from_db()
    updated_at = ana.updated_at

    again = services.erase_customer(customer=ana, acting_user=admin_user, reason="again")

    assert again.status == CustomerStatus.ERASED
    assert again.updated_at == updated_at
    assert Erasure.objects.filter(customer=ana).count() == 1
    assert Erasure.objects.get(customer=ana).reason == ""


def test_an_erased_profile_takes_no_new_data(ana, admin_user):
    services.erase_customer(customer=ana, acting_user=admin_user)

    # Her e-mail arriving again starts a new, unrelated profile.
    fresh = services.identify(identifiers=[(IdentityKind.EMAIL, EMAIL, True)])
    assert fresh.pk != ana.pk
    with pytest.raises(CustomerNotLive):
        services.merge_customers(survivor=fresh, absorbed=ana, cause="test")


def test_erasing_a_profile_with_two_pending_reviews_against_the_same_profile(make_customer):
    # Ana and Bea both used two shared devices: two pending reviews for the same pair and kind.
    ana = make_customer(email="ana@example.com", anonymous_id="tablet-1")
    bea = services.identify(
        identifiers=[
            (IdentityKind.EMAIL, "bea@example.com", True),
            (IdentityKind.ANONYMOUS, "tablet-1"),
            (IdentityKind.ANONYMOUS, "tablet-2"),
        ]
    )
    services.identify(identifiers=[(IdentityKind.ANONYMOUS, "tablet-2")], customer=ana)
    assert set(MergeReview.objects.filter(status="pending").values_list("kind", "value")) == {
        ("anonymous", "tablet-1"),
        ("anonymous", "tablet-2"),
    }

    services.erase_customer(customer=ana)

    ana.refresh_from_db()
    assert ana.status == CustomerStatus.ERASED
    assert Erasure.objects.filter(customer=ana).exists()
    # The device ids were hers too: they leave the queue, which no longer offers the merge.
    assert not MergeReview.objects.filter(value__in=["tablet-1", "tablet-2"]).exists()
    assert not MergeReview.objects.filter(status="pending").exists()
    bea.refresh_from_db()
    assert bea.is_live
