"""Reads for the marketer's campaign screens: send progress, results over time, previews.

Each function is a bounded number of queries whatever the audience size (aggregates in the
database, never a loop over deliveries)."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    DecimalField,
    F,
    IntegerField,
    Max,
    Min,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncHour

from campaigns import personal, planning, sending
from campaigns import uplift as uplift_stats
from campaigns.content import SAMPLE_CONTEXT, build_context
from campaigns.models import (
    Campaign,
    CampaignStatus,
    CampaignVariant,
    Conversion,
    Delivery,
    DeliveryReason,
    DeliveryStatus,
    TouchKind,
)
from customers.models import Channel, Customer

OPENED = (DeliveryStatus.OPENED, DeliveryStatus.CLICKED, DeliveryStatus.CONVERTED)
REACHED = (DeliveryStatus.SENT, *OPENED)
# Opened and clicked by their status or their time: a converted message (its coupon redeemed
# at the till, say) counts as opened or clicked only if it was.
WAS_OPENED = Q(status__in=(DeliveryStatus.OPENED, DeliveryStatus.CLICKED)) | Q(
    opened_at__isnull=False
)
WAS_CLICKED = Q(status=DeliveryStatus.CLICKED) | Q(clicked_at__isnull=False)
MAX_HOURS = 14 * 24  # the results chart shows at most the first two weeks, hour by hour
ACTIVE = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING)
PREVIEW_COUPON = "PREVIEW-COUPON"  # a real personal code is issued when the message is sent


def progress(campaign: Campaign) -> dict:
    """Counts per delivery status and per suppression reason, the share handled so far and
    whether it is still moving (the page polls while it is). One query."""
    rows = (
        Delivery.objects.filter(campaign=campaign)
        .values("status", "reason")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = dict.fromkeys(DeliveryStatus.values, 0)
    suppressed = dict.fromkeys(DeliveryReason.values, 0)
    for row in rows:
        counts[row["status"]] += row["n"]
        if row["status"] == DeliveryStatus.SUPPRESSED:
            suppressed[row["reason"] or DeliveryReason.ERROR] += row["n"]
    total = sum(counts.values())
    done = total - counts[DeliveryStatus.QUEUED]
    return {
        "status": campaign.status,
        "status_label": str(campaign.get_status_display()),
        "active": campaign.status in ACTIVE,
        "total": total,
        "done": done,
        "percent": round(100 * done / total) if total else 0,
        "counts": counts,
        "suppressed": suppressed,
    }


@dataclass(frozen=True)
class Series:
    start: datetime | None
    hours: int
    sends: list[int]
    opens: list[int]
    clicks: list[int]


def _hourly(queryset, field: str) -> dict[datetime, int]:
    rows = queryset.annotate(hour=TruncHour(field)).values("hour").annotate(n=Count("pk"))
    return {row["hour"]: row["n"] for row in rows.order_by()}


def hourly_series(campaign: Campaign) -> Series:
    """Sends, first opens and first clicks per hour (by ``sent_at``, ``opened_at`` and
    ``clicked_at``), from the hour before the first send (a line starts from nothing) for at
    most :data:`MAX_HOURS` hours. Three queries."""
    deliveries = Delivery.objects.filter(campaign=campaign, sent_at__isnull=False)
    sends = _hourly(deliveries, "sent_at")
    opens = _hourly(deliveries.filter(opened_at__isnull=False), "opened_at")
    clicks = _hourly(deliveries.filter(clicked_at__isnull=False), "clicked_at")
    if not sends:
        return Series(None, 0, [], [], [])
    start = min(sends) - timedelta(hours=1)
    last = max([*sends, *opens, *clicks])
    hours = min(int((last - start) / timedelta(hours=1)) + 1, MAX_HOURS)
    slots = [start + timedelta(hours=h) for h in range(hours)]
    return Series(
        start,
        hours,
        [sends.get(slot, 0) for slot in slots],
        [opens.get(slot, 0) for slot in slots],
        [clicks.get(slot, 0) for slot in slots],
    )


def groups(campaign: Campaign) -> dict:
    """Treated (reached) versus holdout shoppers, with the treated's opens and clicks."""
    counts = Delivery.objects.filter(campaign=campaign).aggregate(
        holdout=Count("pk", filter=Q(status=DeliveryStatus.SUPPRESSED, reason="holdout")),
        treated=Count("pk", filter=Q(status__in=REACHED)),
        opened=Count("pk", filter=Q(status__in=REACHED) & WAS_OPENED),
        clicked=Count("pk", filter=Q(status__in=REACHED) & WAS_CLICKED),
    )
    treated = counts["treated"]
    counts["open_rate"] = round(100 * counts["opened"] / treated, 1) if treated else 0
    counts["click_rate"] = round(100 * counts["clicked"] / treated, 1) if treated else 0
    return counts


