"""A campaign's sending rate per channel: at most ``send_rates[channel]`` messages in any
minute on that channel, whatever the number of workers and hosts.

``quotas`` counts the campaign's sends of the last minute per limited channel under the
campaign's rate lock (a transaction-level advisory lock, ``campaigns.queries``), so two batches
of one campaign never count the same free slots; the claim then takes at most the quota of
each limited channel (``locks.claim_queued``). Rows over the rate are never claimed, so they
cost nothing while they wait; the send task comes back at :func:`next_slot`.
"""

from datetime import datetime, timedelta

from django.db.models import Count, Min

from campaigns import queries
from campaigns.models import Campaign, Delivery, DeliveryStatus

RATE_PERIOD = timedelta(minutes=1)


def limits(campaign: Campaign) -> dict[str, int]:
    """The campaign's rate-limited channels and their messages per minute."""
    rates = campaign.send_rates if isinstance(campaign.send_rates, dict) else {}
    return {c: r for c, r in rates.items() if type(r) is int and r > 0}


def _sent_in_window(campaign: Campaign, channels, now: datetime):
    return Delivery.objects.filter(
        campaign_id=campaign.pk, channel__in=channels, sent_at__gt=now - RATE_PERIOD
    )


def quotas(campaign: Campaign, now: datetime) -> dict[str, int]:
    """Messages each limited channel may still send in the minute up to ``now``; takes the
    campaign's rate lock until the transaction ends (call it inside the sending transaction,
    before the claim). Empty when the campaign has no rate: no lock, no query."""
    limited = limits(campaign)
    if not limited:
        return {}
    queries.lock_campaign_rates(campaign.pk)
    rows = _sent_in_window(campaign, limited, now).values_list("channel").annotate(n=Count("pk"))
    sent = dict(rows.order_by())
    return {channel: max(0, rate - sent.get(channel, 0)) for channel, rate in limited.items()}


def next_slot(campaign: Campaign, now: datetime) -> datetime | None:
    """When a limited channel with queued rows may send again: the oldest send of the current
    minute leaves the window (``now`` if nothing was sent in it). None: no limited channel has
    queued rows."""
    limited = limits(campaign)
    waiting = Delivery.objects.filter(
        campaign_id=campaign.pk, channel__in=limited, status=DeliveryStatus.QUEUED
    )
    if not limited or not waiting.exists():
        return None
    oldest = _sent_in_window(campaign, limited, now).aggregate(first=Min("sent_at"))["first"]
    return oldest + RATE_PERIOD if oldest else now
