"""Payment providers behind one small interface. Omni ships a manual provider (cash or card at the
till, or a payment taken elsewhere); a real gateway implements the same two calls.

``settings.ORDERS_PAYMENT_PROVIDER`` names the class. Calls happen inside the order's
transaction and must be idempotent per (order, amount) on the provider's side.
"""

from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class PaymentProvider(Protocol):
    name: str

    def capture(self, *, order_number: str, amount: Decimal) -> str:
        """Take the money; returns the provider's reference."""

    def refund(self, *, order_number: str, amount: Decimal) -> str:
        """Give money back; returns the provider's reference."""


class ManualProvider:
    """Payments recorded by hand: nothing leaves Omni, the reference says who to ask."""

    name = "manual"

    def capture(self, *, order_number: str, amount: Decimal) -> str:
        return f"manual:{order_number}"

    def refund(self, *, order_number: str, amount: Decimal) -> str:
        return f"manual-refund:{order_number}:{amount}"


def provider() -> PaymentProvider:
    return import_string(settings.ORDERS_PAYMENT_PROVIDER)()
