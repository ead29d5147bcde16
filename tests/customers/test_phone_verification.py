"""A phone verified by a code: the shopper's proof of a phone number (customers.services.phones).

The code goes by SMS after commit, in the shopper's language; only its HMAC is stored; wrong
codes are counted and the fifth locks it; a proved phone brings the guest profiles that typed it
and never takes a phone another account proved.
"""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from customers import services
from customers.exceptions import (
    InvalidIdentifier,
    PhoneCodeExpired,
    PhoneCodeUsed,
    PhoneVerificationNotFound,
    TooManyCodeAttempts,
    TooManyPhoneVerifications,
    WrongPhoneCode,
)
from customers.models import (
    Customer,
    CustomerStatus,
    Identity,
    Merge,
    MergeReview,
    PhoneVerification,
)
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]

PHONE = "+34600111222"


@pytest.fixture
def shopper(db):
    """A signed-up shopper's profile (``customer_for_user``), English-speaking."""

    def make(email="ana@example.com", language="en"):
        customer = services.customer_for_user(UserFactory(email=email))
        Customer.objects.filter(pk=customer.pk).update(preferred_language=language)
        customer.refresh_from_db()
        return customer

    return make


@pytest.fixture
def start(outbox, django_capture_on_commit_callbacks):
    """Start a verification (its SMS sent as on commit) and return the code the SMS carries."""

    def run(customer, phone="600 111 222"):
        with django_capture_on_commit_callbacks(execute=True):
            services.start_phone_verification(customer=customer, phone=phone)
        return re.search(r"\b(\d{6})\b", outbox[-1].body).group(1)

    return run


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def phones(customer_pk):
    return list(
        Identity.objects.filter(customer_id=customer_pk, kind="phone").values_list(
            "value", "verified"
        )
    )


def test_the_code_proves_the_phone_and_the_guests_profile_joins_the_account(
    shopper, start, outbox, make_customer
):
    guest = make_customer(anonymous_id="guest-device")
    services.record_contact(customer=guest, identifiers=[("phone", "600 111 222")], source="web")
    ana = shopper()

    code = start(ana)
    verification = services.confirm_phone_verification(customer=ana, phone="600111222", code=code)

    [sms] = outbox
    assert (sms.channel, sms.to) == ("sms", PHONE)
    live = verification.customer
    assert live.user.email == "ana@example.com" and live.is_live
    assert {Customer.objects.get(pk=pk).status for pk in (guest.pk, ana.pk)} == {
        CustomerStatus.LIVE,
        CustomerStatus.MERGED,
    }
    assert Merge.objects.count() == 1
    assert phones(live.pk) == [(PHONE, True)]
    assert verification.verified_at is not None
    assert services.customer_for_user(live.user) == live


def test_the_code_is_never_stored_in_clear(shopper, start):
    ana = shopper()

    code = start(ana)

    verification = PhoneVerification.objects.get()
    assert re.fullmatch(r"[0-9a-f]{64}", verification.code_digest)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM customers_phoneverification")
        row = cursor.fetchone()
    assert not any(code in str(value) for value in row)
    lifetime = verification.expires_at - verification.created_at
    assert abs(lifetime - timedelta(minutes=10)) < timedelta(seconds=5)


def test_codes_are_six_random_digits(shopper, start):
    codes = {start(shopper(email=f"s{i}@example.com"), phone=f"60011122{i}") for i in range(5)}

    assert all(re.fullmatch(r"\d{6}", code) for code in codes)
    assert len(codes) > 1


def test_wrong_codes_are_counted_and_the_fifth_locks_the_code(shopper, start):
    ana = shopper()
    code = start(ana)

    for attempt in range(1, 5):
        with pytest.raises(WrongPhoneCode):
            services.confirm_phone_verification(customer=ana, phone=PHONE, code=wrong(code))
        assert PhoneVerification.objects.get().attempts == attempt
    with pytest.raises(TooManyCodeAttempts):
        services.confirm_phone_verification(customer=ana, phone=PHONE, code=wrong(code))
    with pytest.raises(TooManyCodeAttempts):
        services.confirm_phone_verification(customer=ana, phone=PHONE, code=code)

    assert PhoneVerification.objects.get().attempts == 5
    assert phones(ana.pk) == []


def test_a_non_string_code_counts_as_wrong(shopper, start):
    ana = shopper()
    code = start(ana)

    with pytest.raises(WrongPhoneCode):
        services.confirm_phone_verification(customer=ana, phone=PHONE, code=int(code))

    assert PhoneVerification.objects.get().attempts == 1


def test_an_expired_code_is_refused(shopper, start):
    ana = shopper()
    code = start(ana)
    PhoneVerification.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    with pytest.raises(PhoneCodeExpired) as excinfo:
        services.confirm_phone_verification(customer=ana, phone=PHONE, code=code)

    assert (excinfo.value.code, excinfo.value.status_code) == ("phone_code_expired", 400)
    assert PhoneVerification.objects.get().verified_at is None
    assert phones(ana.pk) == []


