"""The customers app's hand-written SQL, each function beside its ORM reference twin.

Every raw statement of the customers app and every use of ``omni.sql`` lives here (and nowhere
else): one public function per use case, typed in and out, whose docstring names the
BENCHMARKS.md figure that pays for it. ``omni.sql.enabled()`` (setting ``OMNI_FAST_SQL``) picks
the SQL path; off, the ORM twin beside it gives the same answer with the same side effects. The
suite runs the hot-path tests both ways (fixture ``sql_path``) and compares the twins directly
(``tests/customers/test_queries.py``).

Table names come from the models' ``_meta``; status and type values are parameters.
"""

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Protocol

from django.db import IntegrityError, connection, transaction
from django.db.models import Case, DecimalField, F, Q, Value, When
from django.db.models.functions import Coalesce, Greatest, Least, Round
from django.utils import timezone

from customers.models import (
    OUTBOUND_EVENT_TYPES,
    BlockedIdentifier,
    Customer,
    CustomerStatus,
    CustomerTraits,
    Event,
    EventType,
    Identity,
)
from omni import sql as fast_sql

# --- Identifiers ------------------------------------------------------------------------------


class KindValue(Protocol):
    """An identifier as the look-ups need it (``services.profiles.Identifier`` is one)."""

    kind: str
    value: str


def lock_identifier_keys(keys: list[int]) -> None:
    """Take PostgreSQL's transaction-level advisory lock on each key (sorted by the caller).

    One statement for a whole batch: part of the ingest's figure (BENCHMARKS.md › Customers
    (issue 4) › ingest 6,347 events/s, target ≥ 5,000). Not a fast path with a twin: advisory
    locks have no ORM form, so both settings take them with this statement.
    """
    if not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", [keys]
        )


def _by_kind_values(identifiers: Iterable[KindValue]) -> list[tuple[str, list[str]]]:
    """(kind, sorted values) per kind, kinds sorted: a few index scans, not one OR per value."""
    values: dict[str, set[str]] = {}
    for i in identifiers:
        values.setdefault(i.kind, set()).add(i.value)
    return [(kind, sorted(kind_values)) for kind, kind_values in sorted(values.items())]


def _by_kind_sql(identifiers: Iterable[KindValue], alias: str) -> tuple[str, list]:
    """``(kind = k AND value IN (...)) OR …`` as SQL text and parameters (no query compilation:
    identify runs on every guest checkout)."""
    parts, params = [], []
    for kind, values in _by_kind_values(identifiers):
        marks = ", ".join(["%s"] * len(values))
        parts.append(f"({alias}.kind = %s AND {alias}.value IN ({marks}))")
        params += [kind, *values]
    return " OR ".join(parts), params


def _by_kind_q(identifiers: Iterable[KindValue]) -> Q:
    where = Q()
    for kind, values in _by_kind_values(identifiers):
        where |= Q(kind=kind, value__in=values)
    return where


def blocked_values(identifiers: Sequence[KindValue]) -> set[tuple[str, str]]:
    """The (kind, value) pairs among ``identifiers`` that are blocked (a shop's tablet).

    Fast path: SQL text without query compilation, on every identify and ingest batch
    (BENCHMARKS.md › Orders › checkout service ≥ 300/s, measured 439/s; › Customers › ingest
    6,347 events/s).
    """
    if not identifiers:
        return set()
    if not fast_sql.enabled():
        rows = BlockedIdentifier.objects.filter(_by_kind_q(identifiers))
        return set(rows.values_list("kind", "value"))
    where, params = _by_kind_sql(identifiers, "b")
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT b.kind, b.value FROM "{_table(BlockedIdentifier)}" b WHERE {where}', params
        )
        return {(kind, value) for kind, value in cursor.fetchall()}


