"""Suppressed addresses (hard bounces, complaints, staff): idempotent, normalised, usable in
SQL by campaigns; a complaint withdraws the holders' e-mail marketing consent."""

import pytest

from customers import selectors, services
from customers.exceptions import CustomerNotLive, InvalidIdentifier
from customers.models import (
    Consent,
    ConsentPurpose,
    ConsentSource,
    ConsentState,
    Customer,
    Identity,
    IdentityKind,
    Suppression,
    SuppressionReason,
)

pytestmark = pytest.mark.django_db


def grant(customer, channel="email"):
    services.set_consent(
        customer=customer,
        channel=channel,
        purpose=ConsentPurpose.MARKETING,
        granted=True,
        source=ConsentSource.IMPORT,
    )


def email_state(customer):
    row = (
        Consent.objects.filter(customer=customer, channel="email", purpose="marketing")
        .order_by("-created_at", "-pk")
        .first()
    )
    return row and row.state


def test_suppress_is_idempotent_and_keeps_the_first_reason():
    row, created = services.suppress_address(
        kind="email", value=" Bob@Example.com", reason=SuppressionReason.HARD_BOUNCE
    )
    assert created and row.value == "bob@example.com"
    again, created = services.suppress_address(
        kind="email", value="bob@example.com", reason=SuppressionReason.MANUAL
    )
    assert not created and again.pk == row.pk and again.reason == SuppressionReason.HARD_BOUNCE
    assert Suppression.objects.count() == 1


def test_phones_are_normalised_to_e164():
    services.suppress_address(kind="phone", value="600 111 222", reason="manual")
    assert selectors.is_suppressed("phone", "+34600111222")
    assert selectors.is_suppressed("phone", "+34 600 111 222")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "loyalty_card", "value": "X1", "reason": "manual"}, "kind"),
        ({"kind": "email", "value": "a@example.com", "reason": "bored"}, "reason"),
        ({"kind": "email", "value": "not-an-email", "reason": "manual"}, "email"),
        ({"kind": "email", "value": "a\x00@example.com", "reason": "manual"}, "email"),
        ({"kind": "email", "value": 5, "reason": "manual"}, "email"),
    ],
)
def test_bad_input_is_refused_naming_the_field(kwargs, field):
    with pytest.raises(InvalidIdentifier) as info:
        services.suppress_address(**kwargs)
    assert field in info.value.fields
    assert Suppression.objects.count() == 0


def test_complaint_withdraws_every_live_holders_email_marketing(make_customer):
    verified = make_customer(email="shared@example.com")
    typed = services.record_contact(
        customer=make_customer(anonymous_id="device-2"),
        identifiers=[("email", "Shared@example.com")],
        source="web",
    )
    assert typed.pk != verified.pk
    other = make_customer(email="other@example.com")
    for customer in (verified, typed, other):
        grant(customer)
    grant(verified, "sms")
    services.suppress_address(
        kind="email",
        value="shared@example.com",
        reason=SuppressionReason.COMPLAINT,
        evidence={"event_id": "e1"},
    )
    assert email_state(verified) == ConsentState.WITHDRAWN
    assert email_state(typed) == ConsentState.WITHDRAWN
    assert email_state(other) == ConsentState.GRANTED
    sms = Consent.objects.filter(customer=verified, channel="sms").latest("pk")
    assert sms.state == ConsentState.GRANTED
    row = Consent.objects.filter(customer=verified, channel="email").latest("pk")
    assert row.source == ConsentSource.COMPLAINT and row.evidence["event_id"] == "e1"
    count = Consent.objects.count()
    services.suppress_address(kind="email", value="shared@example.com", reason="complaint")
    assert Consent.objects.count() == count  # a replay writes nothing more


def test_hard_bounce_leaves_consent_alone(make_customer):
    customer = make_customer(email="ana@example.com")
    grant(customer)
    services.suppress_address(kind="email", value="ana@example.com", reason="hard_bounce")
    assert email_state(customer) == ConsentState.GRANTED


def test_withdraw_marketing_is_idempotent(make_customer):
    customer = make_customer(email="ana@example.com")
    grant(customer)
    first = services.withdraw_marketing(
        customer=customer, channel="email", source=ConsentSource.UNSUBSCRIBE_LINK
    )
    assert first.state == ConsentState.WITHDRAWN
    again = services.withdraw_marketing(
        customer=customer, channel="email", source=ConsentSource.UNSUBSCRIBE_LINK
    )
    assert again is None
    assert Consent.objects.filter(customer=customer).count() == 2


