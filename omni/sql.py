"""Hot-path SQL on PostgreSQL: prepared statements on Django's own connection.

For the few calls where the ORM's Python cost per query is the bottleneck (holding stock,
placing an order) — measured in bench/. Everything here runs inside whatever transaction
Django's connection is in, so ``transaction.atomic()`` and ``on_commit`` work as usual.

- ``cursor()``: a psycopg cursor binding parameters on the server; ``execute(..., prepare=True)``
  makes PostgreSQL parse and plan a statement once per connection.
- ``insert(objs)``: INSERT model instances of one model in one prepared statement; the SQL is
  built from the model's fields (so a new field needs no change here), ``pre_save`` runs as in
  ``save()`` (``auto_now``/``auto_now_add``), and the instances come back saved (pk set).
- ``insert_tree(parent, children, updates=…)``: a row, the rows pointing to it and a few
  updates in one statement (PostgreSQL data-modifying CTEs; each table's rows as one ``jsonb``
  parameter).
- ``get(model, pk, lock=…)``, ``get_all(model, field, value)``, ``in_bulk(model, pks)``,
  ``update(obj, fields)``,
  ``select_list``/``from_row``: the same for reading a row (optionally locked) or a set of rows,
  saving a few fields and reading joined rows.
- ``loaded(model, values)``: an instance as if loaded from the database, without
  ``Model.__init__``'s cost.
- ``use_fast_timestamps``: ``timestamptz`` values parsed by psycopg's C loader with Django's
  time zone (connected in ``omni.apps``).
"""

import datetime
import json
from decimal import Decimal
from functools import cache
from uuid import UUID

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models import Model
from django.db.models.base import ModelState
from psycopg.types.json import Json, Jsonb


def enabled() -> bool:
    """Whether the apps' queries modules take their hand-written SQL path (``OMNI_FAST_SQL``).

    Off, each runs its ORM reference twin: same answers, the price of the fast path visible
    in BENCHMARKS.md. Tests of the hot paths run both ways (the ``sql_path`` fixture).
    """
    return settings.OMNI_FAST_SQL


def cursor() -> psycopg.Cursor:
    """A server-binding cursor on Django's connection (same transaction), kept per connection."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.connection is None:
        db.ensure_connection()
    cur = getattr(db, "_omni_fast_cursor", None)
    if cur is None or cur.connection is not db.connection or cur.closed:
        cur = db._omni_fast_cursor = psycopg.Cursor(db.connection)
    return cur


@cache
def _columns(model) -> tuple:
    """The fields an INSERT writes: every concrete field but an auto primary key."""
    return tuple(
        f
        for f in model._meta.concrete_fields
        if not (f.primary_key and f.get_internal_type() in ("AutoField", "BigAutoField"))
    )


@cache
def _insert_sql(model, rows: int) -> str:
    fields = _columns(model)
    names = ", ".join(f'"{f.column}"' for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return (
        f'INSERT INTO "{model._meta.db_table}" ({names}) VALUES '
        + ", ".join([row] * rows)
        + f' RETURNING "{model._meta.pk.column}"'
    )


def insert(objs: list[Model]) -> list[Model]:
    """Insert unsaved instances of one model, all in one statement; returns them saved.

    What ``bulk_create`` does, without its per-call query compilation; on PostgreSQL the
    statement is prepared (server-side binding, see settings). Works on SQLite too. Sends no
    ``post_save`` (neither does ``bulk_create``). The i-th returned key is the i-th row's.
    """
    if not objs:
        return objs
    sql, params = insert_statement(objs)
    with connections[DEFAULT_DB_ALIAS].cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    saved(objs, [pk for (pk,) in rows])
    return objs


def insert_statement(objs: list[Model]) -> tuple[str, list]:
    """The INSERT … RETURNING pk of ``insert`` and its parameters, to embed in a larger
    statement (e.g. a CTE); hand the returned keys to ``saved``."""
    model = type(objs[0])
    db = connections[DEFAULT_DB_ALIAS]
    fields = _columns(model)
    params = []
    for obj in objs:
        params += _row_params(obj, fields, db)
    return _insert_sql(model, len(objs)), params


def _row_params(obj, fields, db) -> list:
    """The values ``save()`` would write for ``fields`` (``pre_save`` run, so ``auto_now`` is
    stamped; a foreign key takes the pk of a related object saved since it was assigned)."""
    values = []
    for f in fields:
        if f.is_relation and getattr(obj, f.attname) is None and f.is_cached(obj):
            related = f.get_cached_value(obj)
            if related is not None:
                setattr(obj, f.attname, related.pk)
        values.append(f.get_db_prep_save(f.pre_save(obj, True), db))
    return values


def saved(objs, pks) -> None:
    """Mark instances inserted by hand as saved, with their new primary keys."""
    for obj, pk in zip(objs, pks, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = DEFAULT_DB_ALIAS


@cache
def _child_columns(model, parent_model) -> tuple:
    """A child model's foreign key to ``parent_model`` and the other columns it writes."""
    (fk,) = [
        f
        for f in _columns(model)
        if f.is_relation and f.many_to_one and f.related_model is parent_model
    ]
    return fk, tuple(f for f in _columns(model) if f is not fk)


