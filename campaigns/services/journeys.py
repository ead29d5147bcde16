"""Journeys: customers enter on an event (a cart abandoned), and a beat sweep moves each entry
through its steps when it is due — never a scan of all customers: the sweep reads the active
entries whose ``next_at`` has come (a partial index), with ``FOR UPDATE SKIP LOCKED`` so any
number of workers share them.

Before every step the journey's exit conditions are checked for the whole batch at once (an
abandoned cart exits when an order from the cart, or with its items, exists in any channel).
A message step inserts one Delivery of the journey's campaign for (entry, step) — the unique
key makes a retried or crashed sweep insert nothing twice — with the campaign's decisions
(channel by consent and address, holdout, variant: ``campaigns.planning``); the campaign's
sender then applies consent, quiet hours and the contact budget and sends it, like any
campaign's. A wait for an event (the last message opened or clicked) is woken by
``campaigns.engagement`` and otherwise times out into the next step.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns import locks, planning, queries
from campaigns.models import (
    Delivery,
    DeliveryReason,
    DeliveryStatus,
    EntryState,
    ExitReason,
    Journey,
    JourneyEntry,
    JourneyKind,
    JourneyStep,
    StepCondition,
    StepEvent,
    StepKind,
)
from customers.models import Customer, CustomerStatus
from inventory import selectors as inventory_selectors
from orders import selectors as order_selectors
from orders.services.promotions import issue_personal_codes

CART = "cart"
MAX_STEPS_PER_SWEEP = 20  # a guard: steps only move forward, so a journey ends anyway
EVENTS_THAT_COUNT = {
    StepEvent.OPENED: (StepEvent.OPENED, StepEvent.CLICKED),  # a click is an open too
    StepEvent.CLICKED: (StepEvent.CLICKED,),
}


# --- Entering ---------------------------------------------------------------------------------


def enter(
    *, journey: Journey, entities: list[tuple[int, str, int]], now: datetime | None = None
) -> int:
    """Put (customer id, entity type, entity id) into the journey, once each (a second entry
    for the same customer and entity is ignored). The holdout arm is the campaign's stable
    hash of the customer (the one planning uses). Returns the entries made."""
    if not journey.enabled or not entities:
        return 0
    now = now or timezone.now()
    campaign = journey.campaign
    held = set(
        Customer.objects.filter(pk__in={c for c, _t, _i in entities})
        .annotate(h=planning.bucket("h:", campaign.pk))
        .filter(h__lt=campaign.holdout_percent * planning.BUCKETS // 100)
        .values_list("pk", flat=True)
    )
    rows = [
        JourneyEntry(
            journey=journey,
            customer_id=customer_id,
            entity_type=entity_type,
            entity_id=entity_id,
            holdout=customer_id in held,
            next_at=now,
            created_at=now,
        )
        for customer_id, entity_type, entity_id in entities
    ]
    JourneyEntry.objects.bulk_create(rows, ignore_conflicts=True)
    wanted = set(entities)  # once: a look-up per row, not a new set per row
    made = JourneyEntry.objects.filter(
        journey=journey, created_at=now, entity_id__in={i for _c, _t, i in entities}
    )
    keys = made.values_list("customer_id", "entity_type", "entity_id")
    return sum(1 for key in keys if key in wanted)


def enter_abandoned_carts(*, cart_ids, now: datetime | None = None) -> int:
    """The carts the idle sweep marked abandoned enter the abandoned-cart journey, when it is
    switched on (one entry per customer and cart)."""
    journey = Journey.objects.select_related("campaign").filter(
        kind=JourneyKind.ABANDONED_CART, enabled=True
    )
    journey = journey.first()
    if journey is None:
        return 0
    carts = order_selectors.cart_owners(cart_ids)
    return enter(journey=journey, entities=[(c, CART, cart) for cart, c in carts.items()], now=now)


# --- The sweep --------------------------------------------------------------------------------


@dataclass
class SweepResult:
    advanced: int = 0
    exited: int = 0
    completed: int = 0
    messages: int = 0
    campaigns: set = field(default_factory=set)


@dataclass
class _Batch:
    now: datetime
    steps: dict  # journey id → {position: JourneyStep}
    last: dict  # entry id → (opened_at, clicked_at) of its latest delivery
    messages: list = field(default_factory=list)  # (entry, step)
    result: SweepResult = field(default_factory=SweepResult)
    zones: dict = field(default_factory=dict)  # store code → its time zone, read once

    def zone(self, code: str) -> ZoneInfo:
        if code not in self.zones:
            location = inventory_selectors.location_by_code(code) if code else None
            self.zones[code] = ZoneInfo(location.timezone if location else settings.TIME_ZONE)
        return self.zones[code]


@transaction.atomic
def advance_due(*, now: datetime | None = None, limit: int | None = None) -> SweepResult:
    """One sweep: up to ``limit`` due entries, exit checks first, then their steps until each
    waits or ends; their messages inserted in bulk. Sending is left to the campaigns' sender
    (started on commit by the task)."""
    now = now or timezone.now()
    entries = _with_relations(locks.due_entries(now, limit or settings.JOURNEY_SWEEP_BATCH))
    batch = _Batch(now=now, steps=_steps(entries), last=_last_deliveries(entries))
    live = _apply_exits(entries, now, batch.result)
    for entry in live:
        _run(entry, batch)
    _insert_messages(batch)
    _save(entries)
    batch.result.advanced = len(entries)
    return batch.result


def _with_relations(entries: list[JourneyEntry]) -> list[JourneyEntry]:
    """The entries with their journey (and its campaign) and what the steps need of their
    customer (status, home store), in two queries, whatever the batch's size."""
    journeys = Journey.objects.select_related("campaign").in_bulk({e.journey_id for e in entries})
    customers = Customer.objects.only("status", "home_store").in_bulk(
        {e.customer_id for e in entries}
    )
    for entry in entries:
        JourneyEntry.journey.field.set_cached_value(entry, journeys[entry.journey_id])
        JourneyEntry.customer.field.set_cached_value(entry, customers[entry.customer_id])
    return entries


