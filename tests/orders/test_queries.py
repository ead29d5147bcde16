"""orders.queries: each fast function against its ORM reference twin (same answers, same rows,
same locks), and what only the fast path has (prepared plans, the pipelined round trip)."""

from decimal import Decimal

import pytest
from django.db import ProgrammingError, connection
from django.forms.models import model_to_dict

from customers import services as customer_services
from inventory import services as stock
from inventory.models import Reservation, StockMovement
from orders import queries, services
from orders.models import Cart, CartLine, CartStatus, Order, OrderEvent, OrderLine, OrderStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def fast(settings):
    settings.OMNI_FAST_SQL = True


def _cart(*lines, email="shopper@example.com", channel="web"):
    shopper = customer_services.identify(identifiers=[("email", email)], source="web")
    cart = services.open_cart(customer=shopper, channel=channel)
    for variant, quantity in lines:
        services.add_to_cart(cart=cart, variant=variant, quantity=quantity, channel=channel)
    return cart


def _nothing_written():
    return (Order.objects.count(), Reservation.objects.count(), StockMovement.objects.count())


def _both(settings, call):
    """``call()`` on the fast path, then on the ORM twin: (fast, orm)."""
    settings.OMNI_FAST_SQL = True
    fast = call()
    settings.OMNI_FAST_SQL = False
    return fast, call()


def _row(obj, *skip):
    return {k: v for k, v in model_to_dict(obj).items() if k not in skip}


# --- Carts by key --------------------------------------------------------------------------------


def test_cart_reads_twins_agree(shop, settings):
    cart = _cart((shop.shirt, 1))
    for read, key, missing in (
        (queries.cart_by_token, cart.token, "no-such-token"),
        (queries.cart_by_pk, cart.pk, 10**9),
        (queries.cart_for_update, cart.pk, 10**9),
    ):
        fast, orm = _both(settings, lambda read=read, key=key: read(key))
        assert (fast.pk, _row(fast), fast.updated_at) == (orm.pk, _row(orm), orm.updated_at)
        assert _both(settings, lambda read=read, key=missing: read(key)) == (None, None)


# --- Cart lines ----------------------------------------------------------------------------------


def test_upsert_cart_line_twins_agree(shop, settings):
    results = []
    for fast_path in (True, False):
        settings.OMNI_FAST_SQL = fast_path
        cart = _cart(email=f"upsert-{fast_path}@example.com")
        results.append(
            [
                queries.upsert_cart_line(cart.pk, shop.shirt.pk, 2, add=True),  # new line
                queries.upsert_cart_line(cart.pk, shop.shirt.pk, 3, add=True),  # adds up
                queries.upsert_cart_line(cart.pk, shop.shirt.pk, 4, add=False),  # replaces
                queries.upsert_cart_line(cart.pk, shop.jeans.pk, 1, add=False),  # new line
                sorted(CartLine.objects.filter(cart=cart).values_list("variant_id", "quantity")),
                CartLine.objects.filter(cart=cart, added_at__isnull=True).count(),
            ]
        )
    assert (
        results[0]
        == results[1]
        == [
            2,
            5,
            4,
            1,
            sorted([(shop.shirt.pk, 4), (shop.jeans.pk, 1)]),
            0,
        ]
    )


def test_touch_cart_twins_agree(shop, settings):
    cart = _cart()
    before = Cart.objects.get(pk=cart.pk).updated_at
    stamps = []
    for fast_path in (True, False):
        settings.OMNI_FAST_SQL = fast_path
        queries.touch_cart(cart)
        stamps.append(Cart.objects.get(pk=cart.pk).updated_at)
        assert stamps[-1] == cart.updated_at  # the instance has the stamp it wrote
    assert before < stamps[0] < stamps[1]


# --- Checkout ------------------------------------------------------------------------------------


