"""Computed traits: rebuilt in bulk (nightly), updated incrementally by events.

Orders do not exist yet as a table: revenue and order counts come from ``order_placed`` events
(``properties.total`` as a decimal string, ``properties.store`` a location code, and
``properties.category`` on product and order events). RFM scores are quintiles (1–5, 5 best)
among customers with at least one order, recomputed by the full rebuild only. The rebuild's
rules and both of its paths (set-based SQL and its ORM reference twin) are in
``customers.queries`` (``rebuild_traits``, ``score_rfm``).
"""

from collections import defaultdict
from decimal import Decimal, InvalidOperation

from django.db import transaction

from customers import queries
from customers.models import Event, EventType
from customers.queries import TraitIncrement


def recompute_traits(*, customer_ids: list[int] | None = None) -> int:
    """Rebuild traits from events: for some customers, or for everyone (then RFM too)."""
    with transaction.atomic():
        count = queries.rebuild_traits(customer_ids)
        if customer_ids is None:
            queries.score_rfm()
    return count


def _decimal(value) -> Decimal | None:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def increments_of(events) -> list[TraitIncrement]:
    """What new events add to their customers' traits, one increment per customer (in id
    order): the latest time seen; for order events their count, revenue, first and last time
    and the first store named. ``events``: objects with customer_id, type, occurred_at and
    properties (stored Event rows or the ingest's parsed events)."""
    last_seen: dict[int, object] = {}
    orders: dict[int, list] = defaultdict(list)
    for event in events:
        seen = last_seen.get(event.customer_id)
        if seen is None or event.occurred_at > seen:
            last_seen[event.customer_id] = event.occurred_at
        if event.type == EventType.ORDER_PLACED:
            orders[event.customer_id].append(event)
    increments = []
    for pk in sorted(last_seen):
        if pk in orders:
            increments.append(_with_orders(pk, last_seen[pk], orders[pk]))
        else:
            increments.append(TraitIncrement(customer_id=pk, last_seen_at=last_seen[pk]))
    return increments


def _with_orders(customer_id: int, last_seen, events) -> TraitIncrement:
    """The increment of a customer's new order events."""
    total = sum(
        (_decimal((e.properties or {}).get("total")) or Decimal("0") for e in events),
        Decimal("0"),
    )
    store = next(
        (
            str(e.properties["store"])[: queries.STORE_LENGTH]
            for e in events
            if (e.properties or {}).get("store")
        ),
        "",
    )
    return TraitIncrement(
        customer_id=customer_id,
        last_seen_at=last_seen,
        orders=len(events),
        revenue=total,
        first_order_at=min(e.occurred_at for e in events),
        last_order_at=max(e.occurred_at for e in events),
        store=store,
    )


def apply_event_increments(events) -> None:
    """Incremental update after new events: last seen for everyone, order figures for orders.

    Cheap enough for the ingest path; the nightly rebuild corrects anything approximate
    (preferred channel/store, categories, RFM).
    """
    queries.apply_trait_increments(increments_of(events))


def record_with_increments(event: Event) -> Event:
    """Insert one new event and apply its increments (on the fast path in one statement):
    what storing it then ``apply_event_increments([event])`` do."""
    (increment,) = increments_of([event])
    return queries.record_event(event, increment)
