"""Signals other apps receive to keep their rows pointing at the right customer.

``customers_merged`` is sent inside the merge transaction (sender=Customer, survivor=...,
absorbed=...): receivers move their rows (carts, orders, deliveries) in the same transaction,
so a merge is all or nothing. ``customer_erased`` likewise lets them strip personal data.
"""

from django.dispatch import Signal

customers_merged = Signal()
customer_erased = Signal()
