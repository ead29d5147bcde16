"""The one contact budget: at most N marketing messages per customer per window, counted across
every campaign and every channel (the store's tasks included) from the deliveries that reached
them. ``settings.CAMPAIGN_CONTACT_BUDGET`` is ``(messages, timedelta)``;
``settings.CAMPAIGN_CONTACT_BUDGET_BY_PRIORITY`` overrides it for a campaign priority (e.g. a
high-priority campaign may be the 4th message of the week). Transactional messages (pickup
ready, reminders) never pass through here.

Race-safe: :func:`spend` takes a per-customer advisory lock (sorted) before counting, and the
sender marks its rows sent in the same transaction, so a concurrent sender to the same customer
counts only after this one committed.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count

from campaigns import queries
from campaigns.models import REACHED, Delivery

DEFAULT_BUDGET = (3, timedelta(days=7))


def budget_for(priority: str) -> tuple[int, timedelta]:
    """(messages, window) for a campaign of ``priority``."""
    by_priority = getattr(settings, "CAMPAIGN_CONTACT_BUDGET_BY_PRIORITY", {}) or {}
    return by_priority.get(priority) or getattr(settings, "CAMPAIGN_CONTACT_BUDGET", DEFAULT_BUDGET)


def messages_received(customer_ids: Iterable[int], *, since: datetime) -> dict[int, int]:
    """customer id → marketing messages that reached them since ``since`` (every campaign)."""
    rows = (
        Delivery.objects.filter(
            customer_id__in=list(customer_ids), sent_at__gte=since, status__in=REACHED
        )
        .values("customer_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["customer_id"]: row["n"] for row in rows}


def spend(customer_ids: Iterable[int], *, priority: str, now: datetime) -> set[int]:
    """Lock the customers' budgets (until commit) and return those who may receive one more
    message now. The caller must mark the messages sent in the same transaction."""
    ids = sorted(set(customer_ids))
    if not ids:
        return set()
    queries.lock_contact_budgets(ids)
    limit, window = budget_for(priority)
    received = messages_received(ids, since=now - window)
    return {pk for pk in ids if received.get(pk, 0) < limit}
