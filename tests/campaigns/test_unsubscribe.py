"""The unsubscribe link: GET asks, POST (one-click, without CSRF) withdraws, idempotently, in
the shopper's language; a tampered token or a gone profile changes nothing."""

import pytest
from django.test import Client
from django.urls import reverse

from campaigns.tracking import unsubscribe_token
from customers import services
from customers.models import (
    Channel,
    Consent,
    ConsentChannel,
    ConsentPurpose,
    ConsentSource,
    ConsentState,
    IdentityKind,
)

pytestmark = pytest.mark.django_db
CAMPAIGN = 42


@pytest.fixture
def shopper():
    def make(email="ana.garcia@example.com", phone=None, language="en", consent=("email",)):
        identifiers = [(IdentityKind.EMAIL, email, True)] if email else []
        if phone:
            identifiers.append((IdentityKind.PHONE, phone))
        customer = services.identify(
            identifiers=identifiers,
            source=Channel.WEB,
            profile={"first_name": "Ana", "preferred_language": language},
        )
        for channel in consent:
            services.set_consent(
                customer=customer,
                channel=channel,
                purpose=ConsentPurpose.MARKETING,
                granted=True,
                source=ConsentSource.IMPORT,
            )
        return customer

    return make


def url(customer, channel="email", campaign=CAMPAIGN):
    return reverse(
        "campaigns-unsubscribe", args=[unsubscribe_token(customer.pk, channel, campaign)]
    )


def latest(customer, channel="email"):
    return (
        Consent.objects.filter(customer=customer, channel=channel, purpose="marketing")
        .order_by("-created_at", "-pk")
        .first()
    )


def test_get_asks_with_the_masked_address_and_changes_nothing(client, shopper):
    customer = shopper()
    response = client.get(url(customer))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Unsubscribe a•••@example.com from marketing e-mails?" in html
    assert "ana.garcia" not in html
    assert '<form method="post">' in html
    assert latest(customer).state == ConsentState.GRANTED
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-cache" in response["Cache-Control"]


def test_sms_question_masks_the_phone(client, shopper):
    customer = shopper(phone="+34 600 111 222", consent=("sms",))
    html = client.get(url(customer, "sms")).content.decode()
    assert "Unsubscribe +34•••••222 from marketing text messages?" in html


def test_one_click_post_without_csrf_withdraws(shopper):
    customer = shopper()
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        url(customer),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    row = latest(customer)
    assert row.state == ConsentState.WITHDRAWN
    assert row.source == ConsentSource.UNSUBSCRIBE_LINK
    assert row.evidence["campaign"] == CAMPAIGN
    assert row.evidence["one_click"] is True


def test_second_post_changes_nothing_more_and_still_says_done(client, shopper):
    customer = shopper()
    client.post(url(customer))
    count = Consent.objects.count()
    response = client.post(url(customer, campaign=CAMPAIGN + 1))
    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    assert Consent.objects.count() == count


def test_only_the_tokens_channel_is_withdrawn(client, shopper):
    customer = shopper(phone="+34600111222", consent=("email", "sms"))
    client.post(url(customer, "sms"))
    assert latest(customer, "sms").state == ConsentState.WITHDRAWN
    assert latest(customer, "email").state == ConsentState.GRANTED


def test_a_profile_without_consent_rows_gets_a_withdrawn_row(client, shopper):
    customer = shopper(consent=())
    assert client.post(url(customer)).status_code == 200
    assert latest(customer).state == ConsentState.WITHDRAWN


@pytest.mark.parametrize("method", ["get", "post"])
def test_tampered_token_is_400_and_changes_nothing(client, shopper, method):
    customer = shopper()
    token = unsubscribe_token(customer.pk, "email", CAMPAIGN)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    count = Consent.objects.count()
    response = getattr(client, method)(f"/c/u/{tampered}/")
    assert response.status_code == 400
    assert "This link does not work" in response.content.decode()
    assert Consent.objects.count() == count


@pytest.mark.parametrize("token", ["x", "a:b:c", ".eJzT0" + "A" * 40 + ":sig", "%00", "\u00e9"])
def test_junk_tokens_are_400(client, token):
    assert client.post(f"/c/u/{token}/").status_code == 400


def test_a_token_for_another_purpose_is_refused(client, shopper):
    from campaigns.tracking import open_token

    customer = shopper()
    response = client.post(f"/c/u/{open_token(customer.pk)}/")
    assert response.status_code == 400
    assert latest(customer).state == ConsentState.GRANTED


def test_store_channel_token_is_refused(client, shopper):
    customer = shopper()
    assert client.post(url(customer, "store")).status_code == 400


def test_unknown_customer_is_404(client):
    response = client.post(url(type("C", (), {"pk": 10**9})()))
    assert response.status_code == 404
    assert Consent.objects.count() == 0


def test_erased_customer_gets_a_page_and_nothing_changes(client, shopper):
    customer = shopper()
    services.erase_customer(customer=customer)
    count = Consent.objects.count()
    for response in (client.get(url(customer)), client.post(url(customer))):
        assert response.status_code == 200
        assert "There is nothing to unsubscribe" in response.content.decode()
    assert Consent.objects.count() == count


def test_merged_customer_unsubscribes_the_survivor(client, shopper):
    survivor = shopper(email="ana@example.com")
    absorbed = shopper(email="ana.old@example.com")
    services.merge_customers(survivor=survivor, absorbed=absorbed, cause="test")
    response = client.post(url(absorbed))
    assert response.status_code == 200
    assert latest(survivor).state == ConsentState.WITHDRAWN
    assert latest(survivor).customer_id == survivor.pk


def test_pages_speak_the_customers_language_not_the_browsers(client, shopper):
    customer = shopper(language="es")
    ask = client.get(url(customer), HTTP_ACCEPT_LANGUAGE="en")
    assert ask["Content-Language"] == "es"
    assert '<html lang="es">' in ask.content.decode()
    done = client.post(url(customer), HTTP_ACCEPT_LANGUAGE="en")
    assert done["Content-Language"] == "es"
    assert '<html lang="es">' in done.content.decode()


def test_english_customer_gets_english_under_a_spanish_browser(client, shopper):
    customer = shopper(language="en")
    response = client.get(url(customer), HTTP_ACCEPT_LANGUAGE="es")
    assert response["Content-Language"] == "en"
    assert "Unsubscribe a•••@example.com from marketing e-mails?" in response.content.decode()


def test_other_methods_are_refused(client, shopper):
    customer = shopper()
    assert client.put(url(customer)).status_code == 405
    assert latest(customer).state == ConsentState.GRANTED


def test_consent_channels_cover_the_pages_channels():
    from campaigns.views import UNSUBSCRIBABLE

    assert {c for c, _kind in UNSUBSCRIBABLE.values()} <= set(ConsentChannel.values)
