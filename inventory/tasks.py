from celery import shared_task

from inventory import services


@shared_task
def expire_reservations() -> int:
    """Beat, every minute: release overdue holds. Safe to run twice or concurrently."""
    return services.expire_reservations()
