"""Row locks of the campaigns app (after customers' in the global order, omni/locks.py).

Deliveries are claimed with ``FOR UPDATE SKIP LOCKED`` in pk order: any number of workers on
any number of hosts share a campaign's queued rows, each row held by one transaction at a time.
"""

from datetime import datetime

from django.db.models import Q

from campaigns.models import Campaign, Delivery, DeliveryStatus


def campaign_for_update(pk: int) -> Campaign:
    return Campaign.objects.select_for_update(of=("self",)).get(pk=pk)


def claim_queued(campaign_id: int, limit: int, now: datetime) -> list[Delivery]:
    """Up to ``limit`` queued deliveries of the campaign that may go out at ``now`` (not
    deferred by quiet hours), locked; rows another transaction holds are skipped."""
    rows = (
        Delivery.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(campaign_id=campaign_id, status=DeliveryStatus.QUEUED)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .select_related("customer")
        .order_by("pk")[:limit]
    )
    return list(rows)
