"""The campaigns app's hand-written SQL, each function beside its ORM reference twin (see
``customers/queries.py`` for the pattern; ``omni.sql.enabled()`` picks the path).

Table and column names come from the models' ``_meta``; values are parameters.
"""

import zlib
from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.db.models import QuerySet

from campaigns.models import Delivery, DeliveryReason, DeliveryStatus
from customers.models import ConsentState
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


CONSENT_CHANNELS = ("email", "sms", "push")
CHANNELS = (*CONSENT_CHANNELS, "store")


def _eligible_sql(channel: str) -> tuple[str, list]:
    """SQL of "may receive on ``channel``" over contact_data's columns: column names are
    constants of this module, values are parameters."""
    granted = ConsentState.GRANTED
    if channel == "store":
        any_granted = " OR ".join(f"c.consent_{name} = %s" for name in CONSENT_CHANNELS)
        return f"(c.home_store <> '' AND ({any_granted}))", [granted] * len(CONSENT_CHANNELS)
    return f"(c.addr_{channel} <> '' AND c.consent_{channel} = %s)", [granted]


def _address_sql(channel: str) -> str:
    return "d.home_store" if channel == "store" else f"d.addr_{channel}"


def _channel_sql(spec) -> tuple[str, list]:
    if not spec.channels:
        return "''", []
    whens, params = [], []
    for preferred in (True, False) if spec.preferred_first else (False,):
        for channel in spec.channels:
            eligible, eligible_params = _eligible_sql(channel)
            if preferred:
                whens.append(f"WHEN c.preferred = %s AND {eligible} THEN %s")
                params += [channel, *eligible_params, channel]
            else:
                whens.append(f"WHEN {eligible} THEN %s")
                params += [*eligible_params, channel]
    return f"CASE {' '.join(whens)} ELSE '' END", params


def _variant_sql(spec) -> tuple[str, list]:
    if not spec.variants:
        return "NULL::bigint", []
    whens, params = ["WHEN d.h_bucket < %s THEN NULL"], [spec.holdout_below]
    for bound, pk in spec.variants[:-1]:
        whens.append("WHEN d.v_bucket < %s THEN %s")
        params += [bound, pk]
    return f"CASE {' '.join(whens)} ELSE %s::bigint END", [*params, spec.variants[-1][1]]


def _address_choice_sql(spec) -> tuple[str, list]:
    if not spec.channels:
        return "''", []
    whens = " ".join(f"WHEN %s THEN {_address_sql(c)}" for c in spec.channels)
    return f"COALESCE(CASE d.d_channel {whens} END, '')", list(spec.channels)


def _decisions_sql(spec) -> tuple[str, list]:
    """The SELECT list of the insert, in PLANNED_FIELDS order, and its parameters."""
    assert set(spec.channels) <= set(CHANNELS), spec.channels  # column names are inlined
    variant, variant_params = _variant_sql(spec)
    address, address_params = _address_choice_sql(spec)
    any_address = " OR ".join(f"{_address_sql(c)} <> ''" for c in spec.channels) or "false"
    columns = [
        "%s", "%s", variant, "d.pk", "d.d_channel",
        "CASE WHEN d.h_bucket < %s OR d.d_channel = '' THEN %s ELSE %s END",
        "CASE WHEN d.h_bucket < %s THEN %s WHEN d.d_channel <> '' THEN '' "
        f"WHEN {any_address} THEN %s ELSE %s END",
        address,
    ]  # fmt: skip
    params = [
        spec.campaign_id, spec.step, *variant_params,
        spec.holdout_below, DeliveryStatus.SUPPRESSED, DeliveryStatus.QUEUED,
        spec.holdout_below, DeliveryReason.HOLDOUT, DeliveryReason.NO_CONSENT,
        DeliveryReason.NO_ADDRESS, *address_params,
    ]  # fmt: skip
    return ", ".join(columns), params


def _decided_from(contacts: QuerySet, spec) -> tuple[str, list]:
    """The FROM of the decisions: the contact data with the chosen channel. OFFSET 0 fences
    each level: PostgreSQL would otherwise pull the subqueries up and run a look-up again for
    every CASE that names its column."""
    contacts_sql, contacts_params = contacts.query.sql_with_params()
    channel, channel_params = _channel_sql(spec)
    return (
        f"FROM (SELECT c.*, {channel} AS d_channel "
        f"FROM ({contacts_sql} OFFSET 0) AS c OFFSET 0) AS d",
        [*channel_params, *contacts_params],
    )