def test_a_code_is_used_once(shopper, start):
    ana = shopper()
    code = start(ana)
    services.confirm_phone_verification(customer=ana, phone=PHONE, code=code)

    with pytest.raises(PhoneCodeUsed):
        services.confirm_phone_verification(customer=ana, phone=PHONE, code=code)


def test_only_the_latest_code_counts(shopper, start):
    ana = shopper()
    first = start(ana)
    second = start(ana)
    if first == second:
        pytest.skip("the two random codes happen to be equal")

    with pytest.raises(WrongPhoneCode):
        services.confirm_phone_verification(customer=ana, phone=PHONE, code=first)
    services.confirm_phone_verification(customer=ana, phone=PHONE, code=second)


def test_a_code_sent_to_another_profile_or_phone_proves_nothing(shopper, start):
    ana, bea = shopper(), shopper(email="bea@example.com")
    code = start(ana)

    with pytest.raises(PhoneVerificationNotFound):
        services.confirm_phone_verification(customer=bea, phone=PHONE, code=code)
    with pytest.raises(PhoneVerificationNotFound):
        services.confirm_phone_verification(customer=ana, phone="600111333", code=code)
    assert not Identity.objects.filter(kind="phone").exists()


def test_a_bad_phone_is_refused_before_anything_is_sent(shopper, outbox):
    ana = shopper()

    with pytest.raises(InvalidIdentifier) as excinfo:
        services.start_phone_verification(customer=ana, phone="12")

    assert "phone" in excinfo.value.fields
    assert not PhoneVerification.objects.exists() and outbox == []


def test_five_codes_an_hour_per_shopper(shopper, start, outbox):
    ana = shopper()
    for i in range(5):
        start(ana, phone=f"60011122{i}")

    with pytest.raises(TooManyPhoneVerifications) as excinfo:
        start(ana, phone="600111229")

    assert (excinfo.value.code, excinfo.value.status_code) == ("too_many_verifications", 429)
    assert len(outbox) == 5 and PhoneVerification.objects.count() == 5
    PhoneVerification.objects.update(created_at=timezone.now() - timedelta(minutes=61))
    start(ana, phone="600111229")
    assert len(outbox) == 6


def test_five_codes_an_hour_per_phone_whoever_asks(shopper, start, outbox):
    for i in range(5):
        start(shopper(email=f"s{i}@example.com"))

    with pytest.raises(TooManyPhoneVerifications):
        start(shopper(email="bomber@example.com"))

    assert len(outbox) == 5


def test_the_sms_goes_only_when_the_transaction_commits(
    shopper, outbox, django_capture_on_commit_callbacks
):
    ana = shopper()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.start_phone_verification(customer=ana, phone=PHONE)

    assert outbox == [] and len(callbacks) == 1


@pytest.mark.parametrize(
    ("language", "wording"), [("es", "Tu código de verificación"), ("en", "verification code")]
)
def test_the_sms_is_in_the_shoppers_language(shopper, start, outbox, language, wording):
    start(shopper(language=language))

    assert wording in outbox[-1].body


def test_a_phone_another_account_proved_is_not_taken_over(shopper, start):
    ana, bea = shopper(), shopper(email="bea@example.com")
    services.confirm_phone_verification(customer=ana, phone=PHONE, code=start(ana))

    result = services.confirm_phone_verification(customer=bea, phone=PHONE, code=start(bea))

    assert result.customer == bea
    assert phones(ana.pk) == [(PHONE, True)]
    assert phones(bea.pk) == [(PHONE, False)]
    review = MergeReview.objects.get()
    assert {review.customer_a_id, review.customer_b_id} == {ana.pk, bea.pk}
    assert review.status == "pending" and not Merge.objects.exists()


def test_a_merge_carries_the_pending_code_and_an_erasure_deletes_it(shopper, start, staff_user):
    ana, other = shopper(), shopper(email="other@example.com")
    code = start(other)

    services.merge_customers(survivor=ana, absorbed=other, cause="test", acting_user=staff_user)
    assert PhoneVerification.objects.get().customer == ana
    services.confirm_phone_verification(customer=ana, phone=PHONE, code=code)

    services.erase_customer(customer=ana, acting_user=staff_user)
    assert not PhoneVerification.objects.exists()


def test_the_admin_lists_verifications_without_the_digest(client, shopper, start):
    start(shopper())
    verification = PhoneVerification.objects.get()
    client.force_login(UserFactory(superuser=True))

    listed = client.get("/admin/customers/phoneverification/")
    page = client.get(f"/admin/customers/phoneverification/{verification.pk}/change/")

    assert listed.status_code == page.status_code == 200
    for response in (listed, page):
        assert PHONE in response.content.decode()
        assert verification.code_digest not in response.content.decode()
    assert client.post("/admin/customers/phoneverification/add/").status_code == 403


def test_the_gdpr_export_lists_the_phones_codes_went_to(shopper, start):
    ana = shopper()
    start(ana)

    exported = services.export_customer(ana)["phone_verifications"]

    assert [row["phone"] for row in exported] == [PHONE]
    assert "code_digest" not in exported[0]