@cache
def _tree_sql(parent_model, children: tuple, updates: tuple) -> str:
    """children: (model, …); updates: ((model, field names), …).

    Each table's rows come as one ``jsonb`` parameter (``jsonb_populate_record[set]`` types
    them with the table's own columns): a handful of parameters instead of one per value, so
    psycopg caches the statement's parsing and dumps one string per table.
    """
    pk = parent_model._meta.pk.column
    table = parent_model._meta.db_table
    ctes = [
        f'p AS (INSERT INTO "{table}" ({_column_list(_columns(parent_model), "")}) '
        f"SELECT {_column_list(_columns(parent_model), 'v.')} "
        f'FROM jsonb_populate_record(NULL::"{table}", %s::jsonb) AS v RETURNING "{pk}")'
    ]
    for i, model in enumerate(children):
        fk, others = _child_columns(model, parent_model)
        child = model._meta.db_table
        ctes.append(
            f'c{i} AS (INSERT INTO "{child}" ("{fk.column}", {_column_list(others, "")}) '
            f'SELECT p."{pk}", {_column_list(others, "v.")} '
            f'FROM p, jsonb_populate_recordset(NULL::"{child}", %s::jsonb) WITH ORDINALITY AS v '
            f'ORDER BY v.ordinality RETURNING "{model._meta.pk.column}" AS id)'
        )
    for j, (model, fields) in enumerate(updates):
        ctes.append(f"u{j} AS ({_update_sql(model, fields)} RETURNING 1)")
    outputs = [f'(SELECT p."{pk}" FROM p)'] + [
        f"ARRAY(SELECT id FROM c{i} ORDER BY id)" for i in range(len(children))
    ]
    return "WITH " + ",\n".join(ctes) + "\nSELECT " + ", ".join(outputs)


def _column_list(fields, prefix: str) -> str:
    return ", ".join(f'{prefix}"{f.column}"' for f in fields)


def _json_default(value):
    """What ``json.dumps`` cannot write itself, as PostgreSQL's input functions read it."""
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, Json | Jsonb):  # a JSONField's value, written with its own encoder
        return json.loads((value.dumps or json.dumps)(value.obj))
    raise TypeError(f"{type(value).__name__} cannot be written as JSON")


def _json_row(obj, plan, db) -> dict:
    """The values ``save()`` would write, keyed by column (for ``jsonb_populate_record``), in
    the form ``_dumps`` writes them (a ``Decimal`` or a ``datetime`` as its text).

    A value of exactly the type its field stores (a ``str`` for a ``CharField``, an aware
    ``datetime`` for a ``DateTimeField``, …) is what ``get_db_prep_save`` would return anyway:
    it is taken as it is. Any other value (None on a foreign key, a lazy string, a naive
    datetime, an expression, a field type not listed in ``_AS_IS``) goes through the field's
    own ``pre_save``/``get_db_prep_save`` as in ``_row_params``, with its conversions and errors.
    """
    row = {}
    for column, field, attname, exact, stamps in plan:
        if exact is None:
            row[column] = _row_params(obj, (field,), db)[0]
            continue
        value = field.pre_save(obj, True) if stamps else getattr(obj, attname)
        kind = type(value)
        if kind is exact:
            if kind is Decimal:
                if value.is_finite():
                    row[column] = str(value)
                    continue
            elif kind is datetime.datetime:
                if value.utcoffset() is not None:
                    row[column] = value.isoformat()
                    continue
            else:
                row[column] = value
                continue
        elif value is None and not field.is_relation:
            row[column] = None
            continue
        # Anything else as save() has it: the field's own conversion, warning or error (a
        # naive datetime, NaN, a lazy string, an expression), or a foreign key's related
        # object saved since it was assigned.
        if stamps:  # pre_save has run: convert the value it gave
            row[column] = field.get_db_prep_save(value, db)
        else:
            row[column] = _row_params(obj, (field,), db)[0]
    return row