def live_owners(identifiers: Sequence[KindValue]) -> dict[tuple[str, str], set[int]]:
    """(kind, value) → ids of the live profiles holding it, for the ``identifiers`` held.

    Fast path: SQL text without query compilation, on every identify and ingest batch
    (BENCHMARKS.md › Orders › checkout service ≥ 300/s, measured 439/s; › Customers › ingest
    6,347 events/s).
    """
    owners: dict[tuple[str, str], set[int]] = {}
    if not identifiers:
        return owners
    if fast_sql.enabled():
        where, params = _by_kind_sql(identifiers, "i")
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT i.kind, i.value, i.customer_id FROM "{_table(Identity)}" i '
                f'JOIN "{_table(Customer)}" c ON c.id = i.customer_id '
                f"WHERE c.status = %s AND ({where})",
                [CustomerStatus.LIVE, *params],
            )
            rows = cursor.fetchall()
    else:
        rows = Identity.objects.filter(
            _by_kind_q(identifiers), customer__status=CustomerStatus.LIVE
        ).values_list("kind", "value", "customer_id")
    for kind, value, customer_id in rows:
        owners.setdefault((kind, value), set()).add(customer_id)
    return owners


def customers_by_id(ids: Iterable[int]) -> dict[int, Customer]:
    """``Customer.objects.in_bulk(ids)``: pk → profile (unknown ids left out).

    Fast path: one prepared statement, rows loaded without ``Model.__init__``; on every
    identify, so on every guest checkout (BENCHMARKS.md › Orders › checkout service ≥ 300/s,
    measured 439/s).
    """
    ids = list(ids)
    if not fast_sql.enabled():
        return Customer.objects.in_bulk(ids)
    return fast_sql.in_bulk(Customer, ids)


def customer_lock_statement() -> str:
    """One statement that locks a customer row ``FOR NO KEY UPDATE`` (other transactions may
    still insert rows pointing to it) and returns it; one parameter, the pk. For a caller that
    sends it with its own statements in one round trip — the checkout locks the customer, then
    its cart (BENCHMARKS.md › Orders › checkout service ≥ 300/s). Read the row with
    ``customer_from_row``; the ORM twin is ``customers.locks.customer_for_no_key_update``.
    """
    meta = Customer._meta
    return (
        f'SELECT {fast_sql.select_list(Customer, "c")} FROM "{meta.db_table}" AS c '
        f'WHERE c."{meta.pk.column}" = %s FOR NO KEY UPDATE'
    )


def customer_from_row(row) -> Customer:
    """The profile in a row of ``customer_lock_statement``."""
    return fast_sql.from_row(Customer, row)[0]


def identities_of(customer_id: int) -> list[Identity]:
    """Every identity of a profile, in pk order.

    Fast path: one prepared statement (BENCHMARKS.md › Orders › checkout service ≥ 300/s,
    measured 439/s: identify runs on every guest checkout).
    """
    if not fast_sql.enabled():
        return list(Identity.objects.filter(customer_id=customer_id).order_by("pk"))
    return fast_sql.get_all(Identity, "customer", customer_id)


def save_is_anonymous(customer: Customer) -> None:
    """Write ``customer.is_anonymous`` (and stamp ``updated_at``), as
    ``save(update_fields=…)`` does.

    Fast path: one prepared UPDATE, no query compilation (BENCHMARKS.md › Orders › checkout
    service ≥ 300/s, measured 439/s). Customer has no save signal receivers, so the twins'
    side effects are the same.
    """
    if not fast_sql.enabled():
        customer.save(update_fields=["is_anonymous", "updated_at"])
        return
    fast_sql.update(customer, ("is_anonymous", "updated_at"))


@dataclass(frozen=True)
class NewIdentity:
    customer_id: int
    kind: str
    value: str
    verified: bool


