"""Phone codes confirmed at the same time: each attempt counts once, a code proves once."""

import re

import pytest

from customers import services
from customers.exceptions import PhoneCodeUsed, TooManyCodeAttempts, WrongPhoneCode
from customers.models import Identity, PhoneVerification
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sql_path"),
]

PHONE = "+34600111222"


@pytest.fixture
def ana_and_code(outbox):
    ana = services.customer_for_user(UserFactory(email="ana@example.com"))
    services.start_phone_verification(customer=ana, phone=PHONE)  # commits: the SMS goes
    return ana, re.search(r"\b(\d{6})\b", outbox[-1].body).group(1)


def test_concurrent_wrong_codes_all_count_and_lock_at_five(concurrently, ana_and_code):
    ana, code = ana_and_code
    bad = f"{(int(code) + 1) % 1_000_000:06d}"

    results = concurrently(
        lambda i: services.confirm_phone_verification(customer=ana, phone=PHONE, code=bad), 8
    )

    kinds = sorted(type(r).__name__ for r in results)
    assert kinds.count(WrongPhoneCode.__name__) == 4, kinds
    assert kinds.count(TooManyCodeAttempts.__name__) == 4, kinds
    assert PhoneVerification.objects.get().attempts == 5


def test_one_code_confirmed_twice_at_once_proves_once(concurrently, ana_and_code):
    ana, code = ana_and_code

    results = concurrently(
        lambda i: services.confirm_phone_verification(customer=ana, phone=PHONE, code=code), 4
    )

    proved = [r for r in results if isinstance(r, PhoneVerification)]
    used = [r for r in results if isinstance(r, PhoneCodeUsed)]
    assert len(proved) == 1 and len(used) == 3, results
    assert Identity.objects.get(kind="phone").verified