def _steps(entries) -> dict:
    steps: dict = defaultdict(dict)
    for step in JourneyStep.objects.filter(journey_id__in={e.journey_id for e in entries}):
        steps[step.journey_id][step.position] = step
    return steps


def _last_deliveries(entries) -> dict:
    rows = (
        Delivery.objects.filter(entry_id__in=[e.pk for e in entries])
        .order_by("entry_id", "-step")
        .distinct("entry_id")
        .values_list("entry_id", "opened_at", "clicked_at")
    )
    return {entry_id: (opened, clicked) for entry_id, opened, clicked in rows}


def _finish(entry: JourneyEntry, state: str, now: datetime, reason: str = "") -> None:
    entry.state, entry.exit_reason, entry.finished_at = state, reason, now
    entry.next_at, entry.waiting_event = None, ""


def _apply_exits(entries, now: datetime, result: SweepResult) -> list[JourneyEntry]:
    """Entries whose journey is off, whose customer is gone, or whose exit condition holds
    leave now; the rest are returned."""
    reasons = exit_reasons(entries)
    live = []
    for entry in entries:
        reason = reasons.get(entry.pk)
        if reason:
            _finish(entry, EntryState.EXITED, now, reason)
            result.exited += 1
        else:
            live.append(entry)
    return live


