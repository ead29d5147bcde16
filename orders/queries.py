"""Orders' hand-written SQL, each function beside its ORM reference twin.

Every raw statement of the orders app and every use of ``omni.sql`` live here (and nowhere
else): one public function per use case, typed in and out, whose docstring names the
BENCHMARKS.md figure that pays for it. ``omni.sql.enabled()`` (setting ``OMNI_FAST_SQL``) picks
the SQL path; off, the ORM twin right below it gives the same answer, takes the same locks and
writes the same rows. The suite runs the hot-path tests both ways (fixture ``sql_path``) and
``tests/orders/test_queries.py`` runs each family through both twins and compares.

The SQL names orders' tables only (from ``_meta``); another app's data comes through that app's
selectors and queries (the customer row the checkout locks first, in the global lock order:
``customers.queries.customer_lock_statement``; the variants:
``inventory.queries.variants_for_checkout``).
"""

from dataclasses import dataclass
from functools import cache

from django.db import connection
from django.utils import timezone

from customers import locks as customer_locks
from customers import queries as customer_queries
from customers.models import Customer
from omni import sql as fast_sql
from orders.models import Cart, CartLine, Order, OrderEvent, OrderLine

# --- Carts by key (read on every storefront cart call) ---------------------------------------


def cart_by_token(token: str) -> Cart | None:
    """The cart with this token (any status), or None.

    Fast path: one prepared statement, the row loaded without ``Model.__init__`` — read on
    every storefront cart call (BENCHMARKS.md › Orders › API checkout ≥ 100/s, and the
    "+ the cart by its token in one statement" run of issue 5).
    """
    if fast_sql.enabled():
        return fast_sql.get(Cart, token, field="token")
    return Cart.objects.filter(token=token).first()


def cart_by_pk(pk: int) -> Cart | None:
    """The cart with this primary key (any status), or None (BENCHMARKS.md › Orders ›
    API checkout ≥ 100/s: one prepared statement)."""
    if fast_sql.enabled():
        return fast_sql.get(Cart, pk)
    return Cart.objects.filter(pk=pk).first()


def cart_for_update(pk: int) -> Cart | None:
    """One cart row, locked ``FOR UPDATE`` (every cart change; BENCHMARKS.md › Orders ›
    service sequence and API sequence: one prepared statement)."""
    if fast_sql.enabled():
        return fast_sql.get(Cart, pk, lock="update")
    return Cart.objects.select_for_update().filter(pk=pk).first()


# --- Cart lines --------------------------------------------------------------------------------


def upsert_cart_line(cart_id: int, variant_id: int, quantity: int, *, add: bool) -> int:
    """Write a cart line (``add``: the units add to the line's; else they replace them) and
    return the line's quantity now. The caller holds the cart row's lock.

    Fast path: one ``INSERT … ON CONFLICT`` instead of a read and a write (BENCHMARKS.md ›
    Orders › service sequence and API sequence: 3 × add_to_cart per checkout).
    """
    if fast_sql.enabled():
        with connection.cursor() as cursor:
            cursor.execute(_upsert_line_sql(), [cart_id, variant_id, quantity, timezone.now(), add])
            return cursor.fetchone()[0]
    line = CartLine.objects.filter(cart_id=cart_id, variant_id=variant_id).first()
    if line is None:
        CartLine.objects.create(cart_id=cart_id, variant_id=variant_id, quantity=quantity)
        return quantity
    line.quantity = line.quantity + quantity if add else quantity
    line.save(update_fields=["quantity"])
    return line.quantity


@cache
def _upsert_line_sql() -> str:
    meta = CartLine._meta
    table, cart, variant = meta.db_table, _column(CartLine, "cart"), _column(CartLine, "variant")
    quantity, added = _column(CartLine, "quantity"), _column(CartLine, "added_at")
    return (
        f'INSERT INTO "{table}" ("{cart}", "{variant}", "{quantity}", "{added}") '
        "VALUES (%s, %s, %s, %s) "
        f'ON CONFLICT ("{cart}", "{variant}") DO UPDATE '
        f'SET "{quantity}" = CASE WHEN %s THEN "{table}"."{quantity}" + EXCLUDED."{quantity}" '
        f'ELSE EXCLUDED."{quantity}" END '
        f'RETURNING "{quantity}"'
    )


def touch_cart(cart: Cart) -> None:
    """Stamp the cart's ``updated_at`` (``save(update_fields=["updated_at"])``, no signals on
    the fast path: one prepared statement; BENCHMARKS.md › Orders › service sequence)."""
    if fast_sql.enabled():
        fast_sql.update(cart, ("updated_at",))
    else:
        cart.save(update_fields=["updated_at"])


# --- Checkout: lock, read, persist -------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutRows:
    """What the checkout reads under its locks. All None/empty when the cart does not exist."""

    customer: Customer | None
    cart: Cart | None
    order_id: int | None  # the order this idempotency key already placed
    lines: tuple[tuple[int, int], ...]  # (variant_id, quantity), in variant order


_NOTHING = CheckoutRows(None, None, None, ())


