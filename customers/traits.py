"""Computed traits: rebuilt in bulk with set-based SQL (nightly), updated incrementally by events.

Orders do not exist yet as a table: revenue and order counts come from ``order_placed`` events
(``properties.total`` as a decimal string, ``properties.store`` a location code, and
``properties.category`` on product and order events). RFM scores are quintiles (1–5, 5 best)
among customers with at least one order, recomputed by the full rebuild only.
"""

from collections import Counter, defaultdict
from decimal import Decimal, InvalidOperation
from functools import cache

from django.db import connection, transaction
from django.db.models import Case, F, Max, Value, When
from django.db.models.functions import Coalesce, Greatest, Least, Round
from django.utils import timezone

from customers.models import Customer, CustomerStatus, CustomerTraits, Event, EventType
from omni import sql as fast_sql

_DECIMAL = r"^-?[0-9]{1,10}(\.[0-9]{1,2})?$"

_PG_REBUILD = f"""
WITH live AS (
    SELECT id FROM customers_customer WHERE status = 'live' /*customer_filter*/
), ev AS (
    SELECT e.customer_id, e.type, e.channel, e.occurred_at,
           CASE WHEN e.type = 'order_placed' AND e.properties->>'total' ~ '{_DECIMAL}'
                THEN (e.properties->>'total')::numeric END AS total,
           e.properties->>'store' AS store,
           e.properties->>'category' AS category
      FROM customers_event e JOIN live ON live.id = e.customer_id
), agg AS (
    SELECT customer_id,
           count(*) FILTER (WHERE type = 'order_placed') AS orders,
           coalesce(sum(total), 0) AS revenue,
           min(occurred_at) FILTER (WHERE type = 'order_placed') AS first_order,
           max(occurred_at) FILTER (WHERE type = 'order_placed') AS last_order,
           max(occurred_at) AS last_seen
      FROM ev GROUP BY customer_id
), counted AS (
    SELECT customer_id, 'c' AS what, channel AS value, count(*) AS n FROM ev GROUP BY 1, 3
    UNION ALL
    SELECT customer_id, 's', store, count(*) FROM ev
     WHERE store IS NOT NULL AND type IN ('order_placed', 'store_visit', 'pickup_collected')
     GROUP BY 1, 3
    UNION ALL
    SELECT customer_id, 'k', category, count(*) FROM ev
     WHERE category IS NOT NULL AND type IN ('product_viewed', 'order_placed') GROUP BY 1, 3
), ranked AS (
    SELECT customer_id, what, value,
           row_number() OVER (PARTITION BY customer_id, what ORDER BY n DESC, value) AS rn
      FROM counted
), picks AS (
    SELECT customer_id,
           max(value) FILTER (WHERE what = 'c' AND rn = 1) AS channel,
           max(value) FILTER (WHERE what = 's' AND rn = 1) AS store,
           coalesce(jsonb_agg(value ORDER BY rn) FILTER (WHERE what = 'k' AND rn <= 3), '[]')
               AS categories
      FROM ranked WHERE rn <= 3 GROUP BY customer_id
)
INSERT INTO customers_customertraits AS t
       (customer_id, orders_count, revenue, average_order_value, first_order_at, last_order_at,
        last_seen_at, preferred_channel, preferred_store, favourite_categories, updated_at)
SELECT live.id, coalesce(a.orders, 0), coalesce(a.revenue, 0),
       CASE WHEN coalesce(a.orders, 0) > 0 THEN round(a.revenue / a.orders, 2) ELSE 0 END,
       a.first_order, a.last_order, a.last_seen,
       coalesce(p.channel, ''), coalesce(left(p.store, 20), ''), coalesce(p.categories, '[]'),
       now()
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

_PG_RFM = """
UPDATE customers_customertraits t
   SET recency_score = s.r, frequency_score = s.f, monetary_score = s.m
  FROM (SELECT customer_id,
               ntile(5) OVER (ORDER BY last_order_at, customer_id) AS r,
               ntile(5) OVER (ORDER BY orders_count, customer_id) AS f,
               ntile(5) OVER (ORDER BY revenue, customer_id) AS m
          FROM customers_customertraits WHERE orders_count > 0) s
 WHERE t.customer_id = s.customer_id
"""
_PG_RFM_CLEAR = """
UPDATE customers_customertraits
   SET recency_score = NULL, frequency_score = NULL, monetary_score = NULL
 WHERE orders_count = 0 AND recency_score IS NOT NULL
