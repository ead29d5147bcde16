from celery import shared_task

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
