"""Inventory's hand-written SQL, each function beside its ORM reference twin.

Every raw statement of the inventory app lives here (and nowhere else): one public function per
use case, typed in and out, whose docstring names the BENCHMARKS.md figure that pays for it.
``omni.sql.enabled()`` (setting ``OMNI_FAST_SQL``) picks the SQL path; off, the ORM twin gives
the same answer. The suite runs the hot-path tests both ways (fixture ``sql_path``).
"""

from collections.abc import Mapping
from datetime import datetime
from functools import cache

from django.db import transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Now

from inventory import locks
from inventory.models import (
    SELLS_ONLINE_SQL,
    Category,
    Location,
    Product,
    Reservation,
    ReservationStatus,
    StockLevel,
    Variant,
    sellable_sql,
)
from omni import sql as fast_sql


def variants_for_checkout(variant_ids: list[int]) -> dict[int, Variant]:
    """Variants by id, each with its product and the product's category loaded (what pricing
    and allocation read at checkout). Unknown ids are left out.

    Fast path: one prepared statement, rows loaded without ``Model.__init__`` — part of the
    checkout's budget (BENCHMARKS.md › Orders › checkout service ≥ 300/s, measured 439/s).
    """
    if not variant_ids:
        return {}
    if not fast_sql.enabled():
        return _variants_for_checkout_orm(variant_ids)
    rows = fast_sql.cursor().execute(_variants_sql(), [list(variant_ids)], prepare=True)
    found = {}
    for row in rows.fetchall():
        variant, i = fast_sql.from_row(Variant, row)
        product, i = fast_sql.from_row(Product, row, i)
        category = fast_sql.from_row(Category, row, i)[0]
        Variant.product.field.set_cached_value(variant, product)
        Product.category.field.set_cached_value(product, category)
        found[variant.pk] = variant
    return found


def _variants_for_checkout_orm(variant_ids: list[int]) -> dict[int, Variant]:
    variants = Variant.objects.filter(pk__in=variant_ids).select_related("product__category")
    return {v.pk: v for v in variants.order_by("pk")}


@cache
def _variants_sql() -> str:
    v, p, c = Variant._meta, Product._meta, Category._meta
    product_fk = v.get_field("product").column
    category_fk = p.get_field("category").column
    return (
        f"SELECT {fast_sql.select_list(Variant, 'v')}, {fast_sql.select_list(Product, 'p')}, "
        f"{fast_sql.select_list(Category, 'c')} "
        f'FROM "{v.db_table}" AS v JOIN "{p.db_table}" AS p ON p.id = v."{product_fk}" '
        f'JOIN "{c.db_table}" AS c ON c.id = p."{category_fk}" '
        "WHERE v.id = ANY(%s) ORDER BY v.id"
    )


# --- Holding stock ------------------------------------------------------------------------------
# A hold is the guarded UPDATE of its stock row ("sellable" ≥ the units, the rule of
# ``inventory.models.sellable_sql``) and the INSERT of its Reservation, at a location that may
# sell on that channel. ``counter`` says the channel (stored on the hold as ``channel``) is the
# shop counter: it may take the safety stock, at any active location; a remote channel only at
# locations that sell online. Lines are always locked in (location_id, variant_id) order.
# ``lines`` map (location_id, variant_id) → units (≥ 1).


def reserve_one(
    *,
    location_id: int,
    variant_id: int,
    quantity: int,
    owner: str,
    channel: str,
    expires_at: datetime | None,
    counter: bool,
) -> Reservation | None:
    """Hold ``quantity`` units of one stock row; the new active Reservation, or None (nothing
    written) if the units are not there or the location may not sell on this channel. The
    caller's general path then releases overdue holds, retries and explains.

    Fast path: one prepared statement (the guarded UPDATE and the INSERT of the hold together,
    atomic on its own, the row locked for one statement) — BENCHMARKS.md › Refactoring, first
    steps (issue 12) › reserve() hot variant 0.58 and random variants 0.57 of pgbench (target
    ≥ 0.5).
    """
    if not fast_sql.enabled():
        return _reserve_one_orm(
            location_id, variant_id, quantity, owner, channel, expires_at, counter
        )
    params = {
        "loc": location_id,
        "var": variant_id,
        "q": quantity,
        "status": ReservationStatus.ACTIVE.value,
        "owner": owner,
        "channel": channel,
        "expires": expires_at,
    }
    row = fast_sql.cursor().execute(_reserve_one_sql(counter), params, prepare=True).fetchone()
    if row is None:
        return None
    return _new_hold(row[0], location_id, variant_id, quantity, row[1], owner, channel, expires_at)