"""


def recompute_traits(*, customer_ids: list[int] | None = None) -> int:
    """Rebuild traits from events: for some customers, or for everyone (then RFM too)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                customer_filter = "AND id = ANY(%s)" if customer_ids is not None else ""
                cursor.execute(
                    _PG_REBUILD.replace("/*customer_filter*/", customer_filter),
                    [list(customer_ids)] if customer_ids is not None else [],
                )
                count = cursor.rowcount
                if customer_ids is None:
                    cursor.execute(_PG_RFM)
                    cursor.execute(_PG_RFM_CLEAR)
            return count
        return _recompute_in_python(customer_ids)


def _decimal(value) -> Decimal | None:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def _recompute_in_python(customer_ids) -> int:
    """The same rules for the SQLite demo database (small data)."""
    customers = Customer.objects.filter(status=CustomerStatus.LIVE)
    if customer_ids is not None:
        customers = customers.filter(pk__in=customer_ids)
    ids = list(customers.values_list("pk", flat=True))
    per: dict[int, list] = defaultdict(list)
    for row in Event.objects.filter(customer_id__in=ids).values(
        "customer_id", "type", "channel", "occurred_at", "properties"
    ):
        per[row["customer_id"]].append(row)
    for pk in ids:
        events = per.get(pk, [])
        orders = [e for e in events if e["type"] == EventType.ORDER_PLACED]
        totals = [_decimal((e["properties"] or {}).get("total")) for e in orders]
        revenue = sum((t for t in totals if t is not None), Decimal("0"))
        channels = Counter(e["channel"] for e in events)
        stores = Counter(
            (e["properties"] or {}).get("store")
            for e in events
            if e["type"] in ("order_placed", "store_visit", "pickup_collected")
            and (e["properties"] or {}).get("store")
        )
        cats = Counter(
            (e["properties"] or {}).get("category")
            for e in events
            if e["type"] in ("product_viewed", "order_placed")
            and (e["properties"] or {}).get("category")
        )

        def top(counter):
            return [v for v, _ in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))]

        CustomerTraits.objects.update_or_create(
            customer_id=pk,
            defaults={
                "orders_count": len(orders),
                "revenue": revenue,
                "average_order_value": (revenue / len(orders)).quantize(Decimal("0.01"))
                if orders
                else Decimal("0"),
                "first_order_at": min((e["occurred_at"] for e in orders), default=None),
                "last_order_at": max((e["occurred_at"] for e in orders), default=None),
                "last_seen_at": max((e["occurred_at"] for e in events), default=None),
                "preferred_channel": (top(channels) or [""])[0],
                "preferred_store": str((top(stores) or [""])[0])[:20],
                "favourite_categories": top(cats)[:3],
            },
        )
    if customer_ids is None:
        _rfm_in_python()
    return len(ids)