# Field classes (exactly these, not subclasses) whose get_db_prep_save returns a value of this
# type unchanged: such a value needs no conversion. None passes unchanged too (but on a foreign
# key, where it may stand for a related object saved since it was assigned).
_AS_IS = {
    models.CharField: str,
    models.TextField: str,
    models.BooleanField: bool,
    models.IntegerField: int,
    models.SmallIntegerField: int,
    models.BigIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.DecimalField: Decimal,
    models.DateTimeField: datetime.datetime,
    models.ForeignKey: int,
}


@cache
def _json_plan(model, parent_model=None) -> tuple:
    """``_json_row``'s plan for the columns an INSERT of ``model`` writes (for a child row of
    ``parent_model``: all but its key to the parent). Per field: (column, field, attname, the
    type taken as it is or None, stamps), where ``stamps`` says ``pre_save`` must run
    (``auto_now``/``auto_now_add``). Cached by the model classes, which hash cheaply (a tuple
    of fields would hash every field on each call)."""
    fields = _columns(model) if parent_model is None else _child_columns(model, parent_model)[1]
    plan = []
    for f in fields:
        exact = _AS_IS.get(type(f))
        if exact is int and f.is_relation and not isinstance(f.target_field, models.AutoField):
            exact = None  # a key to a non-integer primary key: the general path
        stamps = bool(getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False))
        plan.append((f.column, f, f.attname, exact, stamps))
    return tuple(plan)


def _dumps(value) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def insert_tree(parent: Model, children=(), *, updates=()) -> Model:
    """Insert ``parent``, the rows of each list in ``children`` (one model per list, with one
    foreign key to the parent's model) and save ``updates`` ((instance, field names), …) in one
    statement (data-modifying CTEs).

    An order with its lines and history and the cart it closes: one round trip, not four.
    """
    children = [rows for rows in children if rows]
    db = connections[DEFAULT_DB_ALIAS]
    model = type(parent)
    params = [_dumps(_json_row(parent, _json_plan(model), db))]
    for rows in children:
        plan = _json_plan(type(rows[0]), model)
        params.append(_dumps([_json_row(row, plan, db) for row in rows]))
    for obj, names in updates:
        params += _update_params(obj, names, db)
    sql = _tree_sql(
        model,
        tuple(type(rows[0]) for rows in children),
        tuple((type(obj), tuple(names)) for obj, names in updates),
    )
    with db.cursor() as cur:
        cur.execute(sql, params)
        parent_pk, *child_pks = cur.fetchone()
    saved([parent], [parent_pk])
    for rows, pks in zip(children, child_pks, strict=True):
        fk, _others = _child_columns(type(rows[0]), model)
        for row in rows:
            setattr(row, fk.attname, parent_pk)
        saved(rows, pks)
    return parent


