"""The anonymous rate limit keys on the client address the trusted proxies report; a forged
X-Forwarded-For buys no fresh budget (settings.TRUSTED_PROXY_COUNT → DRF's NUM_PROXIES)."""

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle

from omni.network import client_address

pytestmark = pytest.mark.django_db

URL = "/api/v1/locations/"


@pytest.fixture(autouse=True)
def three_a_minute(monkeypatch):
    # Rates are read into the class when DRF loads: set the anonymous one for this test only.
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "3/minute"})
    cache.clear()
    yield
    cache.clear()


def proxies(n):
    rest = {**settings.REST_FRAMEWORK, "NUM_PROXIES": n}
    return override_settings(REST_FRAMEWORK=rest)


def statuses(client, forwarded_for, remote="203.0.113.7"):
    return [
        client.get(URL, HTTP_X_FORWARDED_FOR=xff, REMOTE_ADDR=remote).status_code
        for xff in forwarded_for
    ]


def test_without_a_trusted_proxy_a_fresh_forwarded_for_buys_nothing():
    forged = [f"198.51.100.{n}" for n in range(5)]
    with proxies(0):
        assert statuses(APIClient(), forged) == [200, 200, 200, 429, 429]


def test_behind_one_proxy_the_address_it_appended_is_the_client():
    client = APIClient()
    # The client forges a first hop; the proxy appends what it saw (the real client).
    forged = [f"198.51.100.{n}, 192.0.2.10" for n in range(4)]
    with proxies(1):
        assert statuses(client, forged, remote="10.0.0.2") == [200, 200, 200, 429]
        # Another client behind the same proxy has its own budget.
        assert statuses(client, ["192.0.2.11"], remote="10.0.0.2") == [200]


def test_consent_evidence_uses_the_same_address(rf):
    request = rf.get("/", HTTP_X_FORWARDED_FOR="198.51.100.1, 192.0.2.10", REMOTE_ADDR="10.0.0.2")
    with proxies(0):
        assert client_address(request) == "10.0.0.2"
    with proxies(1):
        assert client_address(request) == "192.0.2.10"
