from celery import shared_task
from django.conf import settings

from omni.idempotency import purge_expired_keys


@shared_task
def purge_idempotency_keys() -> int:
    """Forget idempotency keys older than IDEMPOTENCY_KEY_TTL (safe to run twice)."""
    return purge_expired_keys(older_than=settings.IDEMPOTENCY_KEY_TTL)