@cache
def select_list(model, alias: str) -> str:
    """``alias."col", …`` for every concrete field, in the order ``from_row`` reads them."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


def _converters(model) -> list:
    """Per concrete field, the converters a queryset would apply to its column (cached)."""
    db = connections[DEFAULT_DB_ALIAS]
    cached = _CONVERTERS.get((model, db.vendor))
    if cached is None:
        cached = _CONVERTERS[(model, db.vendor)] = [
            (
                f.attname,
                f.cached_col,
                db.ops.get_db_converters(f.cached_col) + f.cached_col.get_db_converters(db),
            )
            for f in model._meta.concrete_fields
        ]
    return cached


_CONVERTERS: dict = {}


def from_row(model, row, start: int = 0) -> tuple[Model, int]:
    """The instance in ``row[start:]`` (columns as ``select_list``) and the next offset."""
    db = connections[DEFAULT_DB_ALIAS]
    values = {}
    i = start
    for attname, col, converters in _converters(model):
        value = row[i]
        for converter in converters:
            value = converter(value, col, db)
        values[attname] = value
        i += 1
    return loaded(model, values), i


@cache
def _get_sql(model, lock: str, vendor: str, field: str = "pk") -> str:
    db = connections[DEFAULT_DB_ALIAS]
    sql = _select_where(model, field)
    if lock and db.features.has_select_for_update:
        no_key = lock == "no_key" and db.features.has_select_for_no_key_update
        sql += " " + db.ops.for_update_sql(no_key=no_key)
    return sql


def get(model, pk, *, lock: str = "", field: str = "pk") -> Model | None:
    """The row with this primary key (or this value of the unique ``field``), or None;
    ``lock``: "" (none), "update" or "no_key" (``FOR NO KEY UPDATE``: other transactions may
    still insert rows referring to it)."""
    db = connections[DEFAULT_DB_ALIAS]
    with db.cursor() as cur:
        cur.execute(_get_sql(model, lock, db.vendor, field), [pk])
        row = cur.fetchone()
    return None if row is None else from_row(model, row)[0]


def get_all(model, field: str, value) -> list[Model]:
    """Every row whose ``field`` equals ``value`` (e.g. a customer's identities), pk order."""
    db = connections[DEFAULT_DB_ALIAS]
    with db.cursor() as cur:
        cur.execute(_all_sql(model, field), [value])
        return [from_row(model, row)[0] for row in cur.fetchall()]


def in_bulk(model, pks) -> dict:
    """``model.objects.in_bulk(pks)`` (pk → instance) as one prepared statement."""
    pks = list(pks)
    if not pks:
        return {}
    with connections[DEFAULT_DB_ALIAS].cursor() as cur:
        cur.execute(_in_bulk_sql(model), [pks])
        rows = cur.fetchall()
    return {obj.pk: obj for obj in (from_row(model, row)[0] for row in rows)}


@cache
def _in_bulk_sql(model) -> str:
    pk = model._meta.pk
    array = f"{pk.rel_db_type(connections[DEFAULT_DB_ALIAS])}[]"
    return (
        f'SELECT {select_list(model, "t")} FROM "{model._meta.db_table}" AS t '
        f'WHERE t."{pk.column}" = ANY(%s::{array})'
    )


@cache
def _all_sql(model, field: str) -> str:
    return f'{_select_where(model, field)} ORDER BY t."{model._meta.pk.column}"'


def _select_where(model, field: str) -> str:
    """Every column of ``model`` (as ``t``) where ``field`` ("pk" or a field name) = %s."""
    column = model._meta.pk.column if field == "pk" else model._meta.get_field(field).column
    return (
        f'SELECT {select_list(model, "t")} FROM "{model._meta.db_table}" AS t '
        f'WHERE t."{column}" = %s'
    )


@cache
def _update_sql(model, names: tuple) -> str:
    fields = [model._meta.get_field(n) for n in names]
    sets = ", ".join(f'"{f.column}" = %s' for f in fields)
    return f'UPDATE "{model._meta.db_table}" SET {sets} WHERE "{model._meta.pk.column}" = %s'


def update(obj: Model, names: tuple) -> None:
    """``obj.save(update_fields=names)`` in one prepared statement (``auto_now`` fields named
    in ``names`` are stamped, as ``save`` does). No signals."""
    db = connections[DEFAULT_DB_ALIAS]
    with db.cursor() as cur:
        cur.execute(_update_sql(type(obj), tuple(names)), _update_params(obj, names, db))


def _update_params(obj, names, db) -> list:
    """The SET values of ``_update_sql`` (``pre_save`` run, as ``save`` does), then the pk."""
    fields = [type(obj)._meta.get_field(n) for n in names]
    return [f.get_db_prep_save(f.pre_save(obj, False), db) for f in fields] + [obj.pk]


def loaded(model, values: dict) -> Model:
    """An instance of ``model`` as if loaded from the database (``values``: every concrete
    field's attname). ``refresh_from_db`` and ``save`` work as usual."""
    obj = model.__new__(model)
    obj.__dict__.update(values)
    obj._state = ModelState()
    obj._state.adding = False
    obj._state.db = DEFAULT_DB_ALIAS
    return obj


# --- Reading timestamps -------------------------------------------------------------------------


@cache
def _fast_tz_loader(timezone):
    """A ``timestamptz`` loader doing what Django's does (the value in ``timezone``, or naive
    when it is None), parsing in psycopg's C loader instead of Django's pure-Python subclass
    (~3 µs less per value; a checkout reads ~20). None without psycopg's C extension."""
    from psycopg.adapt import Loader
    from psycopg.pq import Format

    c_loader = psycopg.adapters.get_loader(psycopg.adapters.types["timestamptz"].oid, Format.TEXT)
    if c_loader is None or c_loader.__module__.startswith("psycopg."):
        return None

    class FastTzLoader(Loader):
        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            self._load = c_loader(oid, context).load

        def load(self, data):
            return self._load(data).replace(tzinfo=self.timezone)

    FastTzLoader.timezone = timezone
    return FastTzLoader


def use_fast_timestamps(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver (see ``omni.apps``): swap in ``_fast_tz_loader``."""
    loader = _fast_tz_loader(connection.timezone)
    if loader is not None:
        connection.connection.adapters.register_loader("timestamptz", loader)
