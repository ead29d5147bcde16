"""omni.sql: the prepared-statement helpers give the same rows and instances as the ORM."""

import json
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from django.utils import timezone

from customers.models import Customer, Event
from inventory.models import Category, Product, Variant
from omni import sql
from orders.models import Cart, CartStatus

pytestmark = pytest.mark.django_db


def _values(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_insert_writes_rows_like_the_orm_and_returns_them_saved():
    customer = Customer.objects.create()
    before = timezone.now()
    events = [
        Event(
            customer=customer,
            channel="web",
            type="page_viewed",
            properties={"path": "/ñ", "n": [1, 2]},
            occurred_at=before,
        ),
        Event(customer=customer, channel="store", type="order_placed", occurred_at=before),
    ]

    saved = sql.insert(events)

    assert saved is events
    assert [e.pk for e in events] == sorted(e.pk for e in events)
    for event in events:
        assert not event._state.adding
        assert event.received_at >= before  # auto_now_add stamped, as save() does
        assert _values(Event.objects.get(pk=event.pk)) == _values(event)
    assert sql.insert([]) == []


def test_get_reads_the_row_with_its_python_types_and_may_lock_it():
    customer = Customer.objects.create(first_name="Ana")
    cart = Cart.objects.create(customer=customer)

    for lock in ("", "update", "no_key"):
        got = sql.get(Cart, cart.pk, lock=lock)
        assert _values(got) == _values(Cart.objects.get(pk=cart.pk))
        assert got.created_at.tzinfo is not None
    assert sql.get(Cart, 0) is None
    assert _values(sql.get(Cart, cart.token, field="token")) == _values(cart)
    assert sql.get(Cart, "no-such-token", field="token") is None
    assert sql.get(Customer, customer.pk).first_name == "Ana"
    if connection.vendor == "postgresql":
        assert "FOR NO KEY UPDATE" in sql._get_sql(Customer, "no_key", "postgresql")


def test_update_saves_only_the_named_fields_and_stamps_auto_now():
    customer = Customer.objects.create()
    cart = Cart.objects.create(customer=customer)
    stale = Cart.objects.get(pk=cart.pk)
    Cart.objects.filter(pk=cart.pk).update(channel="app")  # another writer, another field

    stale.status = CartStatus.CHECKED_OUT
    stale.channel = "web"
    sql.update(stale, ("status", "updated_at"))

    fresh = Cart.objects.get(pk=cart.pk)
    assert (fresh.status, fresh.channel) == (CartStatus.CHECKED_OUT, "app")
    assert fresh.updated_at == stale.updated_at > cart.updated_at


def test_from_row_reads_several_models_from_one_joined_row():
    shoes = Category.objects.create(name="Shoes", slug="shoes")
    gifts = Category.objects.create(name="Gifts", slug="gifts")
    run = Product.objects.create(name="Run", slug="run", category=shoes)
    card = Product.objects.create(name="Gift card", slug="card", category=gifts)
    v1 = Variant.objects.create(product=run, sku="RUN-42", price=Decimal("59.90"))
    v2 = Variant.objects.create(product=card, sku="GIFT", price=Decimal("10"))
    query = (
        f"SELECT {sql.select_list(Variant, 'v')}, {sql.select_list(Category, 'c')} "
        "FROM inventory_variant v JOIN inventory_product p ON p.id = v.product_id "
        "JOIN inventory_category c ON c.id = p.category_id WHERE v.id IN (%s, %s) "
        "ORDER BY v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, [v1.pk, v2.pk])
        rows = cursor.fetchall()

    for row, variant, category in zip(rows, (v1, v2), (shoes, gifts), strict=True):
        got, i = sql.from_row(Variant, row)
        assert _values(got) == _values(Variant.objects.get(pk=variant.pk))
        assert model_to_dict(got) == model_to_dict(variant)
        assert _values(sql.from_row(Category, row, i)[0]) == _values(category)
    assert sql.from_row(Variant, rows[0])[0].price == Decimal("59.90")


def test_insert_tree_writes_a_row_its_children_and_updates_in_one_statement(
    django_assert_num_queries,
):
    from orders.models import Order, OrderEvent, OrderStatus

    customer = Customer.objects.create()
    cart = Cart.objects.create(customer=customer)
    money = {
        "subtotal": Decimal("10.00"),
        "discount_total": Decimal("0"),
        "shipping_total": Decimal("0"),
        "tax_total": Decimal("1.74"),
        "total": Decimal("10.00"),
    }
    order = Order(customer=customer, cart=cart, channel="web", fulfilment="ship", **money)
    order.shipping_address = {"city": "Cádiz"}
    history = [
        OrderEvent(order=order, status=OrderStatus.PLACED, note="one"),
        OrderEvent(order=order, status=OrderStatus.CANCELLED, note="two"),
    ]
    cart.status = CartStatus.CHECKED_OUT

    with django_assert_num_queries(1):
        sql.insert_tree(order, [history, []], updates=[(cart, ("status", "updated_at"))])

    stored = Order.objects.get()
    assert _values(stored) == _values(order)
    assert [(e.pk, e.order_id, e.note) for e in stored.history.order_by("pk")] == [
        (history[0].pk, order.pk, "one"),
        (history[1].pk, order.pk, "two"),
    ]
    assert all(not e._state.adding for e in history)
    fresh = Cart.objects.get(pk=cart.pk)
    assert (fresh.status, fresh.updated_at) == (CartStatus.CHECKED_OUT, cart.updated_at)


def test_get_all_reads_every_matching_row_in_key_order():
    from customers.models import Identity

    ana, bea = Customer.objects.create(), Customer.objects.create()
    Identity.objects.create(customer=ana, kind="email", value="ana@example.com")
    Identity.objects.create(customer=bea, kind="email", value="bea@example.com")
    Identity.objects.create(customer=ana, kind="anonymous", value="dev-1")

    rows = sql.get_all(Identity, "customer", ana.pk)

    assert [_values(i) for i in rows] == [
        _values(i) for i in Identity.objects.filter(customer=ana).order_by("pk")
    ]
    assert sql.get_all(Identity, "customer", 0) == []


def test_tree_rows_travel_as_json_that_postgresql_reads_back_exactly():
    """insert_tree sends each table's rows as one jsonb parameter: every value type a model
    writes survives the trip, and what JSON cannot hold is refused, not mangled."""
    import datetime
    import uuid

    from django.core.serializers.json import DjangoJSONEncoder
    from psycopg.types.json import Jsonb

    when = datetime.datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=datetime.UTC)
    values = {
        "money": Decimal("1234567.8900"),
        "when": when,
        "day": datetime.date(2026, 2, 28),
        "at": datetime.time(9, 5),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "doc": Jsonb({"n": [1, "ñ"], "quote": 'a"b'}),
        "encoded": Jsonb({"price": Decimal("9.90")}, dumps=lambda o: DjangoJSONEncoder().encode(o)),
        "none": None,
        "text": "O'Brien \\ \u00e9",
    }
    text = sql._dumps(values)
    assert json.loads(text)["encoded"] == {"price": "9.90"}

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (j->>'money')::numeric, (j->>'when')::timestamptz, (j->>'day')::date, "
            "(j->>'at')::time, (j->>'id')::uuid, j->'doc', j->'none', j->>'text' "
            "FROM (SELECT %s::jsonb AS j) AS x",
            [text],
        )
        row = cursor.fetchone()
    doc = row[5] if isinstance(row[5], dict) else json.loads(row[5])
    assert row[:5] == (
        Decimal("1234567.8900"),
        when,
        datetime.date(2026, 2, 28),
        datetime.time(9, 5),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
    )
    assert doc == {"n": [1, "ñ"], "quote": 'a"b'}
    assert row[6] in (None, "null")
    assert row[7] == "O'Brien \\ \u00e9"
    with pytest.raises(TypeError, match="set cannot be written as JSON"):
        sql._dumps({"bad": {1, 2}})