def create_profiles(known: list[bool], now: datetime) -> list[int]:
    """New live profiles with default fields, one per flag (known person or anonymous);
    returns their ids in the same order.

    Fast path: one statement for a whole ingest batch (BENCHMARKS.md › Customers (issue 4) ›
    ingest 6,347 events/s, target ≥ 5,000).
    """
    if not known:
        return []
    if not fast_sql.enabled():
        rows = [
            Customer(is_anonymous=not k, status=CustomerStatus.LIVE, created_at=now, updated_at=now)
            for k in known
        ]
        return [c.pk for c in Customer.objects.bulk_create(rows)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO "{_table(Customer)}" (first_name, last_name, preferred_language,
                   home_store, status, is_anonymous, created_at, updated_at)
            SELECT '', '', %s, '', %s, NOT k, %s, %s
              FROM unnest(%s::boolean[]) WITH ORDINALITY AS v(k, n) ORDER BY n
            RETURNING id
            """,
            [
                Customer._meta.get_field("preferred_language").default,
                CustomerStatus.LIVE,
                now,
                now,
                known,
            ],
        )
        return [row[0] for row in cursor.fetchall()]


def add_identities(rows: Sequence[NewIdentity], *, source: str, now: datetime) -> None:
    """Insert identities (created and last seen ``now``), all in one statement.

    Fast path: one statement per ingest batch and per identify (BENCHMARKS.md › Customers
    (issue 4) › ingest 6,347 events/s; › Orders › checkout service ≥ 300/s, measured 439/s).
    """
    if not rows:
        return
    if not fast_sql.enabled():
        Identity.objects.bulk_create(
            [
                Identity(
                    customer_id=r.customer_id,
                    kind=r.kind,
                    value=r.value,
                    verified=r.verified,
                    source=source,
                    created_at=now,
                    last_seen_at=now,
                )
                for r in rows
            ]
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO "{_table(Identity)}" (customer_id, kind, value, verified, source,
                   created_at, last_seen_at)
            SELECT c, k, v, f, %s, %s, %s
              FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::boolean[]) AS t(c, k, v, f)
            """,
            [
                source,
                now,
                now,
                [r.customer_id for r in rows],
                [r.kind for r in rows],
                [r.value for r in rows],
                [r.verified for r in rows],
            ],
        )


# --- Events and their trait increments ----------------------------------------------------------


@dataclass(frozen=True)
class NewEvent:
    """A touchpoint to store. ``properties_json`` is ``properties`` as JSON text (the ingest
    checks it once; the SQL path sends it as it is); ``idempotency_key`` an API message id."""

    customer_id: int
    channel: str
    type: str
    name: str
    properties: dict
    properties_json: str
    occurred_at: datetime
    idempotency_key: str | None = None


@dataclass(frozen=True)
class TraitIncrement:
    """What new events add to one customer's traits: last seen, and for new orders their
    count, revenue, first and last time and the first store named (else "")."""

    customer_id: int
    last_seen_at: datetime
    orders: int = 0
    revenue: Decimal = Decimal("0")
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    store: str = ""


def insert_events(events: Sequence[NewEvent], *, received_at: datetime) -> list[int | None]:
    """Store events; the i-th result is the i-th event's new id, or None when its
    ``idempotency_key`` was already stored (by a concurrent request: nothing is written).

    Fast path: one ``INSERT … ON CONFLICT (idempotency_key) DO NOTHING`` per batch
    (BENCHMARKS.md › Customers (issue 4) › ingest 6,347 events/s, target ≥ 5,000).
    """
    if not events:
        return []
    if not fast_sql.enabled():
        return _insert_events_orm(events, received_at)
    with connection.cursor() as cursor:
        cursor.execute(_events_insert_sql(_EVENTS_FROM_ARRAYS), [received_at, *_columns(events)])
        returned = cursor.fetchall()
    by_key = {key: pk for pk, key in returned if key is not None}
    unkeyed = iter([pk for pk, key in returned if key is None])  # never conflict: in order
    return [
        by_key.get(e.idempotency_key) if e.idempotency_key is not None else next(unkeyed)
        for e in events
    ]


def _insert_events_orm(events: Sequence[NewEvent], received_at: datetime) -> list[int | None]:
    """All at once; when a key was stored meanwhile (the batch fails), one savepoint per event
    tells which."""
    rows = [_event_row(e, received_at) for e in events]
    try:
        with transaction.atomic():
            Event.objects.bulk_create(rows)
    except IntegrityError:
        return [_insert_event_orm(_event_row(e, received_at)) for e in events]
    return [row.pk for row in rows]


