"""Social custom audience export: a segment's consenting, verified e-mails and phones, hashed,
in the ad platform's CSV layout; marketers only; a bad layout is a 400 with the error body."""

import csv
import hashlib
import io

import pytest

from campaigns import services
from customers.models import Channel, Consent, Customer, Identity, IdentityKind
from omni import roles
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

EVERYONE = {
    "op": "all",
    "rules": [{"type": "profile", "field": "is_anonymous", "op": "=", "value": False}],
}


def _h(value):
    return hashlib.sha256(value.encode()).hexdigest()


def _person(name, *, email=None, phone=None, verified=True, consents=()):
    customer = Customer.objects.create(first_name=name, is_anonymous=False)
    for kind, value in ((IdentityKind.EMAIL, email), (IdentityKind.PHONE, phone)):
        if value:
            Identity.objects.create(
                customer=customer, kind=kind, value=value, verified=verified, source=Channel.WEB
            )
    for channel, state in consents:
        Consent.objects.create(
            customer=customer, channel=channel, purpose="marketing", state=state, source="web_form"
        )
    return customer


@pytest.fixture
def segment(db):
    _person("Ana", email="ana@example.com", phone="+34600000001", consents=[("email", "granted"), ("sms", "granted")])  # fmt: skip
    _person("Bea", email="bea@example.com", consents=[("email", "granted"), ("email", "withdrawn")])  # fmt: skip
    _person("Cris", email="cris@example.com", verified=False, consents=[("email", "granted")])
    _person("Dani", phone="+34600000004", consents=[("email", "granted")])
    return services.save_segment(name="Everyone", rules=EVERYONE, acting_user=None)


def _rows(response):
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_marketer_downloads_only_consenting_verified_hashes(api, segment):
    api.force_authenticate(UserFactory(role=roles.MARKETER))
    response = api.get(f"/api/v1/segments/{segment.pk}/audience.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    # Bea withdrew, Cris's address is unverified, Dani consented to e-mail but has no e-mail and
    # no SMS consent for the phone: only Ana, both identifiers.
    assert _rows(response) == [["email", "phone"], [_h("ana@example.com"), _h("34600000001")]]


def test_google_layout_keeps_the_plus_of_e164(api, segment):
    api.force_authenticate(UserFactory(role=roles.MARKETER))
    response = api.get(f"/api/v1/segments/{segment.pk}/audience.csv?layout=google")
    assert _rows(response)[1] == [_h("ana@example.com"), _h("+34600000001")]


@pytest.mark.parametrize("layout", ["tiktok", "", "meta%00", "%ED%A0%80"])
def test_an_unknown_layout_is_a_400_naming_the_parameter(api, segment, layout):
    api.force_authenticate(UserFactory(role=roles.MARKETER))
    response = api.get(f"/api/v1/segments/{segment.pk}/audience.csv?layout={layout}")
    assert response.status_code == 400
    assert any("layout" in field for field in response.json()["error"]["fields"])


def test_store_staff_may_not_export_and_an_unknown_segment_is_404(api, segment):
    api.force_authenticate(UserFactory(role=roles.STORE_STAFF))
    assert api.get(f"/api/v1/segments/{segment.pk}/audience.csv").status_code == 403
    api.force_authenticate(UserFactory(role=roles.MARKETER))
    response = api.get("/api/v1/segments/999999/audience.csv")
    assert response.status_code == 404