def test_timestamps_are_read_by_psycopgs_c_loader_with_djangos_time_zone():
    """Django reads timestamptz with a pure-Python loader; omni swaps in psycopg's C parser and
    gives back exactly what Django's loader would."""
    import datetime

    import psycopg
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader
    from psycopg.pq import Format

    connection.ensure_connection()
    oid = psycopg.adapters.types["timestamptz"].oid
    loader_class = connection.connection.adapters.get_loader(oid, Format.TEXT)
    assert loader_class.__name__ == "FastTzLoader"
    assert loader_class.timezone == connection.timezone == datetime.UTC

    texts = [
        "2026-03-29 01:59:59.999999+00",
        "2026-03-29 03:30:00+02",  # Madrid, the night the clocks go forward
        "2026-10-25 02:30:00.5+01",
        "1999-12-31 23:59:59-11:30",
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t::timestamptz, t::timestamptz::text FROM unnest(%s::text[]) AS t", [texts]
        )
        rows = cursor.fetchall()

    class DjangoLoader(BaseTzLoader):
        timezone = datetime.UTC

    django_loader = DjangoLoader(oid, connection.connection)
    for value, text in rows:
        assert value.tzinfo is datetime.UTC
        assert value == django_loader.load(text.encode())
    assert rows[0][0] == datetime.datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=datetime.UTC)
    assert rows[1][0] == datetime.datetime(2026, 3, 29, 1, 30, tzinfo=datetime.UTC)
    assert rows[2][0] == datetime.datetime(2026, 10, 25, 1, 30, 0, 500000, tzinfo=datetime.UTC)