def _event_row(event: NewEvent, received_at: datetime) -> Event:
    return Event(
        customer_id=event.customer_id,
        channel=event.channel,
        type=event.type,
        name=event.name,
        properties=event.properties,
        occurred_at=event.occurred_at,
        received_at=received_at,
        idempotency_key=event.idempotency_key,
    )


def _insert_event_orm(row: Event) -> int | None:
    try:
        with transaction.atomic():  # a savepoint: a duplicate key leaves the others alone
            row.save(force_insert=True)
    except IntegrityError:
        if row.idempotency_key is None:
            raise
        return None
    return row.pk


def record_event(event: Event, increment: TraitIncrement) -> Event:
    """Insert one new ``Event`` and add ``increment`` to its customer's traits; returns the
    event saved.

    Fast path: the event insert (the same statement as ``insert_events``) and the traits
    upsert in one statement, on every cart change and checkout (BENCHMARKS.md › Orders ›
    checkout service ≥ 300/s, measured 439/s).
    """
    if not fast_sql.enabled():
        event.save(force_insert=True)
        _apply_increments_orm([increment])
        return event
    event.received_at = timezone.now()
    new = NewEvent(
        customer_id=event.customer_id,
        channel=event.channel,
        type=event.type,
        name=event.name,
        properties=event.properties,
        properties_json=_json_text(event.properties),
        occurred_at=event.occurred_at,
        idempotency_key=event.idempotency_key,
    )
    params = [event.received_at, *(column[0] for column in _columns([new]))]
    params += [column[0] for column in _increment_columns([increment])]
    with connection.cursor() as cursor:
        cursor.execute(_record_event_sql(), params)
        (pk,) = cursor.fetchone()
    fast_sql.saved([event], [pk])
    return event


def apply_trait_increments(increments: Sequence[TraitIncrement]) -> None:
    """Add each increment to its customer's traits (a row created when missing), customers in
    id order (no deadlock between batches): last seen moves forward only; order counters add
    up in place (no read-modify-write, so concurrent orders add up), the average recomputed
    from the new sums; the first store seen stays.

    Fast path: one upsert per ingest batch (BENCHMARKS.md › Customers (issue 4) › ingest
    6,347 events/s, target ≥ 5,000).
    """
    if not increments:
        return
    increments = sorted(increments, key=lambda i: i.customer_id)
    if not fast_sql.enabled():
        _apply_increments_orm(increments)
        return
    with connection.cursor() as cursor:
        cursor.execute(_increments_sql(_INCREMENTS_FROM_ARRAYS), _increment_columns(increments))


def _apply_increments_orm(increments: Sequence[TraitIncrement]) -> None:
    CustomerTraits.objects.bulk_create(
        [CustomerTraits(customer_id=i.customer_id) for i in increments], ignore_conflicts=True
    )
    money = DecimalField(max_digits=12, decimal_places=2)
    for inc in increments:
        # One guarded UPDATE per customer (no read-modify-write): concurrent orders add up.
        seen = Value(inc.last_seen_at)
        changes = {
            "last_seen_at": Coalesce(Greatest(F("last_seen_at"), seen), seen),
            "updated_at": timezone.now(),
        }
        if inc.orders:
            revenue = F("revenue") + Value(inc.revenue, output_field=money)
            first, last = Value(inc.first_order_at), Value(inc.last_order_at)
            changes |= {
                "orders_count": F("orders_count") + inc.orders,
                "revenue": revenue,
                "average_order_value": Round(
                    revenue / (F("orders_count") + inc.orders), 2, output_field=money
                ),
                "first_order_at": Coalesce(Least(F("first_order_at"), first), first),
                "last_order_at": Coalesce(Greatest(F("last_order_at"), last), last),
            }
        if inc.store:
            changes["preferred_store"] = Case(
                When(preferred_store="", then=Value(inc.store)), default=F("preferred_store")
            )
        CustomerTraits.objects.filter(pk=inc.customer_id).update(**changes)