def _waiting(campaign: Campaign, aggregate, output_field) -> Subquery:
    """A scalar subquery over the rows still waiting for the A/B winner."""
    rows = (
        Delivery.objects.filter(
            campaign=campaign,
            status=DeliveryStatus.QUEUED,
            reason=DeliveryReason.AB_WAIT,
            variant__isnull=True,
        )
        .order_by()
        .values("campaign")
        .annotate(value=aggregate)
        .values("value")
    )
    return Subquery(rows, output_field=output_field)


def _rate(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0


def _variant_row(variant: CampaignVariant, winner_id: int | None) -> dict:
    return {
        "pk": variant.pk,
        "name": variant.name,
        "reached": variant.reached,
        "opens": variant.opens,
        "clicks": variant.clicks,
        "conversions": variant.conversions,
        "open_rate": _rate(variant.opens, variant.reached),
        "click_rate": _rate(variant.clicks, variant.reached),
        "conversion_rate": _rate(variant.conversions, variant.reached),
        "winner": variant.pk == winner_id,
    }


def _variant_counts(campaign: Campaign) -> dict:
    """Count aggregates over a variant's deliveries: with an A/B winner, the test group's
    (the rest got the winner afterwards: ``rest``), else all of them."""
    tested = planning.in_test_group(campaign, "deliveries__customer_id")
    scope = tested if campaign.ab_winner_metric else Q()
    reached = Q(deliveries__status__in=REACHED) & scope
    opened = Q(deliveries__status__in=(DeliveryStatus.OPENED, DeliveryStatus.CLICKED)) | Q(
        deliveries__opened_at__isnull=False
    )
    clicked = Q(deliveries__status=DeliveryStatus.CLICKED) | Q(deliveries__clicked_at__isnull=False)
    return {
        "reached": Count("deliveries", filter=reached),
        "opens": Count("deliveries", filter=reached & opened),
        "clicks": Count("deliveries", filter=reached & clicked),
        "conversions": Count(
            "deliveries", filter=reached & Q(deliveries__status=DeliveryStatus.CONVERTED)
        ),
        "rest": Count("deliveries", filter=Q(deliveries__status__in=REACHED) & ~tested)
        if campaign.ab_winner_metric
        else Value(0),
    }


def variant_results(campaign: Campaign) -> dict:
    """Per variant: reached shoppers, opens, clicks, conversions and their rates (of the test
    group when the campaign picks a winner), the winner marked; the rest that got the winner,
    and the rest still waiting for it (how many, until when). One query."""
    variants = (
        CampaignVariant.objects.filter(campaign=campaign)
        .annotate(
            **_variant_counts(campaign),
            waiting=Coalesce(_waiting(campaign, Count("pk"), IntegerField()), 0),
            waiting_until=_waiting(campaign, Min("not_before"), DateTimeField()),
        )
        .order_by("pk")
    )
    rows = [_variant_row(variant, campaign.winner_id) for variant in variants]
    first = variants[0] if rows else None
    return {
        "variants": rows,
        "rest_reached": sum(variant.rest for variant in variants),
        "waiting": first.waiting if first else 0,
        "waiting_until": first.waiting_until if first else None,
    }


def preview_context(campaign: Campaign, customer: Customer | None, channel: str) -> dict:
    """The context a message to ``customer`` on ``channel`` is rendered with when it is sent:
    the same customer fields, cart products, store and unsubscribe link as ``campaigns.sending``
    (``campaigns.personal``); the personal code
    (issued at send time) is a placeholder when the campaign has an offer. Without a customer,
    the sandbox's sample shopper."""
    if customer is None:
        return dict(SAMPLE_CONTEXT)
    row = Delivery(campaign=campaign, customer=customer, channel=channel)
    return build_context(
        customer={
            "first_name": customer.first_name,
            "name": f"{customer.first_name} {customer.last_name}".strip(),
            "language": customer.preferred_language,
        },
        coupon_code=PREVIEW_COUPON if campaign.promotion_id else "",
        unsubscribe_url=sending.unsubscribe_url(row),
        **personal.for_customers([customer])[customer.pk],
    )


# --- Sales credited and uplift ------------------------------------------------------------------

MODELS = {"last": "credit_last", "first": "credit_first", "linear": "credit_linear"}


def _credited(field: str):
    return Sum(F("revenue") * F(field), output_field=DecimalField(max_digits=14, decimal_places=6))


def _money(value) -> Decimal:
    return (value or Decimal(0)).quantize(Decimal("0.01"))


def sales(campaign: Campaign) -> dict:
    """The orders credited to the campaign and their revenue under each attribution model, and
    the last-touch split by the channel and the store they were sold in (3 queries)."""
    rows = Conversion.objects.filter(campaign=campaign)
    totals = rows.aggregate(
        orders=Count("order_id", distinct=True, filter=Q(credit_last__gt=0)),
        **{name: _credited(field) for name, field in MODELS.items()},
    )
    last = rows.filter(credit_last__gt=0)
    by_channel = (
        last.values("order_channel")
        .annotate(orders=Count("order_id", distinct=True), revenue=_credited("credit_last"))
        .order_by("-revenue")
    )
    by_store = (
        last.filter(store__isnull=False)
        .values("store__name")
        .annotate(orders=Count("order_id", distinct=True), revenue=_credited("credit_last"))
        .order_by("-revenue")[:10]
    )
    labels = dict(Channel.choices)
    return {
        "orders": totals["orders"],
        "revenue": {name: _money(totals[name]) for name in MODELS},
        "by_channel": [
            {
                "channel": labels.get(r["order_channel"], r["order_channel"]),
                "orders": r["orders"],
                "revenue": _money(r["revenue"]),
            }
            for r in by_channel
        ],
        "by_store": [
            {"store": r["store__name"], "orders": r["orders"], "revenue": _money(r["revenue"])}
            for r in by_store
        ],
    }


def uplift(campaign: Campaign) -> uplift_stats.Uplift:
    """Treated against holdout by intention to treat: every customer the campaign assigned
    (reached or not) against those it held out; a customer converted when they ordered in the
    attribution window after being assigned (``campaigns.services.attribution``); revenue per
    customer counts each order once, 0 for those who did not buy (3 queries; the (customer,
    order) pairs of the conversions are read once)."""
    assigned = Delivery.objects.filter(campaign=campaign).exclude(reason=DeliveryReason.DUPLICATE)
    holdout_q = Q(reason=DeliveryReason.HOLDOUT)
    sizes = assigned.aggregate(
        treated=Count("customer_id", distinct=True, filter=~holdout_q),
        holdout=Count("customer_id", distinct=True, filter=holdout_q),
    )
    held = Max(Case(When(touch=TouchKind.HOLDOUT, then=1), default=0))
    pairs = (
        Conversion.objects.filter(campaign=campaign)
        .values("customer_id", "order_id")
        .annotate(revenue=Max("revenue"), held=held)
        .values_list("customer_id", "revenue", "held")
    )
    per_customer: dict[tuple[int, int], float] = defaultdict(float)
    for customer_id, revenue, in_holdout in pairs:
        per_customer[(in_holdout, customer_id)] += float(revenue)
    arms = {0: [0, 0.0, 0.0], 1: [0, 0.0, 0.0]}  # converted, Σx, Σx²
    for (in_holdout, _customer), revenue in per_customer.items():
        arm = arms[in_holdout]
        arm[0], arm[1], arm[2] = arm[0] + 1, arm[1] + revenue, arm[2] + revenue * revenue
    return uplift_stats.measure(
        treated=sizes["treated"],
        converted_treated=min(arms[0][0], sizes["treated"]),
        holdout=sizes["holdout"],
        converted_holdout=min(arms[1][0], sizes["holdout"]),
        treated_revenue=(arms[0][1], arms[0][2]),
        holdout_revenue=(arms[1][1], arms[1][2]),
    )
