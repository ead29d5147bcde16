"""An account's first requests at once get one profile (the account row serialises them)."""

import pytest

from customers import services
from customers.models import Customer
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sql_path"),
]


def test_concurrent_first_requests_of_an_account_make_one_profile(concurrently):
    user = UserFactory(email="ana@example.com")

    results = concurrently(lambda i: services.customer_for_user(user).pk, 8)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(set(results)) == 1
    assert Customer.objects.filter(user=user).count() == 1