_EVENT_COLUMNS = (
    "customer_id, identity_id, channel, type, name, properties, occurred_at, received_at, "
    "idempotency_key"
)
# Rows ``v(c, ch, t, n, p, o, k, i)``: many as arrays, one as plain parameters.
_EVENTS_FROM_ARRAYS = (
    "unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[], "
    "%s::text[]) WITH ORDINALITY"
)
_ONE_EVENT = (
    "(VALUES (%s::bigint, %s::text, %s::text, %s::text, %s::text, %s::timestamptz, %s::text, 1))"
)


@cache
def _events_insert_sql(source: str) -> str:
    """The one event INSERT (ingest and ``record_event``): rows in order, a message id seen
    before skipped; returns (id, idempotency_key) per row stored."""
    return (
        f'INSERT INTO "{_table(Event)}" ({_EVENT_COLUMNS}) '
        "SELECT c, NULL, ch, t, n, p::jsonb, o, %s::timestamptz, k "
        f"FROM {source} AS v(c, ch, t, n, p, o, k, i) ORDER BY i "
        "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key"
    )


def _columns(events: Sequence[NewEvent]) -> list[list]:
    return [
        [e.customer_id for e in events],
        [e.channel for e in events],
        [e.type for e in events],
        [e.name for e in events],
        [e.properties_json for e in events],
        [e.occurred_at for e in events],
        [e.idempotency_key for e in events],
    ]


# PostgreSQL's LEAST/GREATEST skip NULLs, so a first order sets first/last order times.
_INCREMENTS_TEMPLATE = """
INSERT INTO "{table}" AS t
       (customer_id, orders_count, revenue, average_order_value, last_seen_at, first_order_at,
        last_order_at, preferred_channel, preferred_store, favourite_categories, updated_at)
SELECT v.customer_id, v.n, v.total, CASE WHEN v.n > 0 THEN round(v.total / v.n, 2) ELSE 0 END,
       v.seen, v.first_at, v.last_at, '', v.store, '[]'::jsonb, now()
  FROM {source} AS v(customer_id, seen, n, total, first_at, last_at, store)
 ORDER BY v.customer_id
ON CONFLICT (customer_id) DO UPDATE
   SET last_seen_at = GREATEST(t.last_seen_at, EXCLUDED.last_seen_at),
       orders_count = t.orders_count + EXCLUDED.orders_count,
       revenue = t.revenue + EXCLUDED.revenue,
       average_order_value = CASE
           WHEN EXCLUDED.orders_count > 0
           THEN round((t.revenue + EXCLUDED.revenue) / (t.orders_count + EXCLUDED.orders_count), 2)
           ELSE t.average_order_value END,
       first_order_at = LEAST(t.first_order_at, EXCLUDED.first_order_at),
       last_order_at = GREATEST(t.last_order_at, EXCLUDED.last_order_at),
       preferred_store = CASE WHEN t.preferred_store = '' THEN EXCLUDED.preferred_store
                              ELSE t.preferred_store END,
       updated_at = now()
"""
_INCREMENTS_FROM_ARRAYS = (
    "unnest(%s::bigint[], %s::timestamptz[], %s::int[], %s::numeric[], %s::timestamptz[], "
    "%s::timestamptz[], %s::text[])"
)
# One customer (an event recorded on its own): plain parameters, no arrays to build and dump.
_ONE_INCREMENT = (
    "(VALUES (%s::bigint, %s::timestamptz, %s::int, %s::numeric, %s::timestamptz, "
    "%s::timestamptz, %s::text))"
)


@cache
def _increments_sql(source: str) -> str:
    return _INCREMENTS_TEMPLATE.format(table=_table(CustomerTraits), source=source)


@cache
def _record_event_sql() -> str:
    insert = _events_insert_sql(_ONE_EVENT)
    return f"WITH e AS ({insert})\n{_increments_sql(_ONE_INCREMENT)} RETURNING (SELECT id FROM e)"


def _increment_columns(increments: Sequence[TraitIncrement]) -> list[list]:
    return [
        [i.customer_id for i in increments],
        [i.last_seen_at for i in increments],
        [i.orders for i in increments],
        [i.revenue for i in increments],
        [i.first_order_at for i in increments],
        [i.last_order_at for i in increments],
        [i.store for i in increments],
    ]


