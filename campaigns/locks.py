"""Row locks of the campaigns app (after customers' in the global order, omni/locks.py).

Deliveries are claimed with ``FOR UPDATE SKIP LOCKED`` in pk order: any number of workers on
any number of hosts share a campaign's queued rows, each row held by one transaction at a time.
"""

from collections.abc import Mapping
from datetime import datetime

from django.db.models import Q

from campaigns.models import Campaign, Delivery, DeliveryStatus, EntryState, JourneyEntry


def campaign_for_update(pk: int) -> Campaign:
    return Campaign.objects.select_for_update(of=("self",)).get(pk=pk)


def claim_queued(
    campaign_id: int, limit: int, now: datetime, *, quotas: Mapping[str, int] | None = None
) -> list[Delivery]:
    """Up to ``limit`` queued deliveries of the campaign that may go out at ``now`` (not
    deferred), locked, in pk order; rows another transaction holds are skipped. A channel in
    ``quotas`` (``campaigns.rates``) gives at most its quota of rows."""
    claimable = (
        Delivery.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(campaign_id=campaign_id, status=DeliveryStatus.QUEUED)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .select_related("customer")
        .order_by("pk")
    )
    if not quotas:
        return list(claimable[:limit])
    rows = list(claimable.exclude(channel__in=list(quotas))[:limit])
    for channel, quota in sorted(quotas.items()):
        room = min(quota, limit - len(rows))
        if room > 0:
            rows += claimable.filter(channel=channel)[:room]
    return sorted(rows, key=lambda row: row.pk)


def deliveries_of_customers(customer_ids) -> list[int]:
    """The customers' deliveries, locked, skipping those a sending worker holds (see
    ``campaigns.services.people``: waiting for them could deadlock with the sender)."""
    rows = Delivery.objects.select_for_update(skip_locked=True).filter(
        customer_id__in=list(customer_ids)
    )
    return list(rows.order_by("pk").values_list("pk", flat=True))


def _entries():
    return JourneyEntry.objects.select_for_update(skip_locked=True, of=("self",))


def due_entries(now: datetime, limit: int) -> list[JourneyEntry]:
    """Up to ``limit`` active journey entries whose next look is due, locked, oldest first;
    entries another sweep holds are skipped. No join: the partial index
    campaigns_entry_due_idx (next_at, id) hands them over in order, so a batch costs the same
    whether ten or a million entries are due."""
    rows = _entries().filter(state=EntryState.ACTIVE, next_at__lte=now).order_by("next_at", "pk")
    return list(rows[:limit])


def active_entries_of(customer_id: int) -> list[JourneyEntry]:
    """The customer's active entries, locked (those a sweep holds are skipped: it checks the
    exits itself before its next step)."""
    rows = _entries().filter(state=EntryState.ACTIVE, customer_id=customer_id).order_by("pk")
    return list(rows)
