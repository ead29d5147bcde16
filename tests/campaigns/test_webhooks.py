"""The e-mail provider's webhook: signature first (403, nothing changed), then a strict body
(400 with the API's error body, nothing changed), then one transaction of suppressions."""

import json

import pytest

from campaigns import webhooks
from campaigns.tracking import sign_webhook
from customers import services
from customers.models import (
    Channel,
    Consent,
    ConsentPurpose,
    ConsentSource,
    ConsentState,
    IdentityKind,
    Suppression,
    SuppressionReason,
)

pytestmark = pytest.mark.django_db
SECRET = "whsec-test-secret"
URL = "/c/webhooks/email/"


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.CAMPAIGN_WEBHOOK_SECRET = SECRET


@pytest.fixture
def subscriber():
    customer = services.identify(
        identifiers=[(IdentityKind.EMAIL, "Ana@Example.com", True)], source=Channel.WEB
    )
    services.set_consent(
        customer=customer,
        channel="email",
        purpose=ConsentPurpose.MARKETING,
        granted=True,
        source=ConsentSource.IMPORT,
    )
    return customer


def post(client, payload, *, secret=SECRET, signature=None, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {}
    if signature is not None or secret:
        headers["HTTP_X_OMNI_SIGNATURE"] = signature or sign_webhook(body, secret)
    return client.post(URL, data=body, content_type="application/json", **headers)


def state(customer):
    row = Consent.objects.filter(customer=customer, channel="email").order_by("-pk").first()
    return row.state


def snapshot():
    return (Suppression.objects.count(), Consent.objects.count())


COMPLAINT = {"type": "complaint", "email": "ana@example.com", "id": "evt-1"}
HARD = {"type": "bounce", "bounce_type": "hard", "email": "gone@example.com", "id": "evt-2"}


def test_hard_bounce_and_complaint_suppress(client, subscriber):
    response = post(client, [HARD, COMPLAINT])
    assert response.status_code == 200, response.content
    assert response.json() == {"received": 2, "acted_on": 2, "newly_suppressed": 2}
    reasons = dict(Suppression.objects.values_list("value", "reason"))
    assert reasons == {
        "gone@example.com": SuppressionReason.HARD_BOUNCE,
        "ana@example.com": SuppressionReason.COMPLAINT,
    }
    assert state(subscriber) == ConsentState.WITHDRAWN
    row = Consent.objects.filter(customer=subscriber).order_by("-pk").first()
    assert row.source == ConsentSource.COMPLAINT
    assert row.evidence["event_id"] == "evt-1"


def test_addresses_are_normalised(client):
    post(client, [{**HARD, "email": "  GONE@Example.COM "}])
    assert list(Suppression.objects.values_list("value", flat=True)) == ["gone@example.com"]


def test_soft_bounce_and_other_events_are_ignored(client, subscriber):
    events = [
        {**HARD, "bounce_type": "soft", "email": "ana@example.com"},
        {"type": "delivered", "email": "ana@example.com"},
        {"type": "opened", "email": "not an address, not acted on"},
    ]
    response = post(client, events)
    assert response.status_code == 200
    assert response.json()["acted_on"] == 0
    assert snapshot() == (0, 1)
    assert state(subscriber) == ConsentState.GRANTED


def test_replays_change_nothing(client, subscriber):
    post(client, [HARD, COMPLAINT])
    before = snapshot()
    response = post(client, [HARD, COMPLAINT, COMPLAINT])
    assert response.status_code == 200
    assert response.json()["newly_suppressed"] == 0
    assert snapshot() == before


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "garbage",
        "t=1,v1=00",
        sign_webhook(b"another body", SECRET),
        sign_webhook(json.dumps([COMPLAINT]).encode(), "wrong secret"),
        sign_webhook(json.dumps([COMPLAINT]).encode(), SECRET, timestamp=1),  # far in the past
        "t=\u0000,v1=\u00e9",
    ],
)
def test_bad_signature_is_403_and_changes_nothing(client, subscriber, signature):
    before = snapshot()
    body = json.dumps([COMPLAINT]).encode()
    response = client.post(
        URL, data=body, content_type="application/json", HTTP_X_OMNI_SIGNATURE=signature
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "bad_signature"
    assert snapshot() == before
    assert state(subscriber) == ConsentState.GRANTED


def test_missing_signature_is_403(client, subscriber):
    response = post(client, [COMPLAINT], secret="")
    assert response.status_code == 403
    assert snapshot() == (0, 1)


def test_no_secret_configured_disables_the_webhook(client, settings, subscriber):
    settings.CAMPAIGN_WEBHOOK_SECRET = ""
    response = post(client, [COMPLAINT], secret="anything")
    assert response.status_code == 403
    assert snapshot() == (0, 1)


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405


BAD_BODIES = [
    (b"{not json", "parse_error"),
    (b'{"type": "complaint"}', "invalid"),  # an object, not a list
    (b"[1]", "invalid"),
    (b'[{"type": 5, "email": "a@example.com"}]', "invalid"),
    (b'[{"type": "bounce", "email": "a@example.com"}]', "invalid"),  # no bounce_type
    (b'[{"type": "bounce", "bounce_type": "maybe", "email": "a@example.com"}]', "invalid"),
    (b'[{"type": "complaint", "email": ["a@example.com"]}]', "invalid"),
    (b'[{"type": "complaint", "email": "not an e-mail"}]', "invalid"),
    (b'[{"type": "complaint", "email": "a@example.com", "id": {"x": 1}}]', "invalid"),
    (b'[{"type": "complaint", "email": "a\\u0000@example.com"}]', "invalid"),
    (b'[{"type": "complaint", "email": "\\ud800@example.com"}]', "invalid"),
    (b'[{"type": "complaint", "email": "' + b"a" * 300 + b'@example.com"}]', "invalid"),
    (b"\xff\xfe", "parse_error"),
    (b"[NaN]", "parse_error"),
]


@pytest.mark.parametrize(("raw", "code"), BAD_BODIES)
def test_bad_bodies_are_400_with_the_error_body_and_change_nothing(client, raw, code):
    response = post(client, None, raw=raw)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert snapshot() == (0, 0)


def test_a_bad_event_refuses_the_whole_batch(client, subscriber):
    response = post(client, [HARD, COMPLAINT, {"type": "complaint", "email": 7}])
    assert response.status_code == 400
    assert "[2].email" in response.json()["error"]["fields"]
    assert snapshot() == (0, 1)


def test_too_many_events_is_400(client):
    events = [{**HARD, "email": f"u{i}@example.com"} for i in range(webhooks.MAX_EVENTS + 1)]
    response = post(client, events)
    assert response.status_code == 400
    assert "body" in response.json()["error"]["fields"]
    assert snapshot() == (0, 0)


def test_huge_body_is_refused_before_anything(client):
    raw = b"[" + b" " * (600 * 1024) + b"]"
    response = post(client, None, raw=raw)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_a_failure_midway_rolls_the_batch_back(client, subscriber, monkeypatch):
    real = services.suppress_address
    calls = []

    def flaky(**kwargs):
        calls.append(kwargs["value"])
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real(**kwargs)

    monkeypatch.setattr("campaigns.webhooks.customer_services.suppress_address", flaky)
    with pytest.raises(RuntimeError):
        webhooks.apply_events(webhooks.parse_events([HARD, COMPLAINT]))
    assert snapshot() == (0, 1)


def test_a_form_body_is_415(client):
    body = b"type=complaint&email=ana@example.com"
    response = client.post(
        URL,
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_OMNI_SIGNATURE=sign_webhook(body, SECRET),
    )
    assert response.status_code == 415
    assert snapshot() == (0, 0)