# --- Trait rebuild (the nightly job) ----------------------------------------------------------

# The rules of the rebuild, for both twins: an order's total counts when it is a decimal of up
# to 10 digits and 2 decimals; stores count on these events, categories on those; a customer's
# preferred channel and store are the most frequent (ties by name), the favourite categories
# the 3 most frequent; a store name keeps 20 characters.
ORDER_TOTAL_PATTERN = r"^-?[0-9]{1,10}(\.[0-9]{1,2})?$"
STORE_EVENT_TYPES = (EventType.ORDER_PLACED, EventType.STORE_VISIT, EventType.PICKUP_COLLECTED)
CATEGORY_EVENT_TYPES = (EventType.PRODUCT_VIEWED, EventType.ORDER_PLACED)
FAVOURITE_CATEGORIES = 3
STORE_LENGTH = 20
RFM_BUCKETS = 5

_REBUILD_TEMPLATE = """
WITH live AS (
    SELECT id FROM "{customer}" WHERE status = %(live)s {customer_filter}
), ev AS (
    SELECT e.customer_id, e.type, e.channel, e.occurred_at,
           CASE WHEN e.type = %(order)s AND e.properties->>'total' ~ %(total)s
                THEN (e.properties->>'total')::numeric END AS total,
           e.properties->>'store' AS store,
           e.properties->>'category' AS category
      FROM "{event}" e JOIN live ON live.id = e.customer_id
     WHERE e.type <> ALL(%(outbound)s)
), agg AS (
    SELECT customer_id,
           count(*) FILTER (WHERE type = %(order)s) AS orders,
           coalesce(sum(total), 0) AS revenue,
           min(occurred_at) FILTER (WHERE type = %(order)s) AS first_order,
           max(occurred_at) FILTER (WHERE type = %(order)s) AS last_order,
           max(occurred_at) AS last_seen
      FROM ev GROUP BY customer_id
), counted AS (
    SELECT customer_id, 'c' AS what, channel AS value, count(*) AS n FROM ev GROUP BY 1, 3
    UNION ALL
    SELECT customer_id, 's', store, count(*) FROM ev
     WHERE store IS NOT NULL AND type = ANY(%(store_types)s) GROUP BY 1, 3
    UNION ALL
    SELECT customer_id, 'k', category, count(*) FROM ev
     WHERE category IS NOT NULL AND type = ANY(%(category_types)s) GROUP BY 1, 3
), ranked AS (
    SELECT customer_id, what, value,
           row_number() OVER (PARTITION BY customer_id, what ORDER BY n DESC, value) AS rn
      FROM counted
), picks AS (
    SELECT customer_id,
           max(value) FILTER (WHERE what = 'c' AND rn = 1) AS channel,
           max(value) FILTER (WHERE what = 's' AND rn = 1) AS store,
           coalesce(jsonb_agg(value ORDER BY rn) FILTER (WHERE what = 'k' AND rn <= %(top)s),
                    '[]') AS categories
      FROM ranked WHERE rn <= %(top)s GROUP BY customer_id
)
INSERT INTO "{traits}" AS t
       (customer_id, orders_count, revenue, average_order_value, first_order_at, last_order_at,
        last_seen_at, preferred_channel, preferred_store, favourite_categories, updated_at)
SELECT live.id, coalesce(a.orders, 0), coalesce(a.revenue, 0),
       CASE WHEN coalesce(a.orders, 0) > 0 THEN round(a.revenue / a.orders, 2) ELSE 0 END,
       a.first_order, a.last_order, a.last_seen,
       coalesce(p.channel, ''), coalesce(left(p.store, %(store_length)s), ''),
       coalesce(p.categories, '[]'), now()
  FROM live LEFT JOIN agg a ON a.customer_id = live.id
            LEFT JOIN picks p ON p.customer_id = live.id
ON CONFLICT (customer_id) DO UPDATE SET
       orders_count = EXCLUDED.orders_count, revenue = EXCLUDED.revenue,
       average_order_value = EXCLUDED.average_order_value,
       first_order_at = EXCLUDED.first_order_at, last_order_at = EXCLUDED.last_order_at,
       last_seen_at = EXCLUDED.last_seen_at, preferred_channel = EXCLUDED.preferred_channel,
       preferred_store = EXCLUDED.preferred_store,
       favourite_categories = EXCLUDED.favourite_categories, updated_at = now()
"""