def _rfm_in_python() -> None:
    rows = list(CustomerTraits.objects.filter(orders_count__gt=0))
    CustomerTraits.objects.filter(orders_count=0).update(
        recency_score=None, frequency_score=None, monetary_score=None
    )
    n = len(rows)
    if not n:
        return

    def ntile(key):
        ordered = sorted(rows, key=lambda t: (key(t), t.customer_id))
        return {t.customer_id: 1 + (i * 5) // n for i, t in enumerate(ordered)}

    r = ntile(lambda t: t.last_order_at)
    f = ntile(lambda t: t.orders_count)
    m = ntile(lambda t: t.revenue)
    for t in rows:
        t.recency_score, t.frequency_score, t.monetary_score = (
            r[t.customer_id],
            f[t.customer_id],
            m[t.customer_id],
        )
    CustomerTraits.objects.bulk_update(
        rows, ["recency_score", "frequency_score", "monetary_score"], batch_size=1000
    )


def apply_event_increments(events) -> None:
    """Incremental update after new events: last seen for everyone, order figures for orders.

    Cheap enough for the ingest path; the nightly rebuild corrects anything approximate
    (preferred channel/store, categories, RFM). ``events``: objects with customer_id, type,
    occurred_at and properties (stored Event rows or the ingest's parsed events).
    """
    if not events:
        return
    last_seen: dict[int, object] = {}
    orders: dict[int, list] = defaultdict(list)
    for event in events:
        seen = last_seen.get(event.customer_id)
        if seen is None or event.occurred_at > seen:
            last_seen[event.customer_id] = event.occurred_at
        if event.type == EventType.ORDER_PLACED:
            orders[event.customer_id].append(event)
    ids = sorted(last_seen)
    figures = {pk: _order_figures(orders[pk]) for pk in orders}
    if connection.vendor == "postgresql":
        _apply_increments_postgresql(ids, last_seen, figures)
        return
    CustomerTraits.objects.bulk_create(
        [CustomerTraits(customer_id=pk) for pk in ids], ignore_conflicts=True
    )
    for pk in ids:
        current = CustomerTraits.objects.filter(pk=pk).aggregate(m=Max("last_seen_at"))["m"]
        if current is None or current < last_seen[pk]:
            CustomerTraits.objects.filter(pk=pk).update(
                last_seen_at=last_seen[pk], updated_at=timezone.now()
            )
    for pk in sorted(figures):
        # One guarded UPDATE per customer (no read-modify-write): concurrent orders add up.
        count, total, first, last, store = figures[pk]
        changes = {
            "orders_count": F("orders_count") + count,
            "revenue": F("revenue") + total,
            "average_order_value": Round((F("revenue") + total) / (F("orders_count") + count), 2),
            "first_order_at": Coalesce(Least(F("first_order_at"), Value(first)), Value(first)),
            "last_order_at": Coalesce(Greatest(F("last_order_at"), Value(last)), Value(last)),
        }
        if store:
            changes["preferred_store"] = Case(
                When(preferred_store="", then=Value(store)), default=F("preferred_store")
            )
        CustomerTraits.objects.filter(pk=pk).update(**changes)


def _order_figures(events) -> tuple:
    """(orders, revenue, first, last, store) of a customer's new order events."""
    total = sum(
        (_decimal((e.properties or {}).get("total")) or Decimal("0") for e in events),
        Decimal("0"),
    )
    store = next(
        (str(e.properties["store"])[:20] for e in events if (e.properties or {}).get("store")),
        "",
    )
    return (
        len(events),
        total,
        min(e.occurred_at for e in events),
        max(e.occurred_at for e in events),
        store,
    )


# Every customer of the batch in one statement, rows in customer order (no deadlock between
# batches): last seen for all; for those with new orders, the counters added in place (no
# read-modify-write, so concurrent orders add up), the average recomputed from the new sums.
# PostgreSQL's LEAST/GREATEST skip NULLs, so a first order sets first/last order times.
_INCREMENTS_TEMPLATE = """
INSERT INTO customers_customertraits AS t
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
_INCREMENTS_SQL = _INCREMENTS_TEMPLATE.format(
    source="unnest(%s::bigint[], %s::timestamptz[], %s::int[], %s::numeric[], "
    "%s::timestamptz[], %s::timestamptz[], %s::text[])"
)
# One customer (an event recorded on its own): plain parameters, no arrays to build and dump.
_ONE_INCREMENT_SQL = _INCREMENTS_TEMPLATE.format(
    source="(VALUES (%s::bigint, %s::timestamptz, %s::int, %s::numeric, %s::timestamptz, "
    "%s::timestamptz, %s::text))"
)


def _increments_params(ids, last_seen, figures) -> list:
    none = (0, Decimal("0"), None, None, "")
    rows = [figures.get(pk, none) for pk in ids]
    return [
        ids,
        [last_seen[pk] for pk in ids],
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
    ]


def _apply_increments_postgresql(ids, last_seen, figures) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_INCREMENTS_SQL, _increments_params(ids, last_seen, figures))


@cache
def _with_event_sql(insert: str) -> str:
    return f"WITH e AS ({insert})\n{_ONE_INCREMENT_SQL} RETURNING (SELECT id FROM e)"


def record_with_increments(event: Event) -> Event:
    """Insert one new event and apply its increments in one statement (PostgreSQL): what
    ``fast_sql.insert([event])`` then ``apply_event_increments([event])`` do."""
    insert, params = fast_sql.insert_statement([event])
    figures = {}
    if event.type == EventType.ORDER_PLACED:
        figures[event.customer_id] = _order_figures([event])
    params += [
        row[0]
        for row in _increments_params(
            [event.customer_id], {event.customer_id: event.occurred_at}, figures
        )
    ]
    with connection.cursor() as cursor:
        cursor.execute(_with_event_sql(insert), params)
        (pk,) = cursor.fetchone()
    fast_sql.saved([event], [pk])
    return event