def test_withdraw_marketing_refuses_an_erased_profile(make_customer):
    customer = make_customer(email="ana@example.com")
    services.erase_customer(customer=customer)
    with pytest.raises(CustomerNotLive):
        services.withdraw_marketing(customer=customer, channel="email", source="unsubscribe_link")


def test_suppressed_values_in_one_query(django_assert_num_queries):
    services.suppress_address(kind="email", value="a@example.com", reason="manual")
    services.suppress_address(kind="phone", value="+34600111222", reason="manual")
    with django_assert_num_queries(1):
        found = selectors.suppressed_values("email", ["a@example.com", "b@example.com"])
    assert found == {"a@example.com"}
    assert not selectors.is_suppressed("email", "b@example.com")
    assert not selectors.is_suppressed("email", "not an address")


def test_sql_expressions_for_campaigns(make_customer, django_assert_num_queries):
    one_bad = make_customer(email="bad@example.com")
    two_addresses = make_customer(email="bad2@example.com", card="C-2")
    Identity.objects.create(
        customer=two_addresses, kind="email", value="good@example.com", source="web"
    )
    clean = make_customer(email="fine@example.com")
    no_email = make_customer(card="C-9")
    for value in ("bad@example.com", "bad2@example.com"):
        services.suppress_address(kind="email", value=value, reason="hard_bounce")
    with django_assert_num_queries(1):
        mailable = set(
            Customer.objects.filter(
                selectors.has_unsuppressed_address(IdentityKind.EMAIL)
            ).values_list("pk", flat=True)
        )
    assert mailable == {two_addresses.pk, clean.pk}
    assert one_bad.pk not in mailable and no_email.pk not in mailable
    usable = Identity.objects.filter(kind="email").exclude(selectors.is_suppressed_address("email"))
    assert set(usable.values_list("value", flat=True)) == {"good@example.com", "fine@example.com"}


def test_profile_after_merges_follows_the_chain(make_customer):
    a = make_customer(email="a@example.com")
    b = make_customer(email="b@example.com")
    c = make_customer(email="c@example.com")
    services.merge_customers(survivor=b, absorbed=a, cause="test")
    services.merge_customers(survivor=c, absorbed=b, cause="test")
    assert selectors.profile_after_merges(a.pk) == c
    assert selectors.profile_after_merges(c.pk) == c
    assert selectors.profile_after_merges(10**9) is None


def test_contact_address_prefers_the_verified_one(make_customer):
    customer = make_customer(email="typed@example.com", verified=False, card="C-1")
    Identity.objects.create(
        customer=customer, kind="email", value="proven@example.com", verified=True, source="web"
    )
    assert selectors.contact_address(customer, "email") == "proven@example.com"
    assert selectors.contact_address(customer, "phone") is None


# --- Admin ------------------------------------------------------------------------------------


@pytest.fixture
def marketer(client):
    from omni import roles
    from tests.factories import UserFactory

    user = UserFactory(role=roles.MARKETER)
    client.force_login(user)
    return user


def test_a_marketer_suppresses_an_address_by_hand(client, marketer):
    response = client.post(
        "/admin/customers/suppression/add/", {"kind": "email", "value": " Ana@Example.com "}
    )
    assert response.status_code == 302, response.content
    row = Suppression.objects.get()
    assert (row.value, row.reason, row.evidence) == (
        "ana@example.com",
        SuppressionReason.MANUAL,
        {"staff": marketer.pk},
    )
    listing = client.get("/admin/customers/suppression/", {"q": "ANA@example.com"})
    assert "ana@example.com" in listing.content.decode()


@pytest.mark.parametrize(
    ("value", "message"),
    [("not-an-email", "valid e-mail"), ("ana@example.com", "already exists")],
)
def test_the_admin_form_names_the_problem(client, marketer, value, message):
    services.suppress_address(kind="email", value="ana@example.com", reason="hard_bounce")
    response = client.post("/admin/customers/suppression/add/", {"kind": "email", "value": value})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Suppression.objects.count() == 1


def test_a_marketer_cannot_lift_a_suppression(client, marketer):
    row, _ = services.suppress_address(kind="email", value="ana@example.com", reason="complaint")
    response = client.post(f"/admin/customers/suppression/{row.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Suppression.objects.filter(pk=row.pk).exists()
