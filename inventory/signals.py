"""News from inventory for the apps above it (sent on commit with
``omni.signals.send_on_commit``).

``transfer_received`` (sender=Transfer, transfer_id=...): a transfer arrived; an order waiting for
it (orders) takes over the units the transfer held at the destination.
"""

from django.dispatch import Signal

transfer_received = Signal()
