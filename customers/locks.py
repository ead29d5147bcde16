"""Row locks of the customers app, first in the global lock order (omni/locks.py).

Identifier values are serialised by advisory locks (``profiles.lock_identifiers``, sorted keys)
before any customer row; customer rows are always locked by pk.
"""

from collections.abc import Iterable

from django.contrib.auth import get_user_model

from customers.models import Customer, MergeReview, PhoneVerification


def customer_for_update(pk: int) -> Customer:
    return Customer.objects.select_for_update().get(pk=pk)


def customer_for_no_key_update(pk: int) -> Customer | None:
    """The profile locked so that no other transaction changes or deletes it, while rows
    pointing to it (orders, events) may still be inserted; None if it does not exist."""
    return Customer.objects.select_for_update(no_key=True).filter(pk=pk).first()


def customers_for_update(pks: Iterable[int]) -> dict[int, Customer]:
    """Several profiles (a merge), locked in pk order."""
    rows = Customer.objects.filter(pk__in=list(pks)).order_by("pk").select_for_update()
    return {customer.pk: customer for customer in rows}


def account_for_update(user_pk: int) -> None:
    """The sign-in account's row: serialises an account's first requests (one profile each)."""
    get_user_model().objects.select_for_update().filter(pk=user_pk).exists()


def review_for_update(pk: int) -> MergeReview:
    return MergeReview.objects.select_for_update().get(pk=pk)


def latest_phone_code_for_update(customer: Customer, phone: str) -> PhoneVerification | None:
    return (
        PhoneVerification.objects.select_for_update()
        .filter(customer=customer, phone=phone)
        .order_by("-created_at", "-pk")
        .first()
    )