def test_lock_for_checkout_twins_agree(shop, settings):
    cart = _cart((shop.jeans, 1), (shop.shirt, 2))
    order = services.place_order(
        cart=_cart((shop.shirt, 1), email="other@example.com"),
        fulfilment="pickup",
        location=shop.madrid,
        idempotency_key="k-1",
    )

    def read(customer_id, cart_id, key):
        rows = queries.lock_for_checkout(customer_id, cart_id, key)
        return (
            rows.customer and (rows.customer.pk, _row(rows.customer)),
            rows.cart and (rows.cart.pk, _row(rows.cart)),
            rows.order_id,
            rows.lines,
        )

    fast, orm = _both(settings, lambda: read(cart.customer_id, cart.pk, "k-1"))
    assert fast == orm
    assert fast[1][0] == cart.pk and fast[2] is None  # the key is another customer's
    assert fast[3] == tuple(sorted([(shop.jeans.pk, 1), (shop.shirt.pk, 2)]))
    mine = _both(settings, lambda: read(order.customer_id, order.cart_id, "k-1"))
    assert mine[0] == mine[1] and mine[0][2] == order.pk  # the key placed this order
    assert mine[0][1][1]["status"] == CartStatus.CHECKED_OUT and mine[0][3] == ((shop.shirt.pk, 1),)
    empty = _cart(email="empty@example.com")
    assert _both(settings, lambda: read(empty.customer_id, empty.pk, ""))[0][3] == ()
    nothing = _both(settings, lambda: queries.lock_for_checkout(cart.customer_id, 10**9, ""))
    assert nothing == (queries.CheckoutRows(None, None, None, ()),) * 2


def test_order_for_key_twins_agree(shop, settings):
    order = services.place_order(
        cart=_cart((shop.shirt, 1)), fulfilment="pickup", location=shop.madrid, idempotency_key="k"
    )
    for customer_id, key, expected in (
        (order.customer_id, "k", order.pk),
        (order.customer_id, "other", None),
        (order.customer_id + 1, "k", None),
        (order.customer_id, "", None),
    ):
        assert _both(settings, lambda c=customer_id, k=key: queries.order_for_key(c, k)) == (
            expected,
            expected,
        )


def test_persist_order_twins_write_the_same_rows(shop, settings):
    template = services.place_order(
        cart=_cart((shop.shirt, 7)), fulfilment="pickup", location=shop.madrid
    )  # five from the shelf, two by transfer: two lines, two history rows
    written = []
    for fast_path in (True, False):
        settings.OMNI_FAST_SQL = fast_path
        cart = _cart((shop.jeans, 1), email=f"persist-{fast_path}@example.com")
        cart.status = CartStatus.CHECKED_OUT
        order = Order(
            **_row(
                template, "id", "number", "cart", "customer", "location", "coupon", "created_by"
            ),
            customer_id=cart.customer_id,
            cart=cart,
            location=shop.madrid,
        )
        lines = [
            OrderLine(
                **_row(line, "id", "order", "variant", "location", "transfer"),
                order=order,
                variant_id=line.variant_id,
                location_id=line.location_id,
                transfer_id=line.transfer_id,
            )
            for line in template.lines.order_by("pk")
        ]
        events = [
            OrderEvent(order=order, status=e.status, note=e.note)
            for e in template.history.order_by("pk")
        ]
        saved = queries.persist_order(order, lines, events, cart)
        assert saved is order and order.pk and all(line.pk for line in lines + events)
        assert [line.order_id for line in lines] == [order.pk] * len(lines)
        stored = Order.objects.get(pk=order.pk)
        written.append(
            (
                _row(stored, "id", "number", "cart", "customer"),
                [_row(line, "id", "order") for line in stored.lines.order_by("pk")],
                [(e.status, e.note, e.at is not None) for e in stored.history.order_by("pk")],
                [line.pk for line in lines] == sorted(line.pk for line in lines),
                Cart.objects.get(pk=cart.pk).status,
            )
        )
    assert written[0] == written[1]
    assert written[0][4] == CartStatus.CHECKED_OUT and len(written[0][1]) == 2


