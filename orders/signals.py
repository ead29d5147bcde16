"""Order news for the apps above orders (campaigns: attribution, journeys), sent on commit.

Each is sent with sender=Order and ``order_id``; ``order_returned`` adds ``return_id``.
"""

from django.dispatch import Signal

order_placed = Signal()
order_collected = Signal()
order_returned = Signal()


def send_on_commit(signal: Signal, **kwargs) -> None:
    from django.db import transaction

    from orders.models import Order

    transaction.on_commit(lambda: signal.send(sender=Order, **kwargs), robust=True)
