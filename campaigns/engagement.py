"""What shoppers do with a campaign message: opens (the pixel) and clicks (the redirect).

Statuses only move forward (``sent → opened → clicked``), with one conditional UPDATE each, so
a repeated pixel or click changes nothing: ``opened_at`` and ``clicked_at`` keep the first
time. A click implies an open (mail clients that block images still let links through), so a
first click also sets ``opened_at`` when it is empty. A delivery that bounced, failed or was
suppressed is never marked. Each first open and first click is a touchpoint on the shopper's
timeline (``message_opened`` / ``message_clicked``; the shopper was seen), and wakes the
journey entry that waits for it (``campaigns.services.journeys.wake_on_engagement``).
"""

from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.models import Delivery, DeliveryStatus, StepEvent
from campaigns.services import journeys
from customers.models import EventType
from customers.services.profiles import record_customer_event

OPENABLE = (DeliveryStatus.SENT,)
CLICKABLE = (DeliveryStatus.SENT, DeliveryStatus.OPENED)


def _advance(delivery_id: int, from_statuses, to_status: str, **times) -> bool:
    changed = Delivery.objects.filter(pk=delivery_id, status__in=from_statuses).update(
        status=to_status, updated_at=timezone.now(), **times
    )
    return changed == 1


def _touchpoint(delivery_id: int, event_type: str) -> None:
    delivery = Delivery.objects.select_related("customer").get(pk=delivery_id)
    if not delivery.customer.is_live:
        return  # merged or erased since the send: nothing to add to
    record_customer_event(
        customer=delivery.customer,
        type=event_type,
        channel=delivery.channel,
        properties={"campaign_id": delivery.campaign_id, "delivery_id": delivery.pk},
    )


def record_open(*, delivery_id: int) -> bool:
    """Sent → opened; True when this call made the change (the first open)."""
    now = timezone.now()
    first = _advance(delivery_id, OPENABLE, DeliveryStatus.OPENED, opened_at=now)
    if first:
        _touchpoint(delivery_id, EventType.MESSAGE_OPENED)
        journeys.wake_on_engagement(delivery_id=delivery_id, event=StepEvent.OPENED, now=now)
    return first


def record_click(*, delivery_id: int) -> bool:
    """Sent or opened → clicked; True when this call made the change (the first click)."""
    now = timezone.now()
    first = _advance(
        delivery_id,
        CLICKABLE,
        DeliveryStatus.CLICKED,
        clicked_at=now,
        opened_at=Coalesce(F("opened_at"), now),
    )
    if first:
        _touchpoint(delivery_id, EventType.MESSAGE_CLICKED)
        journeys.wake_on_engagement(delivery_id=delivery_id, event=StepEvent.CLICKED, now=now)
    return first
