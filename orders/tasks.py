from celery import shared_task
from django.conf import settings

from orders import services


@shared_task
def pickup_housekeeping() -> dict:
    """Beat, every 5 minutes: expire uncollected orders, remind the day before, and catch up on
    received transfers no order took over. Safe to run twice or concurrently."""
    return {
        "expired": services.expire_uncollected(),
        "reminded": services.remind_uncollected(),
        "transfers": services.retake_received_transfers(),
    }


@shared_task
def abandon_idle_carts() -> int:
    """Beat, every 5 minutes: open carts with lines idle for ``CART_ABANDON_MINUTES`` become
    abandoned (``cart_abandoned`` is sent once for them). Safe to run twice or concurrently."""
    return len(services.mark_abandoned_carts(idle_minutes=settings.CART_ABANDON_MINUTES))
