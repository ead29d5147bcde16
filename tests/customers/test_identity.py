"""Identity stitching, merges, the DB constraint, guard rails and the review queue."""

import pytest
from django.db import IntegrityError, transaction

from customers import services
from customers.exceptions import CustomerNotLive, InvalidIdentifier, MergeRefused
from customers.models import (
    BlockedIdentifier,
    Consent,
    ConsentChannel,
    ConsentPurpose,
    ConsentSource,
    Customer,
    CustomerStatus,
    Event,
    Identity,
    IdentityKind,
    Merge,
    MergeReview,
    ReviewStatus,
)
from customers.signals import customers_merged

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]


def _track(customer_identifiers: dict, event: str = "page_viewed", **extra) -> int:
    """Record one track event for the given identifiers; returns the event id."""
    [result] = services.record_events(
        events=[{"type": "track", "event": event, **customer_identifiers, **extra}]
    )
    assert result.status == "created", result
    return result.event_id


def _grant_sms(customer, **kwargs):
    return services.set_consent(
        customer=customer,
        channel=ConsentChannel.SMS,
        purpose=ConsentPurpose.MARKETING,
        granted=True,
        source=ConsentSource.APP,
        **kwargs,
    )


def _live():
    return Customer.objects.filter(status=CustomerStatus.LIVE)


# --- identify ---------------------------------------------------------------------------------


def test_identify_creates_an_anonymous_profile_and_finds_it_again():
    customer = services.identify(identifiers=[(IdentityKind.ANONYMOUS, " dev-1 ")], source="app")

    assert customer.is_live and customer.is_anonymous
    identity = Identity.objects.get(customer=customer)
    assert (identity.kind, identity.value, identity.verified, identity.source) == (
        "anonymous",
        "dev-1",
        False,
        "app",
    )
    again = services.identify(identifiers=[(IdentityKind.ANONYMOUS, "dev-1")])
    assert again.pk == customer.pk
    assert Customer.objects.count() == 1
    assert Identity.objects.count() == 1


def test_identify_with_a_known_identifier_makes_a_known_profile(make_customer):
    customer = make_customer(email="Ana@Example.com", phone="600 111 222", first_name="Ana")

    assert not customer.is_anonymous
    assert customer.first_name == "Ana"
    assert set(customer.identities.values_list("kind", "value", "verified")) == {
        ("email", "ana@example.com", True),
        ("phone", "+34600111222", True),  # phones are verified by nature
    }
    # The same person again (normalised differently) finds the same profile.
    assert make_customer(phone="+34 600-111-222").pk == customer.pk
    assert _live().count() == 1


def test_identify_refuses_invalid_identifiers_and_writes_nothing():
    with pytest.raises(InvalidIdentifier) as excinfo:
        services.identify(
            identifiers=[(IdentityKind.EMAIL, "ana@example.com", True), (IdentityKind.PHONE, "12")]
        )
    assert "phone" in excinfo.value.fields
    assert not Customer.objects.exists()
    assert not Identity.objects.exists()


def test_identify_refuses_an_unknown_channel():
    with pytest.raises(InvalidIdentifier):
        services.identify(identifiers=[(IdentityKind.ANONYMOUS, "d")], source="carrier-pigeon")
    assert not Customer.objects.exists()


def test_identify_on_a_dead_profile_is_refused():
    customer = services.identify(identifiers=[(IdentityKind.ANONYMOUS, "d1")])
    Customer.objects.filter(pk=customer.pk).update(status=CustomerStatus.ERASED)
    with pytest.raises(CustomerNotLive):
        services.identify(identifiers=[(IdentityKind.ANONYMOUS, "d2")], customer=customer)


def test_anonymous_id_meeting_a_new_verified_email_stitches_in_place():
    anonymous = services.identify(identifiers=[(IdentityKind.ANONYMOUS, "cookie-1")])
    _track({"anonymous_id": "cookie-1"})

    known = services.identify(
        identifiers=[
            (IdentityKind.EMAIL, "ana@example.com", True),
            (IdentityKind.ANONYMOUS, "cookie-1"),
        ]
    )

    # Only one profile was involved: it becomes known, nothing to merge.
    assert known.pk == anonymous.pk
    assert not known.is_anonymous
    assert list(_live()) == [known]
    assert not Merge.objects.exists()
    assert Event.objects.get().customer_id == known.pk


