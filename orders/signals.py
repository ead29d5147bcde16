"""Order news for the apps above orders (campaigns: attribution, journeys), sent on commit
with ``omni.signals.send_on_commit``.

Each order signal is sent with sender=Order and ``order_id``; ``order_returned`` adds
``return_id``.

``cart_abandoned`` is sent with sender=Cart and ``cart_ids`` (a sorted list of ints): the open
carts with lines that ``orders.services.mark_abandoned_carts`` just marked abandoned (each id
once: a cart is announced again only after it was reopened and left idle again).
"""

from django.dispatch import Signal

order_placed = Signal()
order_collected = Signal()
order_returned = Signal()
cart_abandoned = Signal()
