"""Order news for the apps above orders (campaigns: attribution, journeys), sent on commit
with ``omni.signals.send_on_commit``.

Each is sent with sender=Order and ``order_id``; ``order_returned`` adds ``return_id``.
"""

from django.dispatch import Signal

order_placed = Signal()
order_collected = Signal()
order_returned = Signal()
