"""Hot-path SQL on PostgreSQL: prepared statements on Django's own connection.

For the few calls where the ORM's Python cost per query is the bottleneck (holding stock,
placing an order) — measured in bench/. Everything here runs inside whatever transaction
Django's connection is in, so ``transaction.atomic()`` and ``on_commit`` work as usual.

- ``cursor()``: a psycopg cursor binding parameters on the server; ``execute(..., prepare=True)``
  makes PostgreSQL parse and plan a statement once per connection.
- ``insert(objs)``: INSERT model instances of one model in one prepared statement; the SQL is
  built from the model's fields (so a new field needs no change here), ``pre_save`` runs as in
  ``save()`` (``auto_now``/``auto_now_add``), and the instances come back saved (pk set).
- ``get(model, pk, lock=…)``, ``update(obj, fields)``, ``select_list``/``from_row``: the same
  for reading a row (optionally locked), saving a few fields and reading joined rows.
- ``loaded(model, values)``: an instance as if loaded from the database, without
  ``Model.__init__``'s cost.
"""

from functools import cache

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model
from django.db.models.base import ModelState


def cursor() -> psycopg.Cursor:
    """A server-binding cursor on Django's connection (same transaction), kept per connection."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.connection is None:
        db.ensure_connection()
    cur = getattr(db, "_omni_fast_cursor", None)
    if cur is None or cur.connection is not db.connection or cur.closed:
        cur = db._omni_fast_cursor = psycopg.Cursor(db.connection)
    return cur


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
    model = type(objs[0])
    db = connections[DEFAULT_DB_ALIAS]
    fields = _columns(model)
    params = []
    for obj in objs:
        for f in fields:
            params.append(f.get_db_prep_save(f.pre_save(obj, True), db))
    with db.cursor() as cur:
        cur.execute(_insert_sql(model, len(objs)), params)
        rows = cur.fetchall()
    for obj, (pk,) in zip(objs, rows, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = DEFAULT_DB_ALIAS
    return objs


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
def _get_sql(model, lock: str, vendor: str) -> str:
    db = connections[DEFAULT_DB_ALIAS]
    sql = (
        f'SELECT {select_list(model, "t")} FROM "{model._meta.db_table}" AS t '
        f'WHERE t."{model._meta.pk.column}" = %s'
    )
    if lock and db.features.has_select_for_update:
        no_key = lock == "no_key" and db.features.has_select_for_no_key_update
        sql += " " + db.ops.for_update_sql(no_key=no_key)
    return sql


def get(model, pk, *, lock: str = "") -> Model | None:
    """The row with this primary key, or None; ``lock``: "" (none), "update" or "no_key"
    (``FOR NO KEY UPDATE``: other transactions may still insert rows referring to it)."""
    db = connections[DEFAULT_DB_ALIAS]
    with db.cursor() as cur:
        cur.execute(_get_sql(model, lock, db.vendor), [pk])
        row = cur.fetchone()
    return None if row is None else from_row(model, row)[0]


@cache
def _update_sql(model, names: tuple) -> str:
    fields = [model._meta.get_field(n) for n in names]
    sets = ", ".join(f'"{f.column}" = %s' for f in fields)
    return f'UPDATE "{model._meta.db_table}" SET {sets} WHERE "{model._meta.pk.column}" = %s'


def update(obj: Model, names: tuple) -> None:
    """``obj.save(update_fields=names)`` in one prepared statement (``auto_now`` fields named
    in ``names`` are stamped, as ``save`` does). No signals."""
    db = connections[DEFAULT_DB_ALIAS]
    model = type(obj)
    params = []
    for name in names:
        f = model._meta.get_field(name)
        params.append(f.get_db_prep_save(f.pre_save(obj, False), db))
    params.append(obj.pk)
    with db.cursor() as cur:
        cur.execute(_update_sql(model, names), params)


def loaded(model, values: dict) -> Model:
    """An instance of ``model`` as if loaded from the database (``values``: every concrete
    field's attname). ``refresh_from_db`` and ``save`` work as usual."""
    obj = model.__new__(model)
    obj.__dict__.update(values)
    obj._state = ModelState()
    obj._state.adding = False
    obj._state.db = DEFAULT_DB_ALIAS
    return obj
