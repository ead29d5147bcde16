"""Bounces, complaints and unsubscribes arriving at the same time: one suppression per
address, one withdrawal per profile, no deadlock, no error."""

import pytest
from django.test import Client
from django.urls import reverse

from campaigns import webhooks
from campaigns.tracking import unsubscribe_token
from customers import services
from customers.models import Channel, Consent, ConsentState, IdentityKind, Suppression

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]


def _subscriber(email):
    customer = services.identify(
        identifiers=[(IdentityKind.EMAIL, email, True)], source=Channel.WEB
    )
    services.set_consent(
        customer=customer, channel="email", purpose="marketing", granted=True, source="import"
    )
    return customer


def _withdrawals(customer):
    return Consent.objects.filter(
        customer=customer, channel="email", state=ConsentState.WITHDRAWN
    ).count()


def test_replayed_complaints_at_once_suppress_and_withdraw_once(concurrently):
    ana, bob = _subscriber("ana@example.com"), _subscriber("bob@example.com")
    batches = [
        [
            {"type": "complaint", "email": "ana@example.com", "id": "a"},
            {"type": "complaint", "email": "bob@example.com", "id": "b"},
            {"type": "bounce", "bounce_type": "hard", "email": "gone@example.com"},
        ],
    ]
    batches.append(list(reversed(batches[0])))  # the other order must not deadlock

    results = concurrently(
        lambda i: webhooks.apply_events(webhooks.parse_events(batches[i % 2])), 8
    )

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r["newly_suppressed"] for r in results) == 3
    assert Suppression.objects.count() == 3
    assert _withdrawals(ana) == 1 and _withdrawals(bob) == 1


def test_many_one_click_posts_at_once_withdraw_once(concurrently):
    ana = _subscriber("ana@example.com")
    url = reverse("campaigns-unsubscribe", args=[unsubscribe_token(ana.pk, "email", 3)])

    results = concurrently(
        lambda i: Client().post(
            url, "List-Unsubscribe=One-Click", "application/x-www-form-urlencoded"
        ),
        6,
    )

    assert [getattr(r, "status_code", r) for r in results] == [200] * 6
    assert _withdrawals(ana) == 1