def lock_for_checkout(customer_id: int, cart_id: int, key: str) -> CheckoutRows:
    """Lock the customer row (``FOR NO KEY UPDATE``), then the cart (``FOR UPDATE``) — the
    order a profile merge takes them in — then read the order this key already placed and the
    cart's lines as the lock left them.

    Fast path: three statements in one round trip (psycopg's pipeline mode, with the
    transaction's BEGIN when it is the first): customers' lock statement, the cart's lock, the
    reads; the server runs them in that order, the reads with a snapshot taken after the locks. They run on psycopg's own cursors, so Django's query
    log and execute wrappers do not see them (BENCHMARKS.md › Refactoring, first steps ›
    ``place_order`` ≥ 300/s, measured 439/s).
    """
    if not fast_sql.enabled():
        return _lock_for_checkout_orm(customer_id, cart_id, key)
    connection.ensure_connection()
    pg = connection.connection
    with connection.wrap_database_errors:
        with pg.pipeline():
            person = pg.cursor().execute(customer_queries.customer_lock_statement(), [customer_id])
            lock = pg.cursor().execute(_cart_lock_sql(), [cart_id])
            read = pg.cursor().execute(_checkout_reads_sql(), [customer_id, key or None, cart_id])
        customer_row, cart_row, rows = person.fetchone(), lock.fetchone(), read.fetchall()
    if customer_row is None or cart_row is None:
        return _NOTHING
    customer = customer_queries.customer_from_row(customer_row)
    cart = fast_sql.from_row(Cart, cart_row)[0]
    lines = tuple((variant_id, quantity) for _found, variant_id, quantity in rows if variant_id)
    return CheckoutRows(customer, cart, rows[0][0], lines)


def _lock_for_checkout_orm(customer_id: int, cart_id: int, key: str) -> CheckoutRows:
    customer = customer_locks.customer_for_no_key_update(customer_id)
    if customer is None:
        return _NOTHING
    cart = Cart.objects.select_for_update().filter(pk=cart_id).first()
    if cart is None:
        return _NOTHING
    lines = CartLine.objects.filter(cart_id=cart_id).order_by("variant_id")
    return CheckoutRows(
        customer,
        cart,
        _order_for_key_orm(customer_id, key),
        tuple(lines.values_list("variant_id", "quantity")),
    )


@cache
def _cart_lock_sql() -> str:
    t = Cart._meta
    return (
        f'SELECT {fast_sql.select_list(Cart, "t")} FROM "{t.db_table}" AS t '
        f'WHERE t."{t.pk.column}" = %s FOR UPDATE'
    )


@cache
def _checkout_reads_sql() -> str:
    # One row per cart line, or one row of NULLs for an empty cart (the LEFT JOIN), each with
    # the key's order id (NULL key: none). Orders' own tables only: the variants come from
    # inventory.queries.
    cart, variant = _column(CartLine, "cart"), _column(CartLine, "variant")
    return (
        f'SELECT ({_existing_sql()}), l."{variant}", l."{_column(CartLine, "quantity")}" '
        f'FROM (SELECT 1) AS one LEFT JOIN "{CartLine._meta.db_table}" AS l '
        f'ON l."{cart}" = %s ORDER BY l."{variant}"'
    )


def order_for_key(customer_id: int, key: str) -> int | None:
    """The id of the order this customer's idempotency key placed, or None (no key: None).

    Fast path: a prepared statement whose generic plan uses the partial unique index (read when
    a racing checkout with the same key lost; BENCHMARKS.md › Refactoring, first steps ›
    ``place_order`` ≥ 300/s, measured 439/s).
    """
    if not key:
        return None
    if not fast_sql.enabled():
        return _order_for_key_orm(customer_id, key)
    with connection.cursor() as cursor:
        cursor.execute(_existing_sql(), [customer_id, key])
        row = cursor.fetchone()
    return None if row is None else row[0]


def _order_for_key_orm(customer_id: int, key: str) -> int | None:
    if not key:
        return None
    found = Order.objects.filter(customer_id=customer_id, idempotency_key=key)
    return found.exclude(idempotency_key="").values_list("pk", flat=True).first()


@cache
def _existing_sql() -> str:
    # The partial unique index's own condition spelled out (its '' is "no key", not a status
    # value), so that a prepared statement's generic plan can use that index too (else
    # PostgreSQL plans the statement again on every call).
    meta, key = Order._meta, _column(Order, "idempotency_key")
    return (
        f'SELECT "{meta.pk.column}" FROM "{meta.db_table}" '
        f'WHERE "{_column(Order, "customer")}" = %s AND "{key}" = %s AND NOT ("{key}" = \'\')'
    )


def persist_order(
    order: Order, lines: list[OrderLine], history: list[OrderEvent], cart: Cart | None
) -> Order:
    """Insert the order, its lines and its history and save the cart it closes (its
    ``status``, set by the caller, and ``updated_at``); the instances come back saved.

    Fast path: one statement (data-modifying CTEs, ``omni.sql.insert_tree``) instead of four
    (BENCHMARKS.md › Orders › "order, lines, history and cart in one statement"; Refactoring,
    first steps › ``place_order`` ≥ 300/s, measured 439/s). Neither path sends ``post_save``
    for the lines and the history (``bulk_create``).
    """
    if fast_sql.enabled():
        updates = [(cart, ("status", "updated_at"))] if cart is not None else []
        return fast_sql.insert_tree(order, [lines, history], updates=updates)
    Order.objects.bulk_create([order])
    OrderLine.objects.bulk_create(lines)
    OrderEvent.objects.bulk_create(history)
    if cart is not None:
        cart.save(update_fields=["status", "updated_at"])
    return order


def _column(model, name: str) -> str:
    return model._meta.get_field(name).column
