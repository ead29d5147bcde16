"""Consent: an append-only evidence log; e-mail marketing needs a double opt-in."""

import re

import pytest
from django.core import signing

from customers import services
from customers.exceptions import CustomerNotLive, InvalidIdentifier
from customers.models import (
    Consent,
    ConsentChannel,
    ConsentPurpose,
    ConsentSource,
    ConsentState,
    Customer,
    CustomerStatus,
    Identity,
)
from customers.services.profiles import CONFIRM_SALT

pytestmark = pytest.mark.django_db

EMAIL = "ana@example.com"


@pytest.fixture
def ana(make_customer):
    """Signed up on the web: her e-mail is not verified yet."""
    return make_customer(email=EMAIL, verified=False, phone="600111222")


def _set(customer, channel=ConsentChannel.SMS, granted=True, source=ConsentSource.APP, **kw):
    return services.set_consent(
        customer=customer,
        channel=channel,
        purpose=kw.pop("purpose", ConsentPurpose.MARKETING),
        granted=granted,
        source=source,
        **kw,
    )


def _token_from(mail) -> str:
    match = re.search(r"/consent/confirm/([^/\s]+)/", mail.body)
    assert match, mail.body
    return match.group(1)


def test_set_consent_appends_evidence_and_the_latest_row_is_the_state(ana):
    granted = _set(ana, wording_version="sms-v1", evidence={"ip": "10.0.0.1"})
    assert services.has_consent(ana, ConsentChannel.SMS)

    withdrawn = _set(ana, granted=False, wording_version="sms-v1")

    assert withdrawn.pk != granted.pk
    rows = list(Consent.objects.filter(customer=ana).order_by("created_at", "pk"))
    assert [(r.state, r.source) for r in rows] == [
        (ConsentState.GRANTED, ConsentSource.APP),
        (ConsentState.WITHDRAWN, ConsentSource.APP),
    ]
    assert rows[0].evidence == {"ip": "10.0.0.1"}
    assert rows[0].wording_version == "sms-v1"
    assert services.current_consents(ana)[("sms", "marketing")].pk == withdrawn.pk
    assert not services.has_consent(ana, ConsentChannel.SMS)

    _set(ana)
    assert services.has_consent(ana, ConsentChannel.SMS)
    assert Consent.objects.filter(customer=ana).count() == 3


def test_consent_rows_are_never_updated(ana):
    consent = _set(ana)
    consent.state = ConsentState.WITHDRAWN
    with pytest.raises(TypeError):
        consent.save()
    consent.refresh_from_db()
    assert consent.state == ConsentState.GRANTED


def test_states_are_per_channel_and_purpose(ana):
    _set(ana, channel=ConsentChannel.SMS)
    _set(ana, channel=ConsentChannel.PUSH, purpose=ConsentPurpose.PROFILING)
    _set(ana, channel=ConsentChannel.PUSH, granted=False)

    assert services.has_consent(ana, ConsentChannel.SMS)
    assert services.has_consent(ana, ConsentChannel.PUSH, ConsentPurpose.PROFILING)
    assert not services.has_consent(ana, ConsentChannel.PUSH)
    assert not services.has_consent(ana, ConsentChannel.WHATSAPP)  # never asked: no consent
    assert set(services.current_consents(ana)) == {
        ("sms", "marketing"),
        ("push", "profiling"),
        ("push", "marketing"),
    }


def test_withdrawn_after_granted_means_no_consent(ana, staff_user):
    _set(ana, channel=ConsentChannel.EMAIL, source=ConsentSource.STORE, staff=staff_user)
    assert services.has_consent(ana, ConsentChannel.EMAIL)

    _set(ana, channel=ConsentChannel.EMAIL, granted=False, source=ConsentSource.WEB_FORM)

    assert not services.has_consent(ana, ConsentChannel.EMAIL)
    assert Consent.objects.filter(customer=ana, channel="email").count() == 2


