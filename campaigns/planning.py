"""Planning: a campaign's audience turned into its Delivery rows, in one set-based statement.

The audience is the segment's live customers, those of the uploaded list (``AudienceMember``,
read as a subquery), or those in both. Each of them gets one row per (campaign, step) — the
unique key makes planning again a no-op for those already planned. Everything per customer is decided in the
query, never in a Python loop over customers:

* holdout: a stable hash of (campaign, customer) — PostgreSQL's ``hashtextextended`` — in 0..9999;
  below ``holdout_percent × 100`` the row is suppressed with reason ``holdout``;
* variant: a second hash of the pair against the variants' cumulative split percents;
* A/B test with a winner (``ab_winner_metric``): a third hash puts ``ab_test_percent`` % of
  the rest in the test group; the others are then held back by one UPDATE
  (:func:`hold_back_rest`: no variant, reason ``ab_wait``, ``not_before`` the test's end);
* channel: the first of the campaign's channels for which the customer's latest marketing
  consent is granted and an address exists (e-mail, phone, push token; the store channel needs
  a home store and a granted marketing consent on any channel) — their preferred channel first
  when the campaign allows it. None: suppressed, ``no_consent`` if they have an address for one
  of the channels, else ``no_address``.

The statement is ``campaigns.queries.insert_planned``: INSERT … SELECT … ON CONFLICT DO NOTHING
over :func:`contact_data` (the ORM compiles the segment and the look-ups; the decisions are
CASEs over its columns, each look-up computed once per customer), with the ORM twin
:func:`planned_deliveries` deciding in annotations.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Abs, Cast, Concat, Mod
from django.db.models.lookups import LessThan
from django.utils import timezone

from campaigns import queries, selectors
from campaigns.models import (
    Campaign,
    CampaignChannel,
    Delivery,
    DeliveryReason,
    DeliveryStatus,
)
from customers.models import Consent, ConsentPurpose, ConsentState, Identity, IdentityKind
from customers.selectors import is_suppressed_address

BUCKETS = 10_000  # hash buckets: percents to two decimals
ADDRESS_KINDS = {
    CampaignChannel.EMAIL: IdentityKind.EMAIL,
    CampaignChannel.SMS: IdentityKind.PHONE,
    CampaignChannel.PUSH: IdentityKind.PUSH_TOKEN,
}
CONSENT_CHANNELS = tuple(ADDRESS_KINDS)  # the consent channel of each is its own name
PLANNED_COLUMNS = (
    "d_campaign",
    "d_step",
    "d_variant",
    "d_customer",
    "d_channel",
    "d_status",
    "d_reason",
    "d_address",
)


def bucket(salt: str, campaign_id: int, customer: str = "pk"):
    """0..9999 from a stable hash of (salt, campaign, customer): the same customer lands in
    the same bucket of a campaign every time, and independently across campaigns.
    ``customer`` names the customer's id in the queryset (``customer_id`` on Delivery)."""
    hashed = Func(
        Concat(Value(salt), Cast(customer, TextField())),
        Value(campaign_id),
        function="hashtextextended",
        output_field=BigIntegerField(),
    )
    return Abs(Mod(hashed, Value(BUCKETS)))


def _latest_consent(channel: str) -> Subquery:
    rows = Consent.objects.filter(
        customer=OuterRef("pk"), channel=channel, purpose=ConsentPurpose.MARKETING
    ).order_by("-created_at", "-pk")
    return Subquery(rows.values("state")[:1], output_field=CharField())


def _address(kind: str) -> Subquery:
    rows = (
        Identity.objects.filter(customer=OuterRef("pk"), kind=kind)
        .exclude(is_suppressed_address(kind))  # bounced or complained: never messaged again
        .order_by("-verified", "-pk")
    )
    return Subquery(rows.values("value")[:1], output_field=CharField())