@cache
def _rebuild_sql(some: bool) -> str:
    return _REBUILD_TEMPLATE.format(
        customer=_table(Customer),
        event=_table(Event),
        traits=_table(CustomerTraits),
        customer_filter="AND id = ANY(%(ids)s)" if some else "",
    )


def rebuild_traits(customer_ids: list[int] | None) -> int:
    """Recompute every trait but RFM from the events of the live customers (all, or those of
    ``customer_ids``); returns how many customers were rebuilt.

    Fast path: one set-based statement (BENCHMARKS.md › Customers (issue 4) › trait
    recompute, 1 M customers × 10 M events, 60.6 s, target ≤ 120 s).
    """
    if not fast_sql.enabled():
        return _rebuild_traits_orm(customer_ids)
    params = {
        "live": CustomerStatus.LIVE,
        "order": EventType.ORDER_PLACED,
        "total": ORDER_TOTAL_PATTERN,
        "store_types": [str(t) for t in STORE_EVENT_TYPES],
        "outbound": sorted(str(t) for t in OUTBOUND_EVENT_TYPES),
        "category_types": [str(t) for t in CATEGORY_EVENT_TYPES],
        "top": FAVOURITE_CATEGORIES,
        "store_length": STORE_LENGTH,
    }
    if customer_ids is not None:
        params["ids"] = list(customer_ids)
    with connection.cursor() as cursor:
        cursor.execute(_rebuild_sql(customer_ids is not None), params)
        return cursor.rowcount


_REBUILT = (
    "orders_count",
    "revenue",
    "average_order_value",
    "first_order_at",
    "last_order_at",
    "last_seen_at",
    "preferred_channel",
    "preferred_store",
    "favourite_categories",
    "updated_at",
)
_REBUILD_BATCH = 5_000


def _rebuild_traits_orm(customer_ids: list[int] | None) -> int:
    customers = Customer.objects.filter(status=CustomerStatus.LIVE)
    if customer_ids is not None:
        customers = customers.filter(pk__in=customer_ids)
    ids = list(customers.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), _REBUILD_BATCH):
        batch = ids[start : start + _REBUILD_BATCH]
        per: dict[int, list[tuple]] = defaultdict(list)
        rows = (
            Event.objects.filter(customer_id__in=batch)
            .exclude(type__in=OUTBOUND_EVENT_TYPES)
            .order_by()
        )
        for row in rows.values_list("customer_id", "type", "channel", "occurred_at", "properties"):
            per[row[0]].append(row[1:])
        CustomerTraits.objects.bulk_create(
            [_traits_of(pk, per[pk]) for pk in batch],
            update_conflicts=True,
            unique_fields=["customer"],
            update_fields=_REBUILT,
        )
    return len(ids)


_TOTAL = re.compile(ORDER_TOTAL_PATTERN)
_CENT = Decimal("0.01")


def _traits_of(customer_id: int, events: list[tuple]) -> CustomerTraits:
    """One customer's rebuilt traits from its events ((type, channel, occurred_at, properties))."""
    orders = [e for e in events if e[0] == EventType.ORDER_PLACED]
    revenue = Decimal("0")
    for _type, _channel, _at, properties in orders:
        total = _property_text(properties, "total")
        if total is not None and _TOTAL.fullmatch(total):
            revenue += Decimal(total)
    stores, categories = Counter(), Counter()
    for event_type, _channel, _at, properties in events:
        store = _property_text(properties, "store")
        if store is not None and event_type in STORE_EVENT_TYPES:
            stores[store] += 1
        category = _property_text(properties, "category")
        if category is not None and event_type in CATEGORY_EVENT_TYPES:
            categories[category] += 1
    average = (revenue / len(orders)).quantize(_CENT, ROUND_HALF_UP) if orders else Decimal("0")
    return CustomerTraits(
        customer_id=customer_id,
        orders_count=len(orders),
        revenue=revenue,
        average_order_value=average,
        first_order_at=min((e[2] for e in orders), default=None),
        last_order_at=max((e[2] for e in orders), default=None),
        last_seen_at=max((e[2] for e in events), default=None),
        preferred_channel=next(iter(_most_frequent(Counter(e[1] for e in events))), ""),
        preferred_store=next(iter(_most_frequent(stores)), "")[:STORE_LENGTH],
        favourite_categories=_most_frequent(categories)[:FAVOURITE_CATEGORIES],
    )


