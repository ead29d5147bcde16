"""Checks that services and screens both need."""

from customers import selectors as customer_selectors
from customers.exceptions import ProfileClaimed


def check_bearer_access(*, customer_id: int) -> None:
    """A cart token or a device id without a signed-in shopper: only an unclaimed profile's cart
    (an anonymous visitor's or a guest's) answers; a claimed one wants its owner signed in
    (customers.services.profiles, "Identity claims")."""
    if customer_selectors.is_claimed(customer_id):
        raise ProfileClaimed()