def test_anonymous_id_meeting_a_known_verified_email_merges_and_audits(make_customer):
    known = make_customer(email="ana@example.com")
    anonymous = services.identify(identifiers=[(IdentityKind.ANONYMOUS, "cookie-1")])
    event_id = _track({"anonymous_id": "cookie-1"}, event="product_viewed")

    result = services.identify(
        identifiers=[
            (IdentityKind.EMAIL, "ana@example.com", True),
            (IdentityKind.ANONYMOUS, "cookie-1"),
        ]
    )

    assert result.pk == known.pk
    assert list(_live()) == [known]
    anonymous.refresh_from_db()
    assert anonymous.status == CustomerStatus.MERGED
    assert anonymous.merged_into_id == known.pk
    merge = Merge.objects.get()
    assert (merge.survivor_id, merge.absorbed_id) == (known.pk, anonymous.pk)
    assert Identity.objects.get(kind="anonymous", value="cookie-1").customer_id == known.pk
    assert Event.objects.get(pk=event_id).customer_id == known.pk


def test_two_live_profiles_sharing_a_deterministic_identifier_are_merged(make_customer, staff_user):
    older = make_customer(email="ana@example.com", first_name="Ana")
    newer = make_customer(
        phone="600 111 222", card="lc 1", last_name="García", first_name="Anita", home_store="sol"
    )
    older_event = _track({"email": "ana@example.com", "email_verified": True})
    newer_events = {_track({"phone": "600111222"}), _track({"loyalty_card": "LC1"})}
    consent = _grant_sms(newer, wording_version="v3")

    result = services.identify(
        identifiers=[
            (IdentityKind.EMAIL, "ana@example.com", True),
            (IdentityKind.PHONE, "600111222"),
        ],
        source="store",
        acting_user=staff_user,
    )

    # The older verified profile survives; every related row moved.
    assert result.pk == older.pk
    assert list(_live()) == [older]
    assert set(Identity.objects.values_list("customer_id", "kind", "value")) == {
        (older.pk, "email", "ana@example.com"),
        (older.pk, "phone", "+34600111222"),
        (older.pk, "loyalty_card", "LC1"),
    }
    assert set(Event.objects.filter(customer=older).values_list("pk", flat=True)) == {
        older_event,
        *newer_events,
    }
    consent.refresh_from_db()
    assert consent.customer_id == older.pk
    assert services.has_consent(older, ConsentChannel.SMS)

    newer.refresh_from_db()
    assert newer.status == CustomerStatus.MERGED
    assert newer.merged_into_id == older.pk
    assert not newer.identities.exists() and not newer.events.exists()

    # Field conflicts: the survivor's non-empty values win, its blanks are filled.
    older.refresh_from_db()
    assert (older.first_name, older.last_name, older.home_store) == ("Ana", "García", "sol")

    merge = Merge.objects.get()
    assert (merge.survivor_id, merge.absorbed_id, merge.acting_user_id) == (
        older.pk,
        newer.pk,
        staff_user.pk,
    )
    assert merge.cause
    assert merge.snapshot["id"] == newer.pk
    assert merge.snapshot["profile"]["first_name"] == "Anita"
    assert {(i["kind"], i["value"]) for i in merge.snapshot["identities"]} == {
        ("phone", "+34600111222"),
        ("loyalty_card", "LC1"),
    }
    assert merge.snapshot["events"] == 2
    assert merge.snapshot["consents"] == 1


def test_three_profiles_in_one_call_end_as_one(make_customer):
    first = make_customer(email="ana@example.com")
    make_customer(phone="600111222")
    make_customer(card="LC-9")

    result = services.identify(
        identifiers=[
            (IdentityKind.LOYALTY_CARD, "LC-9"),
            (IdentityKind.PHONE, "600111222"),
            (IdentityKind.EMAIL, "ana@example.com", True),
        ]
    )

    assert result.pk == first.pk
    assert list(_live()) == [first]
    assert Merge.objects.filter(survivor=first).count() == 2
    assert Identity.objects.filter(customer=first).count() == 3


