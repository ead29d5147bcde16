"""Sending a domain app's news to the apps above it.

Upward news travels by signals defined in the lower app (``orders.signals``,
``inventory.signals``) and received in the higher app's ``apps.py`` ``ready()``. They are sent
after commit, so a receiver never sees (or acts on) a change that is rolled back.
"""

from django.db import transaction
from django.dispatch import Signal


def send_on_commit(signal: Signal, *, sender, **kwargs) -> None:
    """Send ``signal`` once the current transaction commits (at once outside one).

    ``robust``: a receiver that raises neither breaks the other receivers nor the request whose
    transaction just committed.
    """
    transaction.on_commit(lambda: signal.send(sender=sender, **kwargs), robust=True)