def test_place_order_writes_the_same_both_ways(shop, settings):
    """The checkout end to end on each path: the same order, lines, history and cart."""
    placed = []
    for fast_path in (True, False):
        settings.OMNI_FAST_SQL = fast_path
        cart = _cart((shop.shirt, 6), (shop.jeans, 1), email=f"both-{fast_path}@example.com")
        order = services.place_order(
            cart=cart, fulfilment="pickup", location=shop.madrid, idempotency_key="same"
        )
        again = services.place_order(
            cart=cart, fulfilment="pickup", location=shop.madrid, idempotency_key="same"
        )
        assert again.pk == order.pk
        placed.append(
            (
                _row(
                    Order.objects.get(pk=order.pk),
                    "id",
                    "number",
                    "cart",
                    "customer",
                    "payment_reference",  # names the order's number
                ),
                sorted(
                    order.lines.values_list("variant_id", "quantity", "state", "total", "location")
                ),
                list(order.history.order_by("pk").values_list("status", flat=True)),
                Cart.objects.get(pk=cart.pk).status,
            )
        )
        stock.receive_stock(variant=shop.shirt, location=shop.madrid, quantity=5)
    assert placed[0] == placed[1]
    assert placed[0][0]["status"] == OrderStatus.AWAITING_TRANSFER
    assert placed[0][0]["total"] == Decimal("19.99") * 6 + Decimal("49.90")


# --- What only the fast path has -----------------------------------------------------------------


def test_the_checkout_statements_keep_their_prepared_generic_plans(shop, fast):
    """PostgreSQL plans a prepared statement once and reuses that generic plan, unless custom
    plans look cheaper: then it plans again on every call (~1 ms for the checkout's reads). The
    idempotency look-up names the partial index's condition so the generic plan can use it."""

    stock.receive_stock(variant=shop.shirt, location=shop.madrid, quantity=20)
    carts = [_cart((shop.shirt, 1), email=f"plan{i}@example.com") for i in range(12)]
    for i, cart in enumerate(carts):  # psycopg prepares a statement on its 5th run
        services.place_order(
            cart=cart, fulfilment="pickup", location=shop.madrid, idempotency_key=f"key-{i}"
        )

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE NOT from_sql AND statement LIKE %s",
            ["%idempotency_key%"],
        )
        plans = cursor.fetchall()
    assert plans, "the checkout's reads are a prepared statement"
    for statement, generic, custom in plans:
        assert generic >= 2 and custom <= 5, (statement[:80], generic, custom)
    # Whatever the table's size: the generic plan can use the partial unique index.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(
            "PREPARE reads_plan AS "
            + queries._checkout_reads_sql()
            .replace("%s", "$1", 1)
            .replace("%s", "$2", 1)
            .replace("%s", "$3", 1)
        )
        cursor.execute("EXPLAIN EXECUTE reads_plan(1, 'k', 1)")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("DEALLOCATE reads_plan")
    assert "orders_order_idempotency_key" in plan, plan


def test_a_database_error_in_the_pipelined_reads_is_djangos_and_leaves_nothing(
    shop, monkeypatch, fast
):
    """The locks and reads go to PostgreSQL together (psycopg's pipeline mode): an error there
    comes out as Django's exception, the checkout writes nothing and the connection still works."""

    cart = _cart((shop.shirt, 1))
    before = _nothing_written()
    monkeypatch.setattr(queries, "_checkout_reads_sql", lambda: "SELECT no_such_column")

    with pytest.raises(ProgrammingError):
        services.place_order(cart=cart, fulfilment="pickup", location=shop.madrid)

    assert _nothing_written() == before
    monkeypatch.undo()
    order = services.place_order(cart=cart, fulfilment="pickup", location=shop.madrid)
    assert order.lines.get().quantity == 1
    assert not connection.connection._pipeline
