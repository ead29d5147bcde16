"""POST /api/v1/me/phone/ and /api/v1/me/phone/verify/: a shopper proves a phone by a code, and
the orders a guest placed with that phone join the account."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from customers.models import Identity, MergeReview, PhoneVerification
from tests.api import test_checkout_api as checkout_api
from tests.api.test_checkout_api import checkout, error_of, new_cart, pickup_body

pytestmark = pytest.mark.django_db

START = "/api/v1/me/phone/"
VERIFY = "/api/v1/me/phone/verify/"
PHONE = "+34600111222"


@pytest.fixture
def ask_code(outbox, django_capture_on_commit_callbacks):
    """POST /me/phone/ (its SMS sent as on commit); the response, with ``.code`` from the SMS."""

    def ask(client, phone="600 111 222"):
        sent = len(outbox)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(START, {"phone": phone}, format="json")
        sms = [m for m in outbox[sent:] if m.channel == "sms"]
        assert len(sms) == (1 if response.status_code == 202 else 0)
        response.code = re.search(r"\b(\d{6})\b", sms[0].body).group(1) if sms else None
        return response

    return ask


def sign_up(email):
    return checkout_api.sign_up(APIClient(), email)


def test_a_guests_order_placed_with_a_phone_joins_the_account_that_verifies_it(shop, ask_code):
    guest = APIClient()
    token = new_cart(guest, (shop.shirt, 1), anonymous_id="guest-device")
    placed = checkout(guest, token, {**pickup_body(shop, email=""), "phone": "600 111 222"})
    assert placed.status_code == 201, placed.content
    number = placed.json()["number"]
    account = sign_up("ana@example.com")
    assert account.get("/api/v1/me/orders/").json()["results"] == []

    asked = ask_code(account, "+34 600 11 12 22")
    assert asked.status_code == 202, asked.content
    assert asked.json()["phone"] == PHONE and asked.json()["expires_at"]
    verified = account.post(VERIFY, {"phone": "600111222", "code": asked.code}, format="json")

    assert verified.status_code == 200, verified.content
    assert verified.json() == {"phone": PHONE, "verified": True}
    listed = account.get("/api/v1/me/orders/").json()["results"]
    assert [o["number"] for o in listed] == [number]
    identities = account.get("/api/v1/me/identities/").json()
    assert {"kind": "phone", "value": PHONE, "verified": True} in [
        {k: i[k] for k in ("kind", "value", "verified")} for i in identities
    ]


def test_wrong_codes_then_lock_over_http(shop, ask_code):
    account = sign_up("ana@example.com")
    code = ask_code(account).code
    bad = f"{(int(code) + 1) % 1_000_000:06d}"

    for _ in range(4):
        response = account.post(VERIFY, {"phone": PHONE, "code": bad}, format="json")
        assert error_of(response, 400)["code"] == "wrong_phone_code"
    locked = account.post(VERIFY, {"phone": PHONE, "code": bad}, format="json")
    assert error_of(locked, 429)["code"] == "too_many_attempts"
    right = account.post(VERIFY, {"phone": PHONE, "code": code}, format="json")
    assert error_of(right, 429)["code"] == "too_many_attempts"
    assert not Identity.objects.filter(kind="phone", verified=True).exists()


def test_expired_used_and_unknown_codes_have_their_own_errors(shop, ask_code):
    account = sign_up("ana@example.com")
    unknown = account.post(VERIFY, {"phone": PHONE, "code": "123456"}, format="json")
    assert error_of(unknown, 404)["code"] == "phone_verification_not_found"

    code = ask_code(account).code
    PhoneVerification.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = account.post(VERIFY, {"phone": PHONE, "code": code}, format="json")
    assert error_of(expired, 400)["code"] == "phone_code_expired"

    code = ask_code(account).code
    assert account.post(VERIFY, {"phone": PHONE, "code": code}, format="json").status_code == 200
    again = account.post(VERIFY, {"phone": PHONE, "code": code}, format="json")
    assert error_of(again, 409)["code"] == "phone_code_used"


@pytest.mark.parametrize(
    "body",
    [
        {"phone": PHONE, "code": 123456},
        {"phone": PHONE, "code": "12345"},
        {"phone": PHONE, "code": "12a456"},
        {"phone": PHONE, "code": "١٢٣٤٥٦"},  # Arabic-Indic digits are not ours
        {"phone": PHONE, "code": ["123456"]},
        {"phone": 600111222, "code": "123456"},
        {"phone": PHONE},
        [PHONE, "123456"],
    ],
)
def test_codes_are_strings_of_six_digits(shop, ask_code, body):
    account = sign_up("ana@example.com")
    ask_code(account)

    response = account.post(VERIFY, body, format="json")

    error = error_of(response, 400)
    assert error["code"] == "invalid" and error["fields"]
    assert PhoneVerification.objects.get().attempts == 0


def test_asking_for_codes_is_limited_and_checked(shop, ask_code):
    account = sign_up("ana@example.com")
    assert error_of(ask_code(account, "12"), 400)["code"] == "invalid_identifier"
    assert error_of(account.post(START, {"phone": None}, format="json"), 400)["code"] == "invalid"

    for i in range(5):
        assert ask_code(account, f"60011122{i}").status_code == 202
    refused = ask_code(account, "600111229")

    assert error_of(refused, 429)["code"] == "too_many_verifications"
    assert PhoneVerification.objects.count() == 5


def test_only_signed_in_shoppers(shop):
    anonymous = APIClient()

    for url in (START, VERIFY):
        response = anonymous.post(url, {"phone": PHONE, "code": "123456"}, format="json")
        assert response.status_code in (401, 403)
        assert set(response.json()) == {"error"}
    assert not PhoneVerification.objects.exists()


def test_a_phone_another_account_verified_stays_with_it(shop, ask_code):
    ana, bea = sign_up("ana@example.com"), sign_up("bea@example.com")
    code = ask_code(ana).code
    assert ana.post(VERIFY, {"phone": PHONE, "code": code}, format="json").status_code == 200

    code = ask_code(bea).code
    response = bea.post(VERIFY, {"phone": PHONE, "code": code}, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == {"phone": PHONE, "verified": False}
    owner = Identity.objects.get(kind="phone", verified=True).customer
    assert owner.user.email == "ana@example.com"
    assert MergeReview.objects.filter(status="pending", value=PHONE).count() == 1
