"""Events batch endpoint and the shopper's own data through allauth's headless API."""

import pytest
from django.contrib.auth.models import Permission
from django.test import override_settings

from customers.models import Consent, Customer, Event, Identity
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]


@pytest.fixture
def server_key(api):
    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="add_event"))
    api.force_authenticate(user)
    return api


def _track(i, **extra):
    return {
        "type": "track",
        "event": "product_viewed",
        "message_id": f"m-{i}",
        "anonymous_id": f"dev-{i % 3}",
        "properties": {"sku": "X"},
        **extra,
    }


def test_batch_keeps_good_events_and_explains_bad_ones(server_key):
    batch = [
        _track(1),
        _track(2, email="not-an-email"),
        _track(3, phone="12"),
        _track(4, event="something_new"),
        {"type": "shout", "anonymous_id": "x"},
    ]

    response = server_key.post("/api/v1/events/", {"batch": batch}, format="json")

    assert response.status_code == 200
    results = response.json()
    assert [r["status"] for r in results] == ["created", "error", "error", "created", "error"]
    assert "email" in results[1]["error"]["fields"]
    assert "phone" in results[2]["error"]["fields"]
    assert "type" in results[4]["error"]["fields"]
    # Nothing of a rejected event is written; unknown names are kept as custom events.
    assert Event.objects.count() == 2
    assert not Identity.objects.filter(value__contains="not-an-email").exists()
    custom = Event.objects.get(idempotency_key="m-4")
    assert (custom.type, custom.name) == ("custom", "something_new")


def test_retried_batch_repeats_no_effect(server_key):
    batch = [_track(i) for i in range(5)]
    first = server_key.post("/api/v1/events/", {"batch": batch}, format="json").json()
    again = server_key.post("/api/v1/events/", {"batch": batch}, format="json").json()

    assert {r["status"] for r in first} == {"created"}
    assert {r["status"] for r in again} == {"duplicate"}
    assert [r["event_id"] for r in again] == [r["event_id"] for r in first]
    assert Event.objects.count() == 5
    assert Customer.objects.count() == 3  # one per anonymous id


@override_settings(EVENTS_BATCH_LIMIT=5)
def test_batch_over_the_limit_is_413_with_the_limit(server_key):
    response = server_key.post(
        "/api/v1/events/", {"batch": [_track(i) for i in range(6)]}, format="json"
    )

    assert response.status_code == 413
    body = response.json()["error"]
    assert body["code"] == "batch_too_large"
    assert "5" in body["message"]
    assert Event.objects.count() == 0


def test_batch_must_be_a_list(api):
    response = api.post("/api/v1/events/", {"batch": "nope"}, format="json")
    assert response.status_code == 400
    assert "batch" in response.json()["error"]["fields"]


def test_browser_without_server_key_sends_anonymous_events_only(api):
    response = api.post(
        "/api/v1/events/",
        {"batch": [_track(1), _track(2, email="ana@example.com", email_verified=True)]},
        format="json",
    )

    results = response.json()
    assert results[0]["status"] == "created"
    assert results[1]["status"] == "error"
    assert results[1]["error"]["code"] == "forbidden"
    assert not Identity.objects.filter(kind="email").exists()


def _headless_signup(client, email="shopper@example.com"):
    response = client.post(
        "/_allauth/app/v1/auth/signup",
        {"email": email, "password": "a-Strong-pass-123"},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()["meta"]["session_token"]


def test_shopper_signs_up_headless_and_manages_own_profile_and_consents(api):
    token = _headless_signup(api)
    api.credentials(HTTP_X_SESSION_TOKEN=token)

    me = api.get("/api/v1/me/")
    assert me.status_code == 200
    customer = Customer.objects.get(pk=me.json()["id"])
    assert customer.user.email == "shopper@example.com"
    assert customer.identities.filter(kind="email", value="shopper@example.com").exists()

    changed = api.patch("/api/v1/me/", {"first_name": "Ana"}, format="json")
    assert changed.status_code == 200
    assert Customer.objects.get(pk=customer.pk).first_name == "Ana"

    granted = api.post(
        "/api/v1/me/consents/",
        {"channel": "sms", "purpose": "marketing", "granted": True, "wording_version": "v3"},
        format="json",
    )
    assert granted.status_code == 201
    assert granted.json()["state"] == "granted"
    withdrawn = api.post(
        "/api/v1/me/consents/",
        {"channel": "sms", "purpose": "marketing", "granted": False},
        format="json",
    )
    assert withdrawn.json()["state"] == "withdrawn"
    # Evidence is appended, never overwritten.
    assert Consent.objects.filter(customer=customer, channel="sms").count() == 2
    current = api.get("/api/v1/me/consents/").json()
    assert [(c["channel"], c["state"]) for c in current] == [("sms", "withdrawn")]

    export = api.get("/api/v1/me/export/").json()
    assert export["customer"]["first_name"] == "Ana"
    assert len(export["consents"]) == 2

    identities = api.get("/api/v1/me/identities/").json()
    assert identities[0]["value"] == "shopper@example.com"


def test_me_requires_a_signed_in_shopper(api):
    response = api.get("/api/v1/me/")
    assert response.status_code in (401, 403)
    assert "error" in response.json()


def test_bad_consent_input_is_400(api):
    api.credentials(HTTP_X_SESSION_TOKEN=_headless_signup(api))
    response = api.post(
        "/api/v1/me/consents/", {"channel": "pigeon", "purpose": "marketing", "granted": True}
    )
    assert response.status_code == 400
    assert "channel" in response.json()["error"]["fields"]
    assert Consent.objects.count() == 0


def test_staff_signup_page_stays_closed(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "intruder@example.com", "password1": "x-Strong-123", "password2": "x-Strong-123"},
    )
    assert response.status_code in (200, 302, 403)
    from omni.models import User

    assert not User.objects.filter(email="intruder@example.com").exists()