def test_web_email_opt_in_is_pending_until_confirmed(
    ana, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        pending = _set(
            ana,
            channel=ConsentChannel.EMAIL,
            source=ConsentSource.WEB_FORM,
            wording_version="news-v2",
        )

    assert pending.state == ConsentState.PENDING
    assert not services.has_consent(ana, ConsentChannel.EMAIL)
    assert len(callbacks) == 1
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == [EMAIL]
    token = _token_from(mail)
    # The token carries the pending choice and the address it was sent to. (Its
    # signature holds a timestamp, so a token made a second later differs.)
    assert signing.loads(token, salt=CONFIRM_SALT) == {"consent": pending.pk, "email": EMAIL}

    confirmed = services.confirm_consent(token=token, evidence={"ip": "10.0.0.9"})

    assert confirmed.state == ConsentState.GRANTED
    assert confirmed.source == ConsentSource.EMAIL_CONFIRMATION
    assert confirmed.wording_version == "news-v2"
    assert confirmed.evidence == {"ip": "10.0.0.9"}
    assert services.has_consent(ana, ConsentChannel.EMAIL)
    # Clicking the link proves the address.
    assert Identity.objects.get(customer=ana, kind="email").verified
    # The pending row is still there, unchanged: evidence is appended.
    pending.refresh_from_db()
    assert pending.state == ConsentState.PENDING
    assert Consent.objects.filter(customer=ana, channel="email").count() == 2

    # Clicking twice changes nothing.
    assert services.confirm_consent(token=token).pk == confirmed.pk
    assert Consent.objects.filter(customer=ana, channel="email").count() == 2


def test_confirmation_mail_is_sent_only_after_commit(
    ana, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _set(ana, channel=ConsentChannel.EMAIL, source=ConsentSource.WEB_FORM)
        assert mailoutbox == []
    assert len(callbacks) == 1
    assert mailoutbox == []  # the transaction never committed: no mail


@pytest.mark.parametrize("token", ["", "garbage", "eyJjb25zZW50IjoxfQ:1abcde:wrongsignature"])
def test_a_bad_token_is_refused(ana, token):
    _set(ana, channel=ConsentChannel.EMAIL, source=ConsentSource.WEB_FORM)
    with pytest.raises(InvalidIdentifier):
        services.confirm_consent(token=token)
    assert not services.has_consent(ana, ConsentChannel.EMAIL)


def test_an_expired_token_is_refused(ana, settings):
    pending = _set(ana, channel=ConsentChannel.EMAIL, source=ConsentSource.WEB_FORM)
    token = services.confirmation_token(pending)
    settings.CONSENT_CONFIRM_MAX_AGE = -1

    with pytest.raises(InvalidIdentifier):
        services.confirm_consent(token=token)
    assert not services.has_consent(ana, ConsentChannel.EMAIL)
    assert Consent.objects.filter(customer=ana).count() == 1


def test_a_token_for_a_replaced_choice_is_refused(ana):
    pending = _set(ana, channel=ConsentChannel.EMAIL, source=ConsentSource.WEB_FORM)
    _set(ana, channel=ConsentChannel.EMAIL, granted=False, source=ConsentSource.WEB_FORM)

    with pytest.raises(InvalidIdentifier):
        services.confirm_consent(token=services.confirmation_token(pending))
    assert not services.has_consent(ana, ConsentChannel.EMAIL)


def test_store_consent_names_the_staff_member(ana, staff_user, mailoutbox):
    with pytest.raises(InvalidIdentifier):
        _set(ana, channel=ConsentChannel.EMAIL, source=ConsentSource.STORE)
    assert not Consent.objects.exists()

    consent = _set(ana, channel=ConsentChannel.EMAIL, source=ConsentSource.STORE, staff=staff_user)

    # Confirmed in person at the counter: no double opt-in needed.
    assert consent.state == ConsentState.GRANTED
    assert consent.staff_id == staff_user.pk
    assert services.has_consent(ana, ConsentChannel.EMAIL)
    assert mailoutbox == []


def test_other_email_purposes_need_no_double_opt_in(ana):
    consent = _set(
        ana,
        channel=ConsentChannel.EMAIL,
        purpose=ConsentPurpose.PERSONALISATION,
        source=ConsentSource.WEB_FORM,
    )
    assert consent.state == ConsentState.GRANTED


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("channel", {"channel": "pigeon"}),
        ("purpose", {"purpose": "resale"}),
        ("source", {"source": "rumour"}),
    ],
)
def test_unknown_values_are_refused(ana, field, kwargs):
    with pytest.raises(InvalidIdentifier) as excinfo:
        _set(ana, **kwargs)
    assert field in excinfo.value.fields
    assert not Consent.objects.exists()


def test_no_consent_for_a_dead_profile(ana):
    Customer.objects.filter(pk=ana.pk).update(status=CustomerStatus.MERGED)
    with pytest.raises(CustomerNotLive):
        _set(ana)
    assert not Consent.objects.exists()


def test_confirmation_link_page_confirms_on_post_only(client, make_customer):
    from customers.models import Consent
    from customers.services import confirmation_token, set_consent

    customer = make_customer(email="news@example.com", verified=False)
    pending = set_consent(
        customer=customer, channel="email", purpose="marketing", granted=True, source="web_form"
    )
    url = f"/consent/confirm/{confirmation_token(pending)}/"

    page = client.get(url)  # a mail scanner prefetching the link changes nothing
    assert page.status_code == 200
    assert Consent.objects.filter(customer=customer).count() == 1

    done = client.post(url)
    assert done.status_code == 200
    latest = Consent.objects.filter(customer=customer).order_by("-pk").first()
    assert (latest.state, latest.source) == ("granted", "email_confirmation")

    bad = client.post("/consent/confirm/not-a-token/")
    assert bad.status_code == 400


def test_confirming_does_not_steal_an_address_verified_by_someone_else(make_customer):
    from customers.models import Identity
    from customers.services import confirm_consent, confirmation_token, set_consent

    owner = make_customer(email="shared@example.com", verified=True)
    other = make_customer(anonymous_id="dev-x")
    Identity.objects.create(customer=other, kind="email", value="shared@example.com", source="web")
    pending = set_consent(
        customer=other, channel="email", purpose="marketing", granted=True, source="web_form"
    )

    confirmed = confirm_consent(token=confirmation_token(pending, "shared@example.com"))

    assert confirmed.state == "granted"
    assert not Identity.objects.get(customer=other, kind="email").verified
    assert Identity.objects.get(customer=owner, kind="email").verified