def _eligible(channel: str) -> Q:
    if channel == CampaignChannel.STORE:
        granted = Q()
        for name in CONSENT_CHANNELS:
            granted |= Q(**{f"consent_{name}": ConsentState.GRANTED})
        return Q(home_store__gt="") & granted
    return Q(**{f"addr_{channel}__gt": ""}, **{f"consent_{channel}": ConsentState.GRANTED})


def _with_contact_data(customers: QuerySet, channels: list[str]) -> QuerySet:
    consents = set(CONSENT_CHANNELS) if CampaignChannel.STORE in channels else set(channels)
    annotations = {}
    for channel in CONSENT_CHANNELS:
        if channel in consents:
            annotations[f"consent_{channel}"] = _latest_consent(channel)
        if channel in channels:
            annotations[f"addr_{channel}"] = _address(ADDRESS_KINDS[channel])
    return customers.annotate(**annotations)


def _channel_choice(channels: list[str], preferred_first: bool) -> Case:
    whens = []
    if preferred_first:
        whens += [When(Q(preferred=c) & _eligible(c), then=Value(c)) for c in channels]
    whens += [When(_eligible(c), then=Value(c)) for c in channels]
    return Case(*whens, default=Value(""), output_field=CharField())


def _address_of_choice(channels: list[str]) -> Case:
    whens = [
        When(d_channel=c, then=F("home_store") if c == CampaignChannel.STORE else F(f"addr_{c}"))
        for c in channels
    ]
    return Case(*whens, default=Value(""), output_field=CharField())


def _any_address(channels: list[str]) -> Q:
    found = Q(pk__in=[])
    for c in channels:
        found |= Q(home_store__gt="") if c == CampaignChannel.STORE else Q(**{f"addr_{c}__gt": ""})
    return found


