"""Sending: a campaign's queued deliveries claimed in batches and handed to the channel backends.

``send_batch`` is one transaction: claim up to ``limit`` queued rows (``FOR UPDATE SKIP LOCKED``,
pk order, so any number of workers share the work; of a rate-limited channel only what its
rate leaves in the current minute, ``campaigns.rates``), and for each row, in order:

0. a row that waited for the end of its campaign's A/B test (no variant, reason ``ab_wait``,
   claimable once ``not_before`` passes) gets the winner
   (``campaigns.services.ab_test.choose_winner`` picks it on first need);
1. consent again (the latest marketing consent for its channel; withdrawn → suppressed,
   ``no_consent``);
2. quiet hours in the customer's home store's time zone (``settings.TIME_ZONE`` without one):
   inside them the row stays queued with ``not_before`` = the next allowed local time (reason
   ``quiet_hours``), and a later batch sends it;
3. the one contact budget (``campaigns.budget.spend``, per-customer advisory locks) → over it:
   suppressed, ``cap``;
4. the personal coupon (``orders.services.issue_personal_codes``) when the campaign has an
   offer, the content rendered in the sandbox (``campaigns.content``) in the shopper's language
   with the unsubscribe link, their cart's items in stock at their store and that store
   (``campaigns.personal``, read for the whole batch) and, in e-mails, the tracked links and
   open pixel (``campaigns.links``); a render failure → failed, ``error``.

Then the batch goes to ``omni.messaging.send_many`` and the rows are marked sent, with a
``message_sent`` touchpoint (one INSERT per batch) on each customer's timeline, all before the transaction commits.

Sending and marking cannot be one atomic act, so we choose at-least-once towards the provider:
a crash after the hand-over and before the commit returns the rows to ``queued`` and they are
sent again by the next worker; never the opposite (marked sent but never sent = skipped). Each
message carries ``metadata["delivery_id"]`` as its idempotency key, which the provider (and the
test backends) use to drop a repeat: exactly once for the shopper. In-store deliveries are
tasks for the staff of the customer's store: the row is the task, nothing goes to a backend.
"""

import contextlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from campaigns import budget, links, locks, personal, rates, selectors, tracking
from campaigns.content import ContentError, build_context, render_message
from campaigns.exceptions import InvalidTransition
from campaigns.models import (
    Campaign,
    CampaignChannel,
    CampaignStatus,
    Delivery,
    DeliveryReason,
    DeliveryStatus,
)
from campaigns.quiet_hours import QuietHours, next_allowed
from campaigns.services import ab_test, lifecycle
from customers.models import (
    Consent,
    ConsentPurpose,
    ConsentState,
)
from customers.selectors import suppressed_values
from customers.services.profiles import record_messages_sent
from inventory import selectors as inventory_selectors
from omni import messaging
from orders.services.promotions import issue_personal_codes

CONSENT_CHANNELS = (CampaignChannel.EMAIL, CampaignChannel.SMS, CampaignChannel.PUSH)


@dataclass
class BatchResult:
    claimed: int = 0
    sent: int = 0
    suppressed: int = 0
    deferred: int = 0
    failed: int = 0
    changed: list = field(default_factory=list, repr=False)
    winner_rows: list = field(default_factory=list, repr=False)  # given the A/B winner

    def mark(self, row: Delivery, status: str, reason: str = "") -> None:
        row.status, row.reason = status, reason
        self.changed.append(row)
        attribute = {
            DeliveryStatus.SENT: "sent",
            DeliveryStatus.SUPPRESSED: "suppressed",
            DeliveryStatus.FAILED: "failed",
        }.get(status, "deferred")
        setattr(self, attribute, getattr(self, attribute) + 1)


def _granted(rows: list[Delivery]) -> set[tuple[int, str]]:
    """(customer, channel) pairs whose latest marketing consent is granted (one query)."""
    latest = (
        Consent.objects.filter(
            customer_id__in={r.customer_id for r in rows},
            purpose=ConsentPurpose.MARKETING,
            channel__in=CONSENT_CHANNELS,
        )
        .order_by("customer_id", "channel", "-created_at", "-pk")
        .distinct("customer_id", "channel")
        .values_list("customer_id", "channel", "state")
    )
    return {(c, ch) for c, ch, state in latest if state == ConsentState.GRANTED}


def _give_winner(campaign: Campaign, rows: list[Delivery], now: datetime, result: BatchResult):
    """Rows that waited for the A/B test's end get its winner (chosen now if nobody has yet:
    ``choose_winner`` takes the campaign lock and writes no delivery, so holding our claimed
    rows while we wait for it cannot deadlock)."""
    waiting = [r for r in rows if r.variant_id is None and r.reason == DeliveryReason.AB_WAIT]
    if not waiting:
        return
    winner_id = campaign.winner_id
    if winner_id is None:  # read before another worker chose it, maybe: ask under the lock
        winner = ab_test.choose_winner(campaign=campaign, now=now)
        winner_id = winner.pk if winner else None
    if winner_id is None:
        return
    for row in waiting:
        row.variant_id = winner_id
    result.winner_rows = waiting