# --- the database constraint ------------------------------------------------------------------


def test_the_same_verified_phone_cannot_be_on_two_identities(make_customer):
    ana = make_customer(email="ana@example.com", phone="600111222")
    bea = make_customer(email="bea@example.com")

    with pytest.raises(IntegrityError), transaction.atomic():
        Identity.objects.create(
            customer=bea, kind="phone", value="+34600111222", verified=True, source="web"
        )
    assert Identity.objects.get(kind="phone").customer_id == ana.pk


def test_a_typed_phone_is_contact_data_that_two_profiles_may_hold(make_customer):
    ana = make_customer(email="ana@example.com", phone="600111222")
    guest = services.identify(identifiers=[("anonymous", "device-9")], source="web")

    services.record_contact(customer=guest, identifiers=[("phone", "600 111 222")], source="web")

    assert Identity.objects.get(kind="phone", verified=True).customer_id == ana.pk
    assert Identity.objects.get(kind="phone", verified=False).customer_id == guest.pk
    assert not Merge.objects.exists()


@pytest.mark.parametrize("kind", ["loyalty_card", "pos_id"])
def test_cards_and_till_ids_are_unique_too(make_customer, kind):
    ana, bea = make_customer(email="a@example.com"), make_customer(email="b@example.com")
    Identity.objects.create(customer=ana, kind=kind, value="X1", source="store")
    with pytest.raises(IntegrityError), transaction.atomic():
        Identity.objects.create(customer=bea, kind=kind, value="X1", source="store")


