"""Reads of the campaigns app."""

from datetime import datetime

from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet
from django.utils import timezone

from campaigns.models import (
    AudienceMember,
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Journey,
    Segment,
)
from campaigns.segments import compile_rules, references_in
from customers.models import Customer, CustomerStatus

SAMPLE_SIZE = 10
MAX_SAMPLE = 100


def segment_queryset(rules, *, now=None, segment_id: int | None = None) -> QuerySet[Customer]:
    """The live customers the rule tree describes: one query, however deep the tree (merged
    and erased profiles are never in a segment). InvalidSegment on a bad tree."""
    condition = compile_rules(rules, now=now, segment_id=segment_id)
    return Customer.objects.filter(status=CustomerStatus.LIVE).filter(condition)


def has_audience(campaign: Campaign) -> bool:
    """Whether the campaign names whom it is for: a segment, an uploaded list, or both."""
    return campaign.segment_id is not None or campaign.audience_uploaded_at is not None


def campaign_audience(campaign: Campaign, *, now=None) -> QuerySet[Customer]:
    """The campaign's live customers: its segment's, those of its uploaded list, or — with
    both — those in both (one query: the list is a subquery, never a list of ids)."""
    if campaign.segment_id is not None:
        customers = segment_queryset(
            campaign.segment.rules, now=now, segment_id=campaign.segment_id
        )
    else:
        customers = Customer.objects.filter(status=CustomerStatus.LIVE)
    if campaign.audience_uploaded_at is not None:
        members = AudienceMember.objects.filter(campaign_id=campaign.pk).values("customer_id")
        customers = customers.filter(pk__in=members)
    return customers


def count_segment(rules, *, now=None, segment_id: int | None = None) -> int:
    return segment_queryset(rules, now=now, segment_id=segment_id).order_by().count()


def sample_segment(rules, n: int = SAMPLE_SIZE, *, now=None) -> list[Customer]:
    """Up to ``n`` matching customers, newest first (for a marketer to eyeball)."""
    n = max(0, min(n, MAX_SAMPLE))
    return list(segment_queryset(rules, now=now).order_by("-pk")[:n])


def segments() -> QuerySet[Segment]:
    return Segment.objects.select_related("created_by", "updated_by").order_by("name", "pk")


def count_saved_segment(segment: Segment, *, now=None) -> int:
    return count_segment(segment.rules, now=now, segment_id=segment.pk)


def segments_naming(segment: Segment) -> list[Segment]:
    """The other segments whose rules name this one (membership conditions, at any depth)."""
    return [
        other
        for other in Segment.objects.exclude(pk=segment.pk).order_by("name", "pk")
        if segment.pk in references_in(other.rules)
    ]


def campaign_or_none(pk: int) -> Campaign | None:
    return Campaign.objects.filter(pk=pk).select_related("segment", "promotion").first()


def is_sending(campaign: Campaign) -> bool:
    return campaign.status == CampaignStatus.SENDING


def delivery_counts(campaign: Campaign) -> dict[str, int]:
    """status → deliveries of the campaign (every status present, 0 when none)."""
    counts = dict.fromkeys(DeliveryStatus.values, 0)
    rows = campaign.deliveries.values("status").annotate(n=Count("pk")).order_by()
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def next_deferred(campaign_id: int) -> datetime | None:
    """When the first deferred delivery (quiet hours, sending rate, waiting for the A/B
    winner) may go out (None: none deferred)."""
    return Delivery.objects.filter(
        campaign_id=campaign_id, status=DeliveryStatus.QUEUED, not_before__isnull=False
    ).aggregate(first=Min("not_before"))["first"]


def has_queued(campaign_id: int) -> bool:
    return Delivery.objects.filter(campaign_id=campaign_id, status=DeliveryStatus.QUEUED).exists()


def campaigns_with_claimable_rows(now: datetime | None = None) -> list[int]:
    """Sending campaigns with queued rows that may go out now (a rate-limited one too: its
    batches claim only what its rate leaves, so an extra task costs one empty claim)."""
    now = now or timezone.now()
    claimable = Delivery.objects.filter(
        campaign=OuterRef("pk"), status=DeliveryStatus.QUEUED
    ).filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
    sending = Campaign.objects.filter(status=CampaignStatus.SENDING)
    return list(sending.filter(Exists(claimable)).order_by("pk").values_list("pk", flat=True))


def is_journey(campaign_id: int) -> bool:
    """Is this the campaign of a journey (which keeps sending while the journey is on)?"""
    return Journey.objects.filter(campaign_id=campaign_id).exists()


def journeys_with_counts() -> QuerySet[Journey]:
    """Journeys with their entries counted by state (one query)."""
    from campaigns.models import EntryState

    def count(state):
        return Count("entries", filter=Q(entries__state=state))

    return Journey.objects.select_related("campaign").annotate(
        waiting=count(EntryState.ACTIVE),
        completed=count(EntryState.COMPLETED),
        exited=count(EntryState.EXITED),
    )


def journey_steps(journey: Journey) -> list[dict]:
    """Each step of the journey with how many entries wait at it, and, for a message step,
    its deliveries sent, held back (holdout, consent, budget…) and converted (3 queries)."""
    from campaigns.models import REACHED, Conversion, EntryState, JourneyEntry

    waiting = dict(
        JourneyEntry.objects.filter(journey=journey, state=EntryState.ACTIVE)
        .values_list("position")
        .annotate(n=Count("pk"))
    )
    rows = Delivery.objects.filter(entry__journey=journey).values("step")
    sent = {
        r["step"]: r
        for r in rows.annotate(
            sent=Count("pk", filter=Q(status__in=REACHED)),
            held=Count("pk", filter=Q(status="suppressed")),
            opened=Count("pk", filter=Q(opened_at__isnull=False)),
        )
    }
    converted = dict(
        Conversion.objects.filter(delivery__entry__journey=journey, credit_last__gt=0)
        .values_list("delivery__step")
        .annotate(n=Count("order_id", distinct=True))
    )
    return [
        {
            "step": step,
            "waiting": waiting.get(step.position, 0),
            "sent": sent.get(step.position, {}).get("sent", 0),
            "held": sent.get(step.position, {}).get("held", 0),
            "opened": sent.get(step.position, {}).get("opened", 0),
            "converted": converted.get(step.position, 0),
        }
        for step in journey.steps.order_by("position")
    ]