def insert_step_deliveries(
    contacts: QuerySet, planned: QuerySet, *, spec, entries: list[tuple[int, int]], now
) -> list[tuple[int, int, str, str]]:
    """A journey's message step for a sweep's entries ((entry id, customer id) pairs): the
    planning decisions and the INSERT in one statement, at most one row per (entry, step).
    Returns the rows inserted as (id, customer id, status, reason). bench/campaigns_journeys.py:
    a sweep of 1,000 entries took 380 ms with the ORM twin (1,000 model instances and a
    17,000-parameter INSERT) and 290 ms with this (profiled)."""
    if not fast_sql.enabled():
        return _insert_step_orm(planned, spec=spec, entries=entries, now=now)
    source, source_params = _decided_from(contacts, spec)
    decisions, decision_params = _decisions_sql(spec)
    targets = [_column(field) for field in PLANNED_FIELDS.values()]
    targets += [_column(f) for f in ("coupon_code", "attempts", "created_at", "updated_at")]
    entry, step = _column("entry"), _column("step")
    statement = (
        f"INSERT INTO {connection.ops.quote_name(Delivery._meta.db_table)} "
        f"({', '.join(targets)}, {entry}) SELECT {decisions}, '', 0, %s, %s, e.entry_id "
        f"{source} JOIN unnest(%s::bigint[], %s::bigint[]) AS e(entry_id, customer_id) "
        f"ON e.customer_id = d.pk "
        f"ON CONFLICT ({entry}, {step}) WHERE {entry} IS NOT NULL DO NOTHING "
        f"RETURNING {_column('id')}, {_column('customer')}, {_column('status')}, "
        f"{_column('reason')}"
    )
    params = [
        *decision_params, now, now, *source_params,
        [entry_id for entry_id, _c in entries], [customer for _e, customer in entries],
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return [tuple(row) for row in cursor.fetchall()]


def _insert_step_orm(planned: QuerySet, *, spec, entries, now) -> list[tuple]:
    """The reference twin: the decisions read through the ORM, one Delivery per entry."""
    decided = {row["d_customer"]: row for row in planned}
    rows = [
        Delivery(
            **{
                PLANNED_FIELDS[k] + ("_id" if k in _FK else ""): v
                for k, v in decided[customer].items()
            },
            entry_id=entry_id,
            created_at=now,
            updated_at=now,
        )
        for entry_id, customer in entries
        if customer in decided
    ]
    taken = set(
        Delivery.objects.filter(
            entry_id__in=[r.entry_id for r in rows], step=spec.step
        ).values_list("entry_id", flat=True)
    )
    fresh = [r for r in rows if r.entry_id not in taken]
    made = Delivery.objects.bulk_create(fresh)
    return [(r.pk, r.customer_id, r.status, r.reason) for r in made]


def insert_planned(contacts: QuerySet, planned: QuerySet, *, spec, now: datetime) -> int:
    """``INSERT INTO delivery (…) SELECT <decisions> FROM (<contact data>) … ON CONFLICT DO
    NOTHING``: a whole campaign planned in one statement inside PostgreSQL, each consent and
    address look-up made once per customer and the decisions (channel, holdout, variant,
    reason) as CASEs over them. bench/campaigns_plan.py: 1,000,000 deliveries in 44.7 s
    (target ≤ 60 s; 2 shared cores; re-planning them: 27 s, 0 rows). Off: the ORM twin bulk-inserts ``planned`` (the same decisions in
    annotations). Returns the rows inserted."""
    if not fast_sql.enabled():
        return _insert_planned_orm(planned, campaign_id=spec.campaign_id, step=spec.step, now=now)
    source, source_params = _decided_from(contacts, spec)
    decisions, decision_params = _decisions_sql(spec)
    targets = [_column(field) for field in PLANNED_FIELDS.values()]
    targets += [_column(f) for f in ("coupon_code", "attempts", "created_at", "updated_at")]
    conflict = ", ".join(_column(f) for f in ("campaign", "step", "customer"))
    statement = (
        f"INSERT INTO {connection.ops.quote_name(Delivery._meta.db_table)} "
        f"({', '.join(targets)}) SELECT {decisions}, '', 0, %s, %s {source} "
        # The campaign's unique key is partial (journey rows have their own): name its predicate.
        f"ON CONFLICT ({conflict}) WHERE {_column('entry')} IS NULL DO NOTHING"
    )
    with connection.cursor() as cursor:
        params = [*decision_params, now, now, *source_params]
        cursor.execute(statement, params)
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
RATE_LOCK_SPACE = zlib.crc32(b"campaigns.send_rate") - 2**31
ATTRIBUTION_LOCK_SPACE = zlib.crc32(b"campaigns.attribution") - 2**31


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


def lock_campaign_rates(campaign_id: int) -> None:
    """The campaign's rate lock (transaction-level advisory): one sending batch of a
    rate-limited campaign counts its free slots and sends at a time (``campaigns.rates``).
    Taken before any delivery row is claimed, so it cannot deadlock with the row locks. No
    ORM form, like the budget locks."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, (%s::bigint %% 2147483647)::int)",
            [RATE_LOCK_SPACE, campaign_id],
        )


def lock_order_attribution(order_id: int) -> None:
    """The order's attribution lock (transaction-level advisory): two tasks crediting the same
    order (a retry, a duplicate signal) run one after the other, so the second sees the first's
    rows and adds nothing. No ORM form, like the budget locks."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, (%s::bigint %% 2147483647)::int)",
            [ATTRIBUTION_LOCK_SPACE, order_id],
        )