def _general_json_row(obj, fields) -> dict:
    """What every value would be through the fields' own pre_save/get_db_prep_save."""
    values = sql._row_params(obj, fields, connection)
    return json.loads(sql._dumps(dict(zip([f.column for f in fields], values, strict=True))))


def test_json_rows_take_values_as_they_are_only_where_the_field_would_not_change_them():
    """_json_row skips get_db_prep_save for a value of exactly its field's type: every row of a
    checkout comes out as the general path writes it, and any other value (naive datetime, int
    in a DecimalField, lazy string, a foreign key's related object saved after assignment)
    still gets its field's own conversion, warning or error."""
    import datetime

    from django.utils.translation import gettext_lazy

    from orders.models import Order, OrderEvent, OrderLine

    customer = Customer.objects.create(first_name="Ana")
    order = Order(
        number="T-1",
        customer=customer,
        channel="web",
        fulfilment="pickup",
        shipping_address={"city": "Madrid", "n": [1, "ñ"]},
        subtotal=Decimal("10.00"),
        discount_total=Decimal("0"),
        shipping_total=Decimal("0.00"),
        tax_total=Decimal("1.74"),
        total=Decimal("10.00"),
        promised_on=datetime.date(2026, 12, 3),
    )
    line = OrderLine(
        order=order,
        sku="A-1",
        name="Tee",
        quantity=2,
        unit_price=Decimal("5.00"),
        discount=Decimal("0"),
        tax_rate=Decimal("21.00"),
        tax=Decimal("1.74"),
        total=Decimal("10.00"),
    )
    note = OrderEvent(order=order, status="placed", note=gettext_lazy("Sold at the counter."))
    event = Event(customer=customer, channel="web", type="order_placed", occurred_at=timezone.now())
    now = timezone.now()
    for obj in (order, line, note, event):
        fields = sql._columns(type(obj))
        with mock.patch("django.utils.timezone.now", return_value=now):  # auto_now stamps
            fast = json.loads(sql._dumps(sql._json_row(obj, sql._json_plan(type(obj)), connection)))
            assert fast == _general_json_row(obj, fields), type(obj).__name__
    assert note.at is not None  # auto_now_add stamped by the fast path too

    # Values not of the field's own type take the general path, with its result...
    order.subtotal = 10  # an int in a DecimalField
    order.number = gettext_lazy("Sold at the counter.")
    row = sql._json_row(order, sql._json_plan(Order), connection)
    assert (row["subtotal"], row["number"]) == (Decimal("10"), "Sold at the counter.")
    # ...its warning (a naive datetime)...
    order.closed_at = datetime.datetime(2026, 12, 1, 10, 0)
    with pytest.warns(RuntimeWarning, match="naive datetime"):
        row = sql._json_row(order, sql._json_plan(Order), connection)
    assert row["closed_at"].utcoffset() is not None
    # ...and its error (NaN is no amount).
    order.closed_at, order.total = None, Decimal("NaN")
    with pytest.raises(Exception, match=r"(?i)decimal|nan|valid"):
        sql._json_row(order, sql._json_plan(Order), connection)
    # A foreign key set by assigning an object saved only afterwards takes its new key.
    late = Customer()
    order.total, order.customer = Decimal("10.00"), late
    late.save()
    assert sql._json_row(order, sql._json_plan(Order), connection)["customer_id"] == late.pk


def test_in_bulk_reads_the_rows_like_the_orms_in_bulk():
    ana = Customer.objects.create(first_name="Ana")
    bea = Customer.objects.create(first_name="Bea", is_anonymous=True)
    missing = bea.pk + 1000

    got = sql.in_bulk(Customer, {ana.pk, bea.pk, missing})

    expected = Customer.objects.in_bulk([ana.pk, bea.pk])
    assert sorted(got) == sorted(expected) == sorted([ana.pk, bea.pk])
    for pk, customer in got.items():
        assert _values(customer) == _values(expected[pk])
        assert not customer._state.adding
    assert sql.in_bulk(Customer, []) == {}


def test_json_rows_skip_the_fields_conversion_for_values_of_its_own_type(monkeypatch):
    """The fast path is taken: a str in a CharField is written without calling the field's
    get_db_prep_save; a value of another type (a lazy string) still calls it."""
    from django.utils.translation import gettext_lazy

    from orders.models import OrderEvent

    field = OrderEvent._meta.get_field("note")
    general = type(field).get_db_prep_save
    calls = []

    def counted(self, value, connection):
        if self is field:
            calls.append(value)
        return general(self, value, connection)

    monkeypatch.setattr(type(field), "get_db_prep_save", counted)
    plan = sql._json_plan(OrderEvent)
    note = OrderEvent(status="placed", note="plain")
    assert sql._json_row(note, plan, connection)["note"] == "plain"
    assert calls == []
    note.note = gettext_lazy("Sold at the counter.")
    assert sql._json_row(note, plan, connection)["note"] == "Sold at the counter."
    assert len(calls) == 1