def _check_consent(rows: list[Delivery], result: BatchResult) -> list[Delivery]:
    granted = _granted(rows)
    kept = []
    for row in rows:
        if row.channel == CampaignChannel.STORE:
            ok = any((row.customer_id, c) in granted for c in CONSENT_CHANNELS)
        else:
            ok = (row.customer_id, row.channel) in granted
        if ok:
            kept.append(row)
        else:
            result.mark(row, DeliveryStatus.SUPPRESSED, DeliveryReason.NO_CONSENT)
    return kept


SUPPRESSIBLE = {CampaignChannel.EMAIL: "email", CampaignChannel.SMS: "phone"}


def _drop_suppressed(rows: list[Delivery], result: BatchResult) -> list[Delivery]:
    """An address that bounced or complained since planning is not messaged (one query per
    kind)."""
    suppressed: set[tuple[str, str]] = set()
    for channel, kind in SUPPRESSIBLE.items():
        values = {row.address for row in rows if row.channel == channel}
        if values:
            suppressed |= {(channel, v) for v in suppressed_values(kind, values)}
    kept = []
    for row in rows:
        if (row.channel, row.address) in suppressed:
            result.mark(row, DeliveryStatus.SUPPRESSED, DeliveryReason.BOUNCED)
        else:
            kept.append(row)
    return kept


def _zone(code: str, cache: dict) -> ZoneInfo:
    if code not in cache:
        location = inventory_selectors.location_by_code(code) if code else None
        cache[code] = ZoneInfo(location.timezone if location else settings.TIME_ZONE)
    return cache[code]


def _defer_quiet_hours(rows: list[Delivery], now: datetime, result: BatchResult):
    quiet, zones, kept = QuietHours.configured(), {}, []
    for row in rows:
        allowed = next_allowed(now, zone=_zone(row.customer.home_store, zones), quiet=quiet)
        if allowed > now:
            row.not_before = allowed
            result.mark(row, DeliveryStatus.QUEUED, DeliveryReason.QUIET_HOURS)
        else:
            kept.append(row)
    return kept


def _apply_budget(campaign: Campaign, rows, now: datetime, result: BatchResult):
    allowed = budget.spend([r.customer_id for r in rows], priority=campaign.priority, now=now)
    kept = []
    for row in rows:
        if row.customer_id in allowed:
            kept.append(row)
        else:
            result.mark(row, DeliveryStatus.SUPPRESSED, DeliveryReason.CAP)
    return kept


def _issue_coupons(campaign: Campaign, rows: list[Delivery]) -> None:
    if campaign.promotion_id is None:
        return
    codes = issue_personal_codes(
        promotion=campaign.promotion,
        customer_ids=[r.customer_id for r in rows],
        campaign_id=campaign.pk,
        variant_ids={r.customer_id: r.variant_id for r in rows if r.variant_id},
    )
    for row in rows:
        row.coupon_code = codes.get(row.customer_id, "")


def unsubscribe_url(row: Delivery) -> str:
    channel = row.channel if row.channel in tracking.UNSUBSCRIBE_CHANNELS else "email"
    token = tracking.unsubscribe_token(row.customer_id, channel, row.campaign_id)
    return settings.CAMPAIGN_UNSUBSCRIBE_URL.format(token=token)


def _context(row: Delivery, unsubscribe: str, personal_data: dict) -> dict:
    customer = row.customer
    return build_context(
        customer={
            "first_name": customer.first_name,
            "name": f"{customer.first_name} {customer.last_name}".strip(),
            "language": customer.preferred_language,
        },
        coupon_code=row.coupon_code,
        unsubscribe_url=unsubscribe,
        products=personal_data.get("products", ()),
        store=personal_data.get("store"),
    )


def _message(
    campaign: Campaign, row: Delivery, variants: dict, personal_data: dict
) -> messaging.Message | None:
    """The rendered message of ``row`` (None for an in-store task); ContentError if refused."""
    variant = variants.get(row.variant_id) or next(iter(variants.values()), None)
    templates = (variant.content if variant else {}).get(row.channel)
    if not templates:
        raise ContentError("no content for this channel", code="missing")
    unsubscribe = unsubscribe_url(row)
    context = _context(row, unsubscribe, personal_data)
    rendered = render_message(row.channel, templates, context)
    if row.channel == CampaignChannel.STORE:
        return None
    body, html = rendered.body, rendered.html
    if row.channel == CampaignChannel.EMAIL:
        tracker = links.Tracker(
            row.pk, row.channel, links.campaign_tag(campaign), frozenset({unsubscribe})
        )
        body = links.track_text(body, tracker)
        html = links.track_html(html, tracker, pixel=settings.CAMPAIGN_TRACK_OPENS)
    return messaging.Message(
        channel=row.channel,
        to=row.address,
        subject=rendered.subject,
        body=body,
        html=html,
        metadata={"delivery_id": row.pk, "campaign_id": campaign.pk},
        unsubscribe_url=unsubscribe if row.channel == CampaignChannel.EMAIL else "",
    )