def exit_reasons(entries) -> dict[int, str]:
    """entry id → why it must leave (``ExitReason``), for the entries that must (3 queries for
    any number of abandoned-cart entries)."""
    reasons: dict[int, str] = {}
    carts = []
    for entry in entries:
        if not entry.journey.enabled:
            reasons[entry.pk] = ExitReason.SWITCHED_OFF
        elif entry.customer.status != CustomerStatus.LIVE:
            reasons[entry.pk] = ExitReason.CUSTOMER_GONE
        elif entry.entity_type == CART:
            carts.append(entry)
    gone = order_selectors.carts_still_waiting(
        [(e.entity_id, e.customer_id, e.created_at) for e in carts]
    )
    for entry in carts:
        if entry.entity_id in gone:
            reasons[entry.pk] = ExitReason(gone[entry.entity_id])
    return reasons


def _run(entry: JourneyEntry, batch: _Batch) -> None:
    """Execute the entry's due step and the ones after it until it has to wait or ends."""
    steps = batch.steps.get(entry.journey_id, {})
    for _ in range(MAX_STEPS_PER_SWEEP):
        step = steps.get(entry.position)
        if step is None or step.kind == StepKind.EXIT:
            _finish(entry, EntryState.COMPLETED, batch.now)
            batch.result.completed += 1
            return
        if not _execute(entry, step, batch):
            return  # waiting
    entry.next_at = batch.now  # a long chain: the next sweep goes on


def _execute(entry: JourneyEntry, step: JourneyStep, batch: _Batch) -> bool:
    """Run one step; True to go straight on to the entry's (new) position."""
    now = batch.now
    if step.kind == StepKind.MESSAGE:
        batch.messages.append((entry, step))
        entry.position += 1
        return True
    if step.kind == StepKind.BRANCH:
        entry.position = step.goto if _holds(step.condition, entry, batch) else entry.position + 1
        return True
    if step.kind == StepKind.WAIT:
        entry.position += 1
        entry.next_at = wait_until(step, now, batch.zone(entry.customer.home_store))
        return entry.next_at <= now
    return _wait_for_event(entry, step, batch)


def _wait_for_event(entry: JourneyEntry, step: JourneyStep, batch: _Batch) -> bool:
    """Arm the wait (the event may have come already), or, when due again, take the event's
    way or the timeout's."""
    if not entry.waiting_event:  # arriving at the step
        if _holds(step.event, entry, batch):
            entry.position = step.goto
            return True
        entry.waiting_event = step.event
        entry.event_at = None
        entry.next_at = batch.now + timedelta(minutes=step.wait_minutes or 0)
        return False
    came = entry.event_at is not None
    entry.position = step.goto if came else entry.position + 1
    entry.waiting_event, entry.event_at = "", None
    return True


def _holds(condition: str, entry: JourneyEntry, batch: _Batch) -> bool:
    opened, clicked = batch.last.get(entry.pk, (None, None))
    if condition == StepCondition.HOLDOUT:
        return entry.holdout
    if condition == StepCondition.CLICKED:
        return clicked is not None
    return opened is not None or clicked is not None  # opened


def wait_until(step: JourneyStep, now: datetime, zone: ZoneInfo) -> datetime:
    """The end of a wait: ``wait_minutes`` from now, then (if set) the next ``wait_until_time``
    on the customer's local clock."""
    moment = now + timedelta(minutes=step.wait_minutes or 0)
    if step.wait_until_time is None:
        return moment
    local = moment.astimezone(zone)
    target = local.replace(
        hour=step.wait_until_time.hour,
        minute=step.wait_until_time.minute,
        second=0,
        microsecond=0,
    )
    if target < local:
        target = (local + timedelta(days=1)).replace(hour=target.hour, minute=target.minute, fold=0)
    return target.astimezone(UTC)