def _variant_choice(campaign: Campaign, holdout: Q):
    variants = list(campaign.variants.order_by("pk").values_list("pk", "split_percent"))
    if not variants:
        return Value(None, output_field=BigIntegerField())
    whens, cumulative = [When(holdout, then=Value(None))], 0
    for pk, split in variants[:-1]:
        cumulative += split
        whens.append(When(v_bucket__lt=cumulative * BUCKETS // 100, then=Value(pk)))
    return Case(*whens, default=Value(variants[-1][0]), output_field=BigIntegerField())


@dataclass(frozen=True)
class PlanSpec:
    """The per-campaign constants of the decisions (the SQL path writes them as CASEs)."""

    campaign_id: int
    step: int
    channels: tuple[str, ...]
    preferred_first: bool
    holdout_below: int
    variants: tuple[tuple[int, int], ...]  # (bucket bound, variant pk), the last one unbounded


def plan_spec(campaign: Campaign, step: int = 0, *, channels=None) -> PlanSpec:
    variants, cumulative = [], 0
    for pk, split in campaign.variants.order_by("pk").values_list("pk", "split_percent"):
        cumulative += split
        variants.append((cumulative * BUCKETS // 100, pk))
    return PlanSpec(
        campaign_id=campaign.pk,
        step=step,
        channels=tuple(_channels(campaign, channels)),
        preferred_first=campaign.allow_preferred_channel,
        holdout_below=campaign.holdout_percent * BUCKETS // 100,
        variants=tuple(variants),
    )


def _channels(campaign: Campaign, channels=None) -> list[str]:
    chosen = channels or campaign.channels
    return [c for c in chosen if c != CampaignChannel.SOCIAL]


def contact_data(
    campaign: Campaign, *, now=None, customers: QuerySet | None = None, channels=None
) -> QuerySet:
    """The campaign's audience (its segment, uploaded list, or the customers in both;
    ``selectors.campaign_audience``; or ``customers``, a journey step's) with what the
    decisions need, one row each: consents and addresses of the campaign's channels (or
    ``channels``), preferred channel, home store and the two hash buckets (the SQL path
    decides on these columns)."""
    channels = _channels(campaign, channels)
    if customers is None:
        customers = selectors.campaign_audience(campaign, now=now)
    customers = customers.order_by()
    contacts = _with_contact_data(customers, channels).annotate(
        h_bucket=bucket("h:", campaign.pk),
        v_bucket=bucket("v:", campaign.pk),
        preferred=F("traits__preferred_channel"),
    )
    return contacts.values("pk", "home_store", *contacts.query.annotations)


def planned_deliveries(
    campaign: Campaign, *, step: int = 0, now=None, customers=None, channels=None
) -> QuerySet:
    """The rows planning inserts, as a values() queryset over the segment's customers (or
    ``customers`` on ``channels``: a journey's message step) (one query, columns
    :data:`PLANNED_COLUMNS`)."""
    channels = _channels(campaign, channels)
    holdout = Q(h_bucket__lt=campaign.holdout_percent * BUCKETS // 100)
    no_channel = Q(d_channel="")
    planned = (
        contact_data(campaign, now=now, customers=customers, channels=channels)
        .values()  # the ORM decides on every column (values() again below)
        .annotate(d_channel=_channel_choice(channels, campaign.allow_preferred_channel))
        .annotate(
            d_campaign=Value(campaign.pk),
            d_step=Value(step),
            d_variant=_variant_choice(campaign, holdout),
            d_customer=F("pk"),
            d_address=_address_of_choice(channels),
            d_status=Case(
                When(holdout | no_channel, then=Value(DeliveryStatus.SUPPRESSED)),
                default=Value(DeliveryStatus.QUEUED),
            ),
            d_reason=Case(
                When(holdout, then=Value(DeliveryReason.HOLDOUT)),
                When(no_channel & _any_address(channels), then=Value(DeliveryReason.NO_CONSENT)),
                When(no_channel, then=Value(DeliveryReason.NO_ADDRESS)),
                default=Value(""),
            ),
        )
    )
    return planned.values(*PLANNED_COLUMNS)


@transaction.atomic
def plan_campaign(*, campaign: Campaign, step: int = 0, now=None) -> int:
    """Insert the campaign's deliveries for ``step`` (idempotent: customers already planned
    are skipped). Returns how many rows were inserted."""
    if not selectors.has_audience(campaign):
        return 0
    now = now or timezone.now()
    inserted = queries.insert_planned(
        contact_data(campaign, now=now),
        planned_deliveries(campaign, step=step, now=now),
        spec=plan_spec(campaign, step),
        now=now,
    )
    if inserted and has_ab_winner(campaign):
        hold_back_rest(campaign, step=step, now=now)
    return inserted


def has_ab_winner(campaign: Campaign) -> bool:
    """Does the campaign test its variants on a group and send the winner to the rest?"""
    return bool(campaign.ab_winner_metric) and campaign.variants.count() >= 2


def in_test_group(campaign: Campaign, customer: str = "customer_id") -> Q:
    """Deliveries (``customer`` names their customer's id) in the campaign's A/B test group:
    the third hash bucket below ``ab_test_percent``."""
    bound = campaign.ab_test_percent * BUCKETS // 100
    return Q(LessThan(bucket("t:", campaign.pk, customer), Value(bound)))


def hold_back_rest(campaign: Campaign, *, step: int, now) -> int:
    """A/B test with a winner: the queued rows just planned outside the test group (a third
    hash bucket, independent of holdout and variant) wait without a variant until the test
    ends; ``campaigns.sending`` gives them the winner then. One UPDATE, the same on both SQL
    paths. Returns the rows held back."""
    fresh = Delivery.objects.filter(
        campaign=campaign,
        step=step,
        status=DeliveryStatus.QUEUED,
        reason="",
        variant__isnull=False,
        not_before__isnull=True,
        attempts=0,
    )
    rest = fresh.exclude(in_test_group(campaign))
    if campaign.winner_id is not None:  # joined after the test: the winner, now
        return rest.update(variant_id=campaign.winner_id)
    return rest.update(
        variant=None,
        reason=DeliveryReason.AB_WAIT,
        not_before=now + timedelta(hours=campaign.ab_test_hours),
        updated_at=now,
    )