def test_only_verified_emails_are_unique(make_customer):
    ana, bea = make_customer(phone="600111222"), make_customer(phone="600111333")
    Identity.objects.create(customer=ana, kind="email", value="x@example.com", source="web")
    # An unverified e-mail proves nothing: two people may type the same one.
    Identity.objects.create(customer=bea, kind="email", value="x@example.com", source="web")
    Identity.objects.filter(customer=ana, kind="email").update(verified=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Identity.objects.filter(customer=bea, kind="email").update(verified=True)


# --- merge_customers --------------------------------------------------------------------------


def test_merge_refuses_a_self_merge(make_customer):
    ana = make_customer(email="ana@example.com")
    with pytest.raises(MergeRefused):
        services.merge_customers(survivor=ana, absorbed=ana, cause="test")
    ana.refresh_from_db()
    assert ana.is_live
    assert not Merge.objects.exists()


@pytest.mark.parametrize("dead", [CustomerStatus.MERGED, CustomerStatus.ERASED])
@pytest.mark.parametrize("which", ["survivor", "absorbed"])
def test_merge_refuses_dead_profiles(make_customer, dead, which):
    ana, bea = make_customer(email="ana@example.com"), make_customer(email="bea@example.com")
    Customer.objects.filter(pk=(ana if which == "survivor" else bea).pk).update(status=dead)

    with pytest.raises(CustomerNotLive):
        services.merge_customers(survivor=ana, absorbed=bea, cause="test")
    assert not Merge.objects.exists()
    assert Identity.objects.get(value="bea@example.com").customer_id == bea.pk


def test_merge_fills_blanks_but_keeps_the_survivors_values(make_customer):
    survivor = make_customer(email="ana@example.com", first_name="Ana", preferred_language="en")
    absorbed = make_customer(
        email="ana.g@example.com", first_name="Anita", last_name="García", home_store="sol"
    )
    Customer.objects.filter(pk=absorbed.pk).update(birth_date="1990-05-01")

    services.merge_customers(survivor=survivor, absorbed=absorbed, cause="by hand")

    survivor.refresh_from_db()
    assert survivor.first_name == "Ana"
    assert survivor.preferred_language == "en"
    assert survivor.last_name == "García"
    assert survivor.home_store == "sol"
    assert str(survivor.birth_date) == "1990-05-01"


def test_customers_merged_is_sent_inside_the_merge_transaction(make_customer, connect_signal):
    survivor = make_customer(email="ana@example.com")
    absorbed = make_customer(phone="600111222")
    seen = []

    def receiver(sender, survivor, absorbed, **kwargs):
        # The rows already moved and the audit row exists: we are inside the same transaction.
        seen.append(
            (
                sender,
                survivor.pk,
                absorbed.pk,
                Customer.objects.get(pk=absorbed.pk).status,
                Merge.objects.filter(survivor=survivor, absorbed=absorbed).exists(),
                transaction.get_connection().in_atomic_block,
            )
        )

    connect_signal(customers_merged, receiver)
    services.merge_customers(survivor=survivor, absorbed=absorbed, cause="test")

    assert seen == [(Customer, survivor.pk, absorbed.pk, CustomerStatus.MERGED, True, True)]


def test_a_failing_merge_receiver_rolls_the_whole_merge_back(make_customer, connect_signal):
    survivor = make_customer(email="ana@example.com")
    absorbed = make_customer(phone="600111222")
    event_id = _track({"phone": "600111222"})
    consent = _grant_sms(absorbed)
    calls = []

    def receiver(sender, survivor, absorbed, **kwargs):
        calls.append(absorbed.pk)
        raise RuntimeError("orders could not move the carts")

    connect_signal(customers_merged, receiver)
    with pytest.raises(RuntimeError):
        services.merge_customers(survivor=survivor, absorbed=absorbed, cause="test")

    assert calls == [absorbed.pk]
    absorbed.refresh_from_db()
    assert absorbed.status == CustomerStatus.LIVE
    assert absorbed.merged_into_id is None
    assert Identity.objects.get(kind="phone").customer_id == absorbed.pk
    assert Event.objects.get(pk=event_id).customer_id == absorbed.pk
    assert Consent.objects.get(pk=consent.pk).customer_id == absorbed.pk
    assert not Merge.objects.exists()


# --- guard rails and the review queue ---------------------------------------------------------


def test_merge_over_the_identity_limit_is_refused(make_customer):
    ana = make_customer(email="ana@example.com", card="A1")
    services.identify(identifiers=[(IdentityKind.LOYALTY_CARD, "A2")], customer=ana)
    bea = make_customer(phone="600111222", card="B1")
    services.identify(identifiers=[(IdentityKind.LOYALTY_CARD, "B2")], customer=bea)
    assert services.IDENTITY_LIMITS[IdentityKind.LOYALTY_CARD] == 3

    with pytest.raises(MergeRefused):
        services.merge_customers(survivor=ana, absorbed=bea, cause="test")
    assert _live().count() == 2
    assert Identity.objects.filter(customer=bea).count() == 3


def test_identify_sends_a_merge_over_the_limit_to_the_review_queue(make_customer):
    ana = make_customer(email="ana@example.com", card="A1")
    services.identify(identifiers=[(IdentityKind.LOYALTY_CARD, "A2")], customer=ana)
    bea = make_customer(phone="600111222", card="B1")
    services.identify(identifiers=[(IdentityKind.LOYALTY_CARD, "B2")], customer=bea)

    # Ana's verified e-mail and Bea's phone in one call: 4 cards would end on one profile.
    result = services.identify(
        identifiers=[
            (IdentityKind.EMAIL, "ana@example.com", True),
            (IdentityKind.PHONE, "600111222"),
        ]
    )

    assert result.pk == ana.pk
    assert _live().count() == 2
    assert not Merge.objects.exists()
    review = MergeReview.objects.get()
    assert {review.customer_a_id, review.customer_b_id} == {ana.pk, bea.pk}
    assert review.status == ReviewStatus.PENDING
    assert review.reason
    # The phone stays where it was: one live owner.
    assert Identity.objects.get(kind="phone").customer_id == bea.pk


def _two_known_profiles_sharing_a_handle(make_customer):
    ana = make_customer(email="ana@example.com", social="@shop_ana")
    bea = make_customer(email="bea@example.com", social="@shop_ana")
    return ana, bea


def test_known_profiles_sharing_a_non_deterministic_identifier_go_to_review(make_customer):
    ana, bea = _two_known_profiles_sharing_a_handle(make_customer)

    assert ana.pk != bea.pk
    assert _live().count() == 2
    assert not Merge.objects.exists()
    review = MergeReview.objects.get()
    assert (review.customer_a_id, review.customer_b_id) == (ana.pk, bea.pk)
    assert (review.kind, review.value, review.status) == ("social", "@shop_ana", "pending")
    # The contested identifier stays with its first owner only.
    assert list(Identity.objects.filter(kind="social").values_list("customer_id", flat=True)) == [
        ana.pk
    ]


def test_approving_a_review_merges(make_customer, staff_user):
    ana, bea = _two_known_profiles_sharing_a_handle(make_customer)
    review = MergeReview.objects.get()

    merge = services.approve_review(review=review, acting_user=staff_user)

    assert (merge.survivor_id, merge.absorbed_id) == (ana.pk, bea.pk)  # the older one survives
    assert merge.acting_user_id == staff_user.pk
    review.refresh_from_db()
    assert review.status == ReviewStatus.MERGED
    assert review.decided_by_id == staff_user.pk and review.decided_at is not None
    assert list(_live()) == [ana]
    assert set(ana.identities.values_list("value", flat=True)) == {
        "ana@example.com",
        "bea@example.com",
        "@shop_ana",
    }
    with pytest.raises(MergeRefused):
        services.approve_review(review=review, acting_user=staff_user)


def test_rejecting_a_review_keeps_both_profiles(make_customer, staff_user):
    _two_known_profiles_sharing_a_handle(make_customer)
    review = MergeReview.objects.get()

    services.reject_review(review=review, acting_user=staff_user)

    review.refresh_from_db()
    assert review.status == ReviewStatus.REJECTED
    assert review.decided_by_id == staff_user.pk and review.decided_at is not None
    assert _live().count() == 2
    assert not Merge.objects.exists()
    with pytest.raises(MergeRefused):
        services.reject_review(review=review, acting_user=staff_user)
    with pytest.raises(MergeRefused):
        services.approve_review(review=review, acting_user=staff_user)


def test_blocked_identifiers_are_ignored(make_customer):
    BlockedIdentifier.objects.create(kind="anonymous", value="till-tablet", reason="shop tablet")
    BlockedIdentifier.objects.create(kind="pos_id", value="0000", reason="till default")

    ana = make_customer(email="ana@example.com", anonymous_id="till-tablet", pos_id="0000")
    bea = make_customer(email="bea@example.com", anonymous_id="till-tablet", pos_id="0000")

    assert ana.pk != bea.pk
    assert _live().count() == 2
    assert not Identity.objects.filter(value__in=["till-tablet", "0000"]).exists()
    assert not MergeReview.objects.exists()
    assert not Merge.objects.exists()
    # Only a blocked identifier: a fresh anonymous profile that holds nothing.
    nobody = services.identify(identifiers=[(IdentityKind.ANONYMOUS, "till-tablet")])
    assert nobody.pk not in (ana.pk, bea.pk)
    assert nobody.is_anonymous and not nobody.identities.exists()


def test_live_ids_keeps_only_live_profiles_in_id_order(make_customer):
    from customers.models import CustomerStatus
    from customers.selectors import live_ids

    first, merged, erased, last = (make_customer() for _ in range(4))
    type(merged).objects.filter(pk=merged.pk).update(status=CustomerStatus.MERGED)
    type(erased).objects.filter(pk=erased.pk).update(status=CustomerStatus.ERASED)
    assert live_ids([last.pk, erased.pk, merged.pk, first.pk, 10**9]) == [first.pk, last.pk]


def test_contact_identifiers_are_verified_ones_of_the_asked_customers(make_customer):
    from customers.models import Customer, Identity, IdentityKind
    from customers.selectors import contact_identifiers

    ana = make_customer(email="ana@example.com", phone="+34600111222")
    Identity.objects.filter(customer=ana, kind=IdentityKind.PHONE).update(verified=True)
    typed = make_customer(email="typed@example.com", verified=False)
    other = make_customer(email="other@example.com")
    bounced = make_customer(email="bounced@example.com")
    services.suppress_address(kind="email", value="bounced@example.com", reason="hard_bounce")
    rows = list(
        contact_identifiers(
            email_customers=Customer.objects.filter(pk__in=[ana.pk, typed.pk, bounced.pk]),
            phone_customers=Customer.objects.filter(pk=ana.pk),
        )
    )
    assert rows == [(ana.pk, "email", "ana@example.com"), (ana.pk, "phone", "+34600111222")]
    assert other.pk not in {row[0] for row in rows}
