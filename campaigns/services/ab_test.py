"""The A/B test's winner: when the test group's time is up, the variant with the best rate of
the campaign's metric (``ab_winner_metric``) among the test group's deliveries that reached
the shopper goes to the rest of the audience.

:func:`choose_winner` locks only the campaign row (``campaigns.locks``) and never writes a
delivery: ``campaigns.sending`` calls it while holding its claimed rows, so a worker holding
the campaign lock must never wait for another worker's rows.
"""

import logging
from datetime import datetime
from fractions import Fraction

from django.db import transaction
from django.db.models import Count, Q

from campaigns import locks
from campaigns.models import (
    REACHED,
    Campaign,
    CampaignVariant,
    DeliveryStatus,
    WinnerMetric,
)

logger = logging.getLogger(__name__)

M = WinnerMetric
# What each metric counts among the reached deliveries of a variant.
METRIC_FILTERS = {
    # A converted message counts as opened or clicked only if it was (its time says so).
    M.OPENS: Q(deliveries__status__in=(DeliveryStatus.OPENED, DeliveryStatus.CLICKED))
    | Q(deliveries__opened_at__isnull=False),
    M.CLICKS: Q(deliveries__status=DeliveryStatus.CLICKED)
    | Q(deliveries__clicked_at__isnull=False),
    M.CONVERSIONS: Q(deliveries__status=DeliveryStatus.CONVERTED),
}
# A tie on the metric goes to the next one, then to the first variant (lowest pk).
TIE_BREAKS = {
    M.OPENS: (M.OPENS, M.CLICKS, M.CONVERSIONS),
    M.CLICKS: (M.CLICKS, M.CONVERSIONS, M.OPENS),
    M.CONVERSIONS: (M.CONVERSIONS, M.CLICKS, M.OPENS),
}


def variant_rates(campaign: Campaign) -> list[dict]:
    """Per variant of the campaign's current run: reached deliveries and, for each metric, how
    many of them did it (one aggregate query). Rows still waiting for the winner have no
    variant, so only the test group is counted before the winner is chosen."""
    reached = Q(deliveries__status__in=REACHED, deliveries__step=campaign.step)
    counts = {
        metric: Count("deliveries", filter=reached & condition)
        for metric, condition in METRIC_FILTERS.items()
    }
    rows = (
        CampaignVariant.objects.filter(campaign=campaign)
        .values("pk")
        .annotate(reached=Count("deliveries", filter=reached), **counts)
        .order_by("pk")
    )
    return list(rows)


def _rank(row: dict, metric: str) -> tuple:
    reached = row["reached"]
    rates = [Fraction(row[m], reached) if reached else Fraction(0) for m in TIE_BREAKS[metric]]
    return (*(-rate for rate in rates), row["pk"])


def best_variant(rows: list[dict], metric: str) -> int | None:
    """The pk of the variant with the best rate of ``metric``, ties broken as documented."""
    if not rows:
        return None
    return min(rows, key=lambda row: _rank(row, metric))["pk"]


@transaction.atomic
def choose_winner(*, campaign: Campaign, now: datetime) -> CampaignVariant | None:
    """Store the campaign's A/B winner, chosen by its metric (idempotent: a winner already
    chosen stays). None when the campaign has no winner metric or no variant."""
    locked = locks.campaign_for_update(campaign.pk)
    if locked.winner_id is not None or not locked.ab_winner_metric:
        return locked.winner
    rows = variant_rates(locked)
    winner_id = best_variant(rows, locked.ab_winner_metric)
    if winner_id is None:
        return None
    locked.winner_id, locked.winner_chosen_at = winner_id, now
    locked.save(update_fields=["winner", "winner_chosen_at", "updated_at"])
    logger.info(
        "campaign %s: A/B winner variant %s by %s (%s)",
        locked.pk,
        winner_id,
        locked.ab_winner_metric,
        rows,
    )
    return locked.winner