def _reserve_one_orm(
    location_id, variant_id, quantity, owner, channel, expires_at, counter
) -> Reservation | None:
    with transaction.atomic():
        held = (
            StockLevel.objects.filter(
                location_id=location_id,
                variant_id=variant_id,
                location__in=_locations_that_may_sell(counter),
            )
            .sellable_at_least(quantity, counter=counter)
            .update(reserved=F("reserved") + quantity, updated_at=Now())
        )
        if not held:
            return None
        return Reservation.objects.create(
            variant_id=variant_id,
            location_id=location_id,
            quantity=quantity,
            status=ReservationStatus.ACTIVE,
            owner=owner,
            channel=channel,
            expires_at=expires_at,
        )


def reserve_batch(
    *,
    lines: Mapping[tuple[int, int], int],
    owner: str,
    channel: str,
    expires_at: datetime | None,
    counter: bool,
) -> list[Reservation] | None:
    """Hold every line or none: the new active Reservations in (location, variant) order, or
    None (nothing written, the rows found stay locked until the caller's transaction ends) if a
    line is short, has no stock row or is at a location that may not sell on this channel.

    Fast path: one prepared statement (a ``VALUES`` row per line, so PostgreSQL keeps the
    generic plan: BENCHMARKS.md › Inventory (issue 3), last paragraph), the holds of every
    checkout — BENCHMARKS.md › Refactoring, first steps (issue 12) › ``place_order`` 439–458/s
    (target ≥ 300/s); the one-line figures as for ``reserve_one``.
    """
    if not fast_sql.enabled():
        return _reserve_batch_orm(lines, owner, channel, expires_at, counter)
    ordered = sorted(lines.items())
    params = {
        "n": len(ordered),
        "status": ReservationStatus.ACTIVE.value,
        "owner": owner,
        "channel": channel,
        "expires": expires_at,
    }
    for i, ((location_id, variant_id), quantity) in enumerate(ordered):
        params.update({f"l{i}": location_id, f"v{i}": variant_id, f"q{i}": quantity})
    sql = _reserve_batch_sql(len(ordered), counter)
    rows = fast_sql.cursor().execute(sql, params, prepare=True).fetchall()
    if len(rows) != len(ordered):
        return None
    return [_new_hold(*row, owner, channel, expires_at) for row in rows]


def _reserve_batch_orm(lines, owner, channel, expires_at, counter) -> list[Reservation] | None:
    ordered = sorted(lines.items())
    with transaction.atomic():
        levels = locks.stock_levels_for_update(lines, at=_locations_that_may_sell(counter))
        enough = [
            pair
            for pair, quantity in ordered
            if pair in levels and levels[pair].sellable_units(counter=counter) >= quantity
        ]
        if len(enough) != len(ordered):
            return None
        for pair, quantity in ordered:
            StockLevel.objects.filter(pk=levels[pair].pk).update(
                reserved=F("reserved") + quantity, updated_at=Now()
            )
        return Reservation.objects.bulk_create(
            [
                Reservation(
                    variant_id=variant_id,
                    location_id=location_id,
                    quantity=quantity,
                    status=ReservationStatus.ACTIVE,
                    owner=owner,
                    channel=channel,
                    expires_at=expires_at,
                )
                for (location_id, variant_id), quantity in ordered
            ]
        )


def _locations_that_may_sell(counter: bool) -> QuerySet[Location]:
    """Where a channel may hold stock (ORM): online, the locations selling online; the counter,
    the active ones. ``_location_may_sell_sql`` is the same condition in SQL."""
    return Location.objects.filter(active=True) if counter else Location.objects.selling_online()


def _location_may_sell_sql(alias: str, counter: bool) -> str:
    if counter:
        return f'{alias}."{Location._meta.get_field("active").column}"'
    return SELLS_ONLINE_SQL.format(alias=alias)


class _Columns:
    """``{s.reserved}`` in a statement template: the quoted column of a model's field."""

    def __init__(self, model):
        self.model = model

    def __getattr__(self, name: str) -> str:
        return f'"{self.model._meta.get_field(name).column}"'


def _template_names(counter: bool) -> dict:
    return {
        "S": f'"{StockLevel._meta.db_table}"',
        "L": f'"{Location._meta.db_table}"',
        "R": f'"{Reservation._meta.db_table}"',
        "s": _Columns(StockLevel),
        "l": _Columns(Location),
        "r": _Columns(Reservation),
        "sellable": sellable_sql("s", counter=counter),
        "location_may_sell": _location_may_sell_sql("l", counter),
    }