def _insert_messages(batch: _Batch) -> None:
    """One Delivery per (entry, message step), decided like planning decides a campaign's
    and inserted at most once each: one statement per campaign, channel and step
    (``campaigns.queries.insert_step_deliveries``)."""
    groups: dict[tuple, list] = defaultdict(list)
    for entry, step in batch.messages:
        groups[(entry.journey.campaign_id, step.channel, step.position)].append(entry)
    for (campaign_id, channel, position), entries in groups.items():
        campaign = entries[0].journey.campaign
        customers = Customer.objects.filter(
            pk__in={e.customer_id for e in entries}, status=CustomerStatus.LIVE
        )
        channels = [channel] if channel else None
        inserted = queries.insert_step_deliveries(
            planning.contact_data(campaign, customers=customers, channels=channels),
            planning.planned_deliveries(
                campaign, step=position, customers=customers, channels=channels
            ),
            spec=planning.plan_spec(campaign, position, channels=channels),
            entries=[(e.pk, e.customer_id) for e in entries],
            now=batch.now,
        )
        batch.result.messages += len(inserted)
        if any(status == DeliveryStatus.QUEUED for _pk, _c, status, _r in inserted):
            batch.result.campaigns.add(campaign_id)
        _log_holdout_coupons(campaign, inserted)


def _log_holdout_coupons(campaign, inserted) -> None:
    """The holdout's personal codes are issued and logged on their (never sent) delivery, so
    uplift can be measured on coupons too; the treated's are issued when their message goes
    (``campaigns.sending``)."""
    held = [(pk, customer) for pk, customer, _s, reason in inserted if reason == "holdout"]
    if campaign.promotion_id is None or not held:
        return
    codes = issue_personal_codes(
        promotion=campaign.promotion,
        customer_ids=[customer for _pk, customer in held],
        campaign_id=campaign.pk,
        holdout_ids={customer for _pk, customer in held},
    )
    rows = [Delivery(pk=pk, coupon_code=codes.get(customer, "")) for pk, customer in held]
    Delivery.objects.bulk_update(rows, ["coupon_code"])


STATE_FIELDS = (
    "state", "exit_reason", "position", "next_at", "waiting_event", "event_at", "finished_at"
)  # fmt: skip


def _save(entries) -> None:
    """One UPDATE per distinct new state: a sweep's entries mostly share a few (waiting at the
    same step until the same time, exited for the same reason), so a batch of a thousand is a
    handful of statements, not a thousand-branch CASE."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for entry in entries:
        groups[tuple(getattr(entry, name) for name in STATE_FIELDS)].append(entry.pk)
    for values, pks in groups.items():
        JourneyEntry.objects.filter(pk__in=pks).update(
            **dict(zip(STATE_FIELDS, values, strict=True))
        )


# --- Events -----------------------------------------------------------------------------------


def wake_on_engagement(*, delivery_id: int, event: str, now: datetime | None = None) -> int:
    """A journey message was opened or clicked: the entry waiting for that event (if any)
    goes on at the next sweep, the event's way. One UPDATE."""
    now = now or timezone.now()
    waiting = [e for e, counted in EVENTS_THAT_COUNT.items() if event in counted]
    entry_id = Delivery.objects.filter(pk=delivery_id).values("entry_id")
    return JourneyEntry.objects.filter(
        pk__in=entry_id, state=EntryState.ACTIVE, waiting_event__in=waiting
    ).update(event_at=now, next_at=now)


@transaction.atomic
def exit_for_orders(*, customer_id: int, now: datetime | None = None) -> int:
    """An order was placed in any channel: the customer's active entries whose exit condition
    now holds leave at once, and their messages not yet sent are withdrawn (``exited``)."""
    now = now or timezone.now()
    entries = _with_relations(locks.active_entries_of(customer_id))
    reasons = exit_reasons(entries)
    leaving = [e for e in entries if e.pk in reasons]
    for entry in leaving:
        _finish(entry, EntryState.EXITED, now, reasons[entry.pk])
    _save(leaving)
    Delivery.objects.filter(entry__in=leaving, status=DeliveryStatus.QUEUED).update(
        status=DeliveryStatus.SUPPRESSED, reason=DeliveryReason.EXITED, updated_at=now
    )
    return len(leaving)
