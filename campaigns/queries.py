"""The campaigns app's hand-written SQL, each function beside its ORM reference twin (see
``customers/queries.py`` for the pattern; ``omni.sql.enabled()`` picks the path).

Table and column names come from the models' ``_meta``; values are parameters.
"""

import zlib
from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.db.models import QuerySet

from campaigns.models import Delivery
from omni import sql as fast_sql

# Planned column (planning.PLANNED_COLUMNS) → Delivery field.
PLANNED_FIELDS = {
    "d_campaign": "campaign",
    "d_step": "step",
    "d_variant": "variant",
    "d_customer": "customer",
    "d_channel": "channel",
    "d_status": "status",
    "d_reason": "reason",
    "d_address": "address",
}
ORM_CHUNK = 5_000


def _column(name: str) -> str:
    return connection.ops.quote_name(Delivery._meta.get_field(name).column)


def insert_planned(planned: QuerySet, *, campaign_id: int, step: int, now: datetime) -> int:
    """``INSERT INTO delivery (…) SELECT … FROM (<planned>) ON CONFLICT DO NOTHING``: a whole
    campaign planned in one statement inside PostgreSQL (bench/campaigns_plan.py: 1,000,000
    deliveries, figure in the lead's BENCHMARKS.md entry). Returns the rows inserted."""
    if not fast_sql.enabled():
        return _insert_planned_orm(planned, campaign_id=campaign_id, step=step, now=now)
    select_sql, params = planned.query.sql_with_params()
    targets = [_column(field) for field in PLANNED_FIELDS.values()]
    targets += [_column(f) for f in ("coupon_code", "attempts", "created_at", "updated_at")]
    sources = [f"p.{alias}" for alias in PLANNED_FIELDS] + ["''", "0", "%s", "%s"]
    conflict = ", ".join(_column(f) for f in ("campaign", "step", "customer"))
    statement = (
        f"INSERT INTO {connection.ops.quote_name(Delivery._meta.db_table)} "
        f"({', '.join(targets)}) SELECT {', '.join(sources)} FROM ({select_sql}) AS p "
        f"ON CONFLICT ({conflict}) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [now, now, *params])
        return cursor.rowcount


def _insert_planned_orm(planned: QuerySet, *, campaign_id: int, step: int, now) -> int:
    """The reference twin: the same rows, read in chunks and bulk-inserted (conflicts skipped)."""
    rows = Delivery.objects.filter(campaign_id=campaign_id, step=step)
    before = rows.count()
    batch: list[Delivery] = []
    for row in planned.iterator(chunk_size=ORM_CHUNK):
        fields = {PLANNED_FIELDS[k] + ("_id" if k in _FK else ""): v for k, v in row.items()}
        batch.append(Delivery(**fields, created_at=now, updated_at=now))
        if len(batch) == ORM_CHUNK:
            Delivery.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    Delivery.objects.bulk_create(batch, ignore_conflicts=True)
    return rows.count() - before


_FK = frozenset({"d_campaign", "d_variant", "d_customer"})

# --- Contact budget ---------------------------------------------------------------------------

BUDGET_LOCK_SPACE = zlib.crc32(b"campaigns.contact_budget") - 2**31  # an int4


def lock_contact_budgets(customer_ids: Iterable[int]) -> None:
    """Take a transaction-level advisory lock per customer (sorted, so two senders cannot
    deadlock): whoever counts a customer's budget and then sends holds it until commit, so
    concurrent campaigns never both spend the last message. Not a fast path with a twin:
    advisory locks have no ORM form, so both settings take them with this statement."""
    keys = sorted(set(customer_ids))
    if not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, (k %% 2147483647)::int)) "
            "FROM unnest(%s::bigint[]) AS k",
            [BUDGET_LOCK_SPACE, keys],
        )
