"""What every API test file shares: a fresh client, the orders tests' small shop, and throttle
counters (kept in the cache) cleared around each test."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.orders import conftest as orders_fixtures

shop = orders_fixtures.shop


@pytest.fixture(autouse=True)
def _clear_throttles():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api():
    return APIClient()