_RESERVE_ONE = """
WITH held AS (
    UPDATE {S} AS s
       SET {s.reserved} = s.{s.reserved} + %(q)s::int, {s.updated_at} = statement_timestamp()
      FROM {L} AS l
     WHERE s.{s.location} = %(loc)s::bigint AND s.{s.variant} = %(var)s::bigint
       AND l.{l.id} = s.{s.location} AND ({location_may_sell})
       AND {sellable} >= %(q)s::int
 RETURNING s.{s.id}
)
INSERT INTO {R}
       ({r.variant}, {r.location}, {r.quantity}, {r.status}, {r.owner}, {r.channel},
        {r.expires_at}, {r.created_at})
SELECT %(var)s::bigint, %(loc)s::bigint, %(q)s::int, %(status)s::text, %(owner)s::text,
       %(channel)s::text, %(expires)s::timestamptz, statement_timestamp()
  FROM held
RETURNING {r.id}, {r.created_at}
"""


@cache
def _reserve_one_sql(counter: bool) -> str:
    """One line, one statement (server-side prepared: parsed and planned once per connection)."""
    return _RESERVE_ONE.format(**_template_names(counter))


# Lock the stock rows in (location, variant) order (the ORDER BY sits below the row locks), hold
# every line only if every line has the units, insert the holds.
_RESERVE_BATCH = """
WITH wanted (loc, var, q) AS (
    VALUES {rows}
), locked AS (
    SELECT s.{s.id} AS id, w.q, {sellable} >= w.q AS enough
      FROM {S} AS s
      JOIN wanted AS w ON s.{s.location} = w.loc AND s.{s.variant} = w.var
      JOIN {L} AS l ON l.{l.id} = s.{s.location}
     WHERE {location_may_sell}
     ORDER BY s.{s.location}, s.{s.variant}
       FOR UPDATE OF s
), verdict AS (
    SELECT count(*) FILTER (WHERE enough) = %(n)s::int AS ok FROM locked
), held AS (
    UPDATE {S} AS s
       SET {s.reserved} = s.{s.reserved} + locked.q, {s.updated_at} = statement_timestamp()
      FROM locked, verdict
     WHERE s.{s.id} = locked.id AND verdict.ok
 RETURNING s.{s.location} AS loc, s.{s.variant} AS var, locked.q
)
INSERT INTO {R}
       ({r.variant}, {r.location}, {r.quantity}, {r.status}, {r.owner}, {r.channel},
        {r.expires_at}, {r.created_at})
SELECT held.var, held.loc, held.q, %(status)s::text, %(owner)s::text, %(channel)s::text,
       %(expires)s::timestamptz, statement_timestamp()
  FROM held
 ORDER BY held.loc, held.var
RETURNING {r.id}, {r.location}, {r.variant}, {r.quantity}, {r.created_at}
"""


@cache
def _reserve_batch_sql(n: int, counter: bool) -> str:
    """The statement for n lines. A VALUES row per line, not unnest() of arrays: the planner
    then estimates a prepared statement's generic plan as well as a custom one and keeps it,
    instead of planning again on every call."""
    rows = ", ".join(f"(%(l{i})s::bigint, %(v{i})s::bigint, %(q{i})s::int)" for i in range(n))
    return _RESERVE_BATCH.format(rows=rows, **_template_names(counter))


def _new_hold(pk, location_id, variant_id, quantity, created_at, owner, channel, expires_at):
    """The active Reservation a fast path just inserted (row: id, location, variant, units, time)."""
    return fast_sql.loaded(
        Reservation,
        {
            "id": pk,
            "variant_id": variant_id,
            "location_id": location_id,
            "quantity": quantity,
            "status": ReservationStatus.ACTIVE,
            "owner": owner,
            "channel": channel,
            "expires_at": expires_at,
            "created_at": created_at,
            "closed_at": None,
        },
    )


# --- Reading a location -------------------------------------------------------------------------


def location_by_code(code: str) -> Location | None:
    """The location with this code (active or not), or None.

    Fast path: one prepared statement, rows loaded without ``Model.__init__``; the checkout API
    reads it on every call — BENCHMARKS.md › Refactoring, first steps (issue 12) › API checkout
    114.5–161.7/s (target ≥ 100/s).
    """
    if not fast_sql.enabled():
        return Location.objects.filter(code=code).first()
    return fast_sql.get(Location, code, field="code")
