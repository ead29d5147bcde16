"""The identity-claim rule (top of customers/services/profiles.py), service by service."""

import pytest
from allauth.account.models import EmailAddress
from allauth.account.signals import email_confirmed

from customers import selectors, services
from customers.exceptions import ProfileClaimed
from customers.models import Customer, Identity, Merge, MergeReview
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]


def guest(device="device-1", **contact):
    """A device's profile that typed contact data at a guest checkout."""
    profile = services.identify(identifiers=[("anonymous", device)], source="web")
    typed = list(contact.items())
    return services.record_contact(customer=profile, identifiers=typed, source="web")


def verified_user(email):
    user = UserFactory(email=email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def test_claimed_means_an_account_or_a_proven_identifier(make_customer):
    assert not selectors.is_claimed(guest("d0").pk)
    assert not selectors.is_claimed(guest("d1", email="a@example.com", phone="600111222").pk)
    assert selectors.is_claimed(make_customer(email="b@example.com", verified=True).pk)
    assert not selectors.is_claimed(make_customer(email="c@example.com", verified=False).pk)
    assert selectors.is_claimed(make_customer(card="CARD-1").pk)
    assert selectors.is_claimed(make_customer(phone="600999888").pk)  # a till vouched for it
    assert selectors.is_claimed(services.customer_for_user(UserFactory()).pk)


def test_typed_contact_stays_on_the_typists_profile_and_merges_nothing(make_customer):
    owner = make_customer(email="ana@example.com", phone="600111222")

    typist = guest(email="ANA@example.com", phone="+34 600 111 222")

    assert typist.pk != owner.pk and not Merge.objects.exists() and not MergeReview.objects.exists()
    assert set(typist.identities.values_list("kind", "value", "verified")) >= {
        ("email", "ana@example.com", False),
        ("phone", "+34600111222", False),
    }
    assert not typist.is_anonymous  # a guest who gave contact data is no longer anonymous


def test_a_claimed_profile_takes_no_typed_contact(make_customer):
    owner = make_customer(email="ana@example.com")

    with pytest.raises(ProfileClaimed):
        services.record_contact(
            customer=owner, identifiers=[("email", "x@example.com")], source="web"
        )
    assert not Identity.objects.filter(value="x@example.com").exists()


def test_an_unverified_account_gets_its_own_profile_not_the_guests():
    typist = guest(email="ana@example.com")
    user = UserFactory(email="ana@example.com")

    profile = services.customer_for_user(user)

    assert profile.pk != typist.pk and profile.user == user
    assert profile.identities.get(kind="email").verified is False
    assert Customer.objects.get(pk=typist.pk).status == "live"


def test_a_verified_account_brings_the_guests_that_typed_its_email():
    one, two = guest("d1", email="ana@example.com"), guest("d2", email="ana@example.com")
    user = verified_user("ana@example.com")

    profile = services.customer_for_user(user)

    assert profile.user == user
    guests = Customer.objects.filter(pk__in=[one.pk, two.pk]).exclude(pk=profile.pk)
    assert {c.status for c in guests} == {"merged"}
    live = Customer.objects.filter(status="live", identities__value="ana@example.com")
    assert list(live) == [profile]
    assert profile.identities.get(kind="email").verified


def test_verifying_never_takes_a_profile_of_another_account(make_customer):
    other_user = UserFactory(email="first@example.com")
    theirs = services.customer_for_user(other_user)
    services.link_verified_identifier(customer=theirs, kind="email", value="ana@example.com")
    me = services.customer_for_user(UserFactory(email="me@example.com"))

    result = services.link_verified_identifier(customer=me, kind="email", value="ana@example.com")

    assert result.pk == me.pk
    assert Customer.objects.get(pk=theirs.pk).user == other_user
    assert Identity.objects.get(
        kind="email", value="ana@example.com", verified=True
    ).customer_id == (theirs.pk)
    assert MergeReview.objects.filter(value="ana@example.com", status="pending").count() == 1
    assert not Merge.objects.exists()


def test_the_allauth_confirmation_links_the_email():
    typist = guest(email="ana@example.com")
    user = UserFactory(email="ana@example.com")
    profile = services.customer_for_user(user)
    address = EmailAddress.objects.create(user=user, email="ana@example.com", primary=True)

    email_confirmed.send(sender=EmailAddress, request=None, email_address=address)

    survivor = Customer.objects.get(user=user, status="live")
    assert {survivor.pk} <= {profile.pk, typist.pk}
    assert Customer.objects.filter(status="live", identities__value="ana@example.com").count() == 1


def test_a_profile_proven_otherwise_that_typed_the_value_waits_for_review(make_customer):
    till_customer = make_customer(card="CARD-7")
    # An e-mail written down at the till, never verified.
    Identity.objects.create(
        customer=till_customer, kind="email", value="ana@example.com", source="store"
    )
    me = services.customer_for_user(UserFactory(email="me@example.com"))

    result = services.link_verified_identifier(customer=me, kind="email", value="ana@example.com")

    assert result.pk == me.pk and not Merge.objects.exists()
    assert Customer.objects.get(pk=till_customer.pk).status == "live"
    assert MergeReview.objects.filter(value="ana@example.com", status="pending").exists()
    assert me.identities.get(value="ana@example.com").verified
