"""What shoppers do with a campaign message: opens (the pixel) and clicks (the redirect).

Statuses only move forward (``sent → opened → clicked``), with one conditional UPDATE each, so
a repeated pixel or click changes nothing and the time of the first open stays in
``updated_at`` (Delivery has no ``opened_at``/``clicked_at`` yet). A delivery that bounced,
failed or was suppressed is never marked.
"""

from django.utils import timezone

from campaigns.models import Delivery, DeliveryStatus

OPENABLE = (DeliveryStatus.SENT,)
CLICKABLE = (DeliveryStatus.SENT, DeliveryStatus.OPENED)


def _advance(delivery_id: int, from_statuses, to_status: str) -> bool:
    changed = Delivery.objects.filter(pk=delivery_id, status__in=from_statuses).update(
        status=to_status, updated_at=timezone.now()
    )
    return changed == 1


def record_open(*, delivery_id: int) -> bool:
    """Sent → opened; True when this call made the change (the first open)."""
    return _advance(delivery_id, OPENABLE, DeliveryStatus.OPENED)


def record_click(*, delivery_id: int) -> bool:
    """Sent or opened → clicked; True when this call made the change (the first click)."""
    return _advance(delivery_id, CLICKABLE, DeliveryStatus.CLICKED)