def _render_all(campaign: Campaign, rows, result: BatchResult):
    variants = {v.pk: v for v in campaign.variants.order_by("pk")}
    shown = (
        personal.for_customers(r.customer for r in rows)
        if personal.needed(variants.values())
        else {}
    )
    messages, ready = [], []
    for row in rows:
        if campaign.promotion_id is not None and not row.coupon_code:
            result.mark(row, DeliveryStatus.FAILED, DeliveryReason.ERROR)
            continue
        try:
            message = _message(campaign, row, variants, shown.get(row.customer_id, {}))
        except ContentError:
            result.mark(row, DeliveryStatus.FAILED, DeliveryReason.ERROR)
            continue
        ready.append(row)
        if message is not None:
            messages.append(message)
    return messages, ready


def _record_sent(rows: list[Delivery], now: datetime, result: BatchResult) -> None:
    for row in rows:
        row.sent_at = now
        result.mark(row, DeliveryStatus.SENT)
    record_messages_sent(
        sends=[
            (row.customer_id, row.channel, {"campaign_id": row.campaign_id, "delivery_id": row.pk})
            for row in rows
        ]
    )


def _save(result: BatchResult, now: datetime) -> None:
    """One UPDATE per outcome (status, reason, deferral time) — a batch has a handful — and the
    personal coupon codes, which differ per row, in one more; the A/B winner of the rows that
    waited for it in one more."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for row in result.changed:
        groups[(row.status, row.reason, row.not_before)].append(row.pk)
    for (status, reason, not_before), pks in groups.items():
        fields = {"status": status, "reason": reason, "not_before": not_before, "updated_at": now}
        if status != DeliveryStatus.QUEUED:
            fields["attempts"] = F("attempts") + 1
        if status == DeliveryStatus.SENT:
            fields["sent_at"] = now
        Delivery.objects.filter(pk__in=pks).update(**fields)
    with_codes = [row for row in result.changed if row.coupon_code]
    Delivery.objects.bulk_update(with_codes, ["coupon_code"])
    if result.winner_rows:  # one winner per campaign: one UPDATE
        winner_id = result.winner_rows[0].variant_id
        Delivery.objects.filter(pk__in=[r.pk for r in result.winner_rows]).update(
            variant_id=winner_id
        )


@transaction.atomic
def send_batch(*, campaign_id: int, limit: int | None = None, now=None) -> BatchResult:
    """Claim, check, render, send and mark up to ``limit`` deliveries (see the module
    docstring). Nothing happens unless the campaign is sending."""
    now = now or timezone.now()
    result = BatchResult()
    campaign = Campaign.objects.select_related("promotion").get(pk=campaign_id)
    if campaign.status != CampaignStatus.SENDING:
        return result
    quotas = rates.quotas(campaign, now)  # rate-limited channels: the lock, then the claim
    rows = locks.claim_queued(
        campaign_id, limit or settings.CAMPAIGN_SEND_BATCH, now, quotas=quotas
    )
    result.claimed = len(rows)
    _give_winner(campaign, rows, now, result)
    rows = _check_consent(rows, result)
    rows = _drop_suppressed(rows, result)
    rows = _defer_quiet_hours(rows, now, result)
    rows = _apply_budget(campaign, rows, now, result)
    _issue_coupons(campaign, rows)
    messages, ready = _render_all(campaign, rows, result)
    messaging.send_many(messages)
    _record_sent(ready, now, result)
    _save(result, now)
    return result


@dataclass
class SendRun:
    """What :func:`send_until_done` did: messages sent, and when to come back (or None)."""

    sent: int = 0
    retry_at: datetime | None = None


RETRY_FLOOR = timedelta(seconds=5)


def send_until_done(*, campaign_id: int) -> SendRun:
    """Send batches while the campaign is sending and rows are claimable; then say when to
    come back (quiet hours, the A/B test's end, a channel's sending rate) or finish the
    campaign when nothing is queued."""
    campaign = Campaign.objects.get(pk=campaign_id)
    run = SendRun()
    while True:
        result = send_batch(campaign_id=campaign_id)
        run.sent += result.sent
        if result.claimed == 0:
            break
    campaign.refresh_from_db(fields=["status"])
    if campaign.status != CampaignStatus.SENDING:
        return run
    now = timezone.now()
    waits = [selectors.next_deferred(campaign_id), rates.next_slot(campaign, now)]
    waits = [when for when in waits if when is not None]
    if waits:
        run.retry_at = max(min(waits), now + RETRY_FLOOR)
    elif not selectors.has_queued(campaign_id) and not selectors.is_journey(campaign_id):
        _finish(campaign)  # a journey's campaign sends as long as the journey is on
    return run


def _finish(campaign: Campaign) -> None:
    # Another worker finished it, or a marketer paused or cancelled it meanwhile: fine.
    with contextlib.suppress(InvalidTransition):
        lifecycle.complete_campaign(campaign=campaign, acting_user=None)