def _most_frequent(counter: Counter) -> list[str]:
    """Most frequent first, ties by name (code point order, as the database's C collation)."""
    return [value for value, _n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def _property_text(properties, key: str) -> str | None:
    """``properties->>'key'`` as PostgreSQL reads it: a string as it is, another JSON value
    as JSON text, a missing key or JSON null as None."""
    value = properties.get(key) if isinstance(properties, dict) else None
    if value is None or isinstance(value, str):
        return value
    return _json_text(value)


def score_rfm() -> None:
    """RFM quintiles (1–5, 5 best; ties by customer id) among the customers with orders, by
    last order time, order count and revenue; cleared for those without orders.

    Fast path: two set-based statements, part of the nightly figure (BENCHMARKS.md ›
    Customers (issue 4) › trait recompute 60.6 s, target ≤ 120 s).
    """
    if not fast_sql.enabled():
        _score_rfm_orm()
        return
    traits = _table(CustomerTraits)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE "{traits}" t
               SET recency_score = s.r, frequency_score = s.f, monetary_score = s.m
              FROM (SELECT customer_id,
                           ntile(%(n)s) OVER (ORDER BY last_order_at, customer_id) AS r,
                           ntile(%(n)s) OVER (ORDER BY orders_count, customer_id) AS f,
                           ntile(%(n)s) OVER (ORDER BY revenue, customer_id) AS m
                      FROM "{traits}" WHERE orders_count > 0) s
             WHERE t.customer_id = s.customer_id
            """,
            {"n": RFM_BUCKETS},
        )
        cursor.execute(
            f'UPDATE "{traits}" SET recency_score = NULL, frequency_score = NULL, '
            "monetary_score = NULL WHERE orders_count = 0 AND recency_score IS NOT NULL"
        )


def _score_rfm_orm() -> None:
    rows = list(
        CustomerTraits.objects.filter(orders_count__gt=0).only(
            "customer_id", "last_order_at", "orders_count", "revenue"
        )
    )
    r = _ntile(rows, lambda t: t.last_order_at)
    f = _ntile(rows, lambda t: t.orders_count)
    m = _ntile(rows, lambda t: t.revenue)
    for t in rows:
        pk = t.customer_id
        t.recency_score, t.frequency_score, t.monetary_score = r[pk], f[pk], m[pk]
    CustomerTraits.objects.bulk_update(
        rows, ["recency_score", "frequency_score", "monetary_score"], batch_size=1000
    )
    CustomerTraits.objects.filter(orders_count=0, recency_score__isnull=False).update(
        recency_score=None, frequency_score=None, monetary_score=None
    )


def _ntile(rows: list[CustomerTraits], key) -> dict[int, int]:
    """PostgreSQL's ``ntile(RFM_BUCKETS) OVER (ORDER BY key, customer_id)``: buckets as equal
    as possible, the first ones one row larger."""
    ordered = sorted(rows, key=lambda t: (key(t), t.customer_id))
    size, larger = divmod(len(ordered), RFM_BUCKETS)
    buckets: dict[int, int] = {}
    start = 0
    for bucket in range(1, RFM_BUCKETS + 1):
        end = start + size + (1 if bucket <= larger else 0)
        for t in ordered[start:end]:
            buckets[t.customer_id] = bucket
        start = end
    return buckets


# --- Helpers ----------------------------------------------------------------------------------


def _table(model) -> str:
    return model._meta.db_table


def _json_text(value) -> str:
    return json.dumps(value)
