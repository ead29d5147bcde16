"""Batch ingest of touchpoints (Segment-like ``track`` / ``page`` / ``identify`` calls).

Per event the result says ``created``, ``duplicate`` (its ``message_id`` was seen before),
``identified`` (an identify call: no touchpoint stored) or ``error`` (with the field at fault;
nothing of that event is written). Good events are kept even when others in the batch fail.

Rules:
* ``message_id`` is the idempotency key: an event is stored at most once.
* The customer is resolved from the event's identifiers; an unknown anonymous id gets a new
  anonymous profile. Events carrying a known-person identifier (e-mail, phone, card, till id,
  …) go through ``identify`` and may stitch or merge profiles.
* Unknown event names are kept as type ``custom`` with the name in ``name``.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from customers.exceptions import InvalidIdentifier
from customers.identifiers import normalise
from customers.models import (
    BlockedIdentifier,
    Channel,
    Customer,
    CustomerStatus,
    Event,
    EventType,
    Identity,
    IdentityKind,
)
from customers.services.profiles import Identifier, identify
from customers.traits import apply_event_increments
from omni.exceptions import DomainError

CALL_TYPES = ("track", "page", "identify")
IDENTIFIER_FIELDS = {
    "anonymous_id": IdentityKind.ANONYMOUS,
    "email": IdentityKind.EMAIL,
    "phone": IdentityKind.PHONE,
    "loyalty_card": IdentityKind.LOYALTY_CARD,
    "pos_id": IdentityKind.POS_ID,
    "push_token": IdentityKind.PUSH_TOKEN,
    "social": IdentityKind.SOCIAL,
    "marketplace": IdentityKind.MARKETPLACE,
}
PROFILE_TRAITS = ("first_name", "last_name", "preferred_language", "home_store")
MAX_PROPERTIES_BYTES = 16_384


class BatchTooLarge(DomainError):
    code = "batch_too_large"
    status_code = 413


@dataclass
class EventResult:
    index: int
    status: str
    event_id: int | None = None
    customer_id: int | None = None
    error: dict | None = None


@dataclass
class _Parsed:
    index: int
    call: str
    identifiers: list[Identifier]
    channel: str
    type: str = ""
    name: str = ""
    properties: dict = field(default_factory=dict)
    occurred_at: datetime | None = None
    message_id: str | None = None
    profile: dict = field(default_factory=dict)
    customer_id: int | None = None


def _error(index, message, fields=None, code="invalid") -> EventResult:
    return EventResult(
        index=index,
        status="error",
        error={"code": code, "message": str(message), "fields": fields or {}},
    )


PUBLIC_IDENTIFIERS = ("anonymous_id", "push_token")


def _parse(index: int, raw, trusted: bool) -> _Parsed | EventResult:
    if not isinstance(raw, dict):
        return _error(index, _("Each event must be a JSON object."))
    call = raw.get("type", "track")
    if call not in CALL_TYPES:
        return _error(
            index,
            _("“type” must be track, page or identify."),
            {"type": [_("Unknown call type.")]},
        )
    channel = raw.get("channel", Channel.WEB)
    if channel not in Channel.values:
        return _error(index, _("Unknown channel."), {"channel": [_("Unknown channel.")]})
    message_id = raw.get("message_id")
    if message_id is not None and (
        not isinstance(message_id, str) or not 0 < len(message_id) <= 100
    ):
        return _error(
            index, _("message_id must be 1–100 characters."), {"message_id": [_("Invalid.")]}
        )
    timestamp = raw.get("timestamp")
    occurred_at = timezone.now()
    if timestamp is not None:
        parsed = parse_datetime(timestamp) if isinstance(timestamp, str) else None
        if parsed is None:
            return _error(
                index, _("timestamp must be an ISO 8601 date-time."), {"timestamp": [_("Invalid.")]}
            )
        if timezone.is_naive(parsed):
            return _error(
                index, _("timestamp needs a time zone offset."), {"timestamp": [_("Naive.")]}
            )
        occurred_at = parsed
    properties = raw.get("properties") or {}
    if not isinstance(properties, dict):
        return _error(index, _("properties must be an object."), {"properties": [_("Invalid.")]})
    if len(repr(properties)) > MAX_PROPERTIES_BYTES:
        return _error(index, _("properties are too large."), {"properties": [_("Too large.")]})
    traits = raw.get("traits") or {}
    if not isinstance(traits, dict):
        return _error(index, _("traits must be an object."), {"traits": [_("Invalid.")]})

    if not trusted:
        personal = [k for k in IDENTIFIER_FIELDS if k not in PUBLIC_IDENTIFIERS and raw.get(k)]
        personal += [f"traits.{k}" for k in ("email", "phone", "loyalty_card") if traits.get(k)]
        if raw.get("email_verified") or traits.get("email_verified"):
            personal.append("email_verified")
        if personal:
            message = _("Personal identifiers need a server key (customers.add_event).")
            return _error(index, message, {name: [message] for name in personal}, "forbidden")
    raw_identifiers = []
    sources = {
        **{k: raw.get(k) for k in IDENTIFIER_FIELDS},
        **{k: traits.get(k) for k in ("email", "phone", "loyalty_card") if traits.get(k)},
    }
    for name, value in sources.items():
        if value in (None, ""):
            continue
        verified = name == "email" and bool(
            raw.get("email_verified") or traits.get("email_verified")
        )
        raw_identifiers.append((name, IDENTIFIER_FIELDS[name], value, verified))
    identifiers = []
    for name, kind, value, verified in raw_identifiers:
        try:
            identifiers.append(Identifier(kind, normalise(kind, value), verified))
        except InvalidIdentifier as exc:
            return _error(
                index,
                exc.message,
                {name: next(iter(exc.fields.values())) if exc.fields else [exc.message]},
            )
    if not identifiers:
        return _error(
            index,
            _("An event needs an anonymous_id or an identifier (email, phone, …)."),
            {"anonymous_id": [_("Required when no other identifier is given.")]},
        )
    parsed = _Parsed(
        index=index,
        call=call,
        identifiers=identifiers,
        channel=channel,
        properties=properties,
        occurred_at=occurred_at,
        message_id=message_id,
        profile={k: traits[k] for k in PROFILE_TRAITS if isinstance(traits.get(k), str)},
    )
    if call == "page":
        parsed.type = EventType.PAGE_VIEWED
    elif call == "track":
        name = raw.get("event")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            return _error(index, _("A track call names its event."), {"event": [_("Required.")]})
        name = name.strip()
        if name in EventType.values and name != EventType.CUSTOM:
            parsed.type = name
        else:
            parsed.type, parsed.name = EventType.CUSTOM, name
        if parsed.type == EventType.ORDER_PLACED:
            total = properties.get("total")
            try:
                ok = total is not None and Decimal(str(total)).is_finite()
            except (InvalidOperation, ValueError):
                ok = False
            if not ok:
                return _error(
                    index,
                    _("order_placed needs properties.total as a decimal amount."),
                    {"properties.total": [_("Invalid amount.")]},
                )
            properties["total"] = str(Decimal(str(total)).quantize(Decimal("0.01")))
    return parsed


def _advisory_lock(values: list[str]) -> None:
    if connection.vendor != "postgresql" or not values:
        return
    keys = sorted(
        {
            int.from_bytes(
                hashlib.blake2b(f"anonymous:{v}".encode(), digest_size=8).digest(),
                "big",
                signed=True,
            )
            for v in values
        }
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", [keys]
        )


def _resolve_anonymous(items: list[_Parsed], source: str) -> None:
    """Set customer_id on anonymous-only events in bulk (new anonymous profiles as needed)."""
    values = sorted({i.identifiers[0].value for i in items})
    _advisory_lock(values)
    blocked = set(
        BlockedIdentifier.objects.filter(kind=IdentityKind.ANONYMOUS, value__in=values).values_list(
            "value", flat=True
        )
    )
    owners = dict(
        Identity.objects.filter(
            kind=IdentityKind.ANONYMOUS,
            value__in=values,
            customer__status=CustomerStatus.LIVE,
        )
        .order_by("value", "customer_id")
        .values_list("value", "customer_id")
    )
    missing = [v for v in values if v not in owners and v not in blocked]
    if missing:
        created = Customer.objects.bulk_create([Customer(is_anonymous=True) for _ in missing])
        now = timezone.now()
        Identity.objects.bulk_create(
            [
                Identity(
                    customer_id=customer.pk,
                    kind=IdentityKind.ANONYMOUS,
                    value=value,
                    source=source,
                    last_seen_at=now,
                )
                for customer, value in zip(created, missing, strict=True)
            ]
        )
        owners.update({value: c.pk for c, value in zip(created, missing, strict=True)})
    for item in items:
        value = item.identifiers[0].value
        if value in blocked:  # a shared device: the event cannot be tied to anyone
            item.customer_id = Customer.objects.create(is_anonymous=True).pk
        else:
            item.customer_id = owners[value]


def _insert(items: list[_Parsed]) -> dict[int, int]:
    """Insert the events; returns {index: event id} for the ones actually stored."""
    rows = [
        Event(
            customer_id=i.customer_id,
            channel=i.channel,
            type=i.type,
            name=i.name,
            properties=i.properties,
            occurred_at=i.occurred_at,
            idempotency_key=i.message_id,
        )
        for i in items
    ]
    keyed = [(i, row) for i, row in zip(items, rows, strict=True) if row.idempotency_key]
    unkeyed = [(i, row) for i, row in zip(items, rows, strict=True) if not row.idempotency_key]
    stored: dict[int, int] = {}
    if unkeyed:
        Event.objects.bulk_create([row for _, row in unkeyed])
        stored.update({i.index: row.pk for i, row in unkeyed})
    if keyed:
        if connection.vendor == "postgresql":
            stored.update(_insert_keyed_pg(keyed))
        else:  # SQLite serialises writers: look-then-insert is safe there
            taken = set(
                Event.objects.filter(
                    idempotency_key__in=[row.idempotency_key for _, row in keyed]
                ).values_list("idempotency_key", flat=True)
            )
            fresh = [(i, row) for i, row in keyed if row.idempotency_key not in taken]
            Event.objects.bulk_create([row for _, row in fresh])
            stored.update({i.index: row.pk for i, row in fresh})
    return stored


def _insert_keyed_pg(keyed) -> dict[int, int]:
    import json

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO customers_event
                   (customer_id, identity_id, channel, type, name, properties, occurred_at,
                    received_at, idempotency_key)
            SELECT c, NULL, ch, t, n, p::jsonb, o, now(), k
              FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[],
                          %s::timestamptz[], %s::text[]) AS v(c, ch, t, n, p, o, k)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id, idempotency_key
            """,
            [
                [row.customer_id for _, row in keyed],
                [row.channel for _, row in keyed],
                [row.type for _, row in keyed],
                [row.name for _, row in keyed],
                [json.dumps(row.properties) for _, row in keyed],
                [row.occurred_at for _, row in keyed],
                [row.idempotency_key for _, row in keyed],
            ],
        )
        ids = {key: pk for pk, key in cursor.fetchall()}
    stored = {}
    for item, row in keyed:
        if row.idempotency_key in ids:
            row.pk = ids.pop(row.idempotency_key)
            stored[item.index] = row.pk
    return stored


def record_events(
    *, events: list, trusted: bool = True, source: str | None = None
) -> list[EventResult]:
    """Record a batch of up to EVENTS_BATCH_LIMIT events (see the module docstring).

    ``trusted=False`` (a browser without a server key) accepts anonymous ids and push tokens
    only: personal identifiers could otherwise glue someone else's profile to this device.
    """
    limit = settings.EVENTS_BATCH_LIMIT
    if len(events) > limit:
        raise BatchTooLarge(
            _("A batch holds at most %(limit)s events; this one has %(n)s.")
            % {"limit": limit, "n": len(events)},
            limit=limit,
        )
    results: dict[int, EventResult] = {}
    parsed: list[_Parsed] = []
    for index, raw in enumerate(events):
        item = _parse(index, raw, trusted)
        if isinstance(item, EventResult):
            results[index] = item
        else:
            parsed.append(item)

    # Duplicates: seen before, or twice in this batch.
    keys = [p.message_id for p in parsed if p.message_id]
    known = dict(
        Event.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", "pk")
    )
    in_batch: set[str] = set()
    fresh = []
    for item in parsed:
        if item.message_id and (item.message_id in known or item.message_id in in_batch):
            results[item.index] = EventResult(
                index=item.index, status="duplicate", event_id=known.get(item.message_id)
            )
            continue
        if item.message_id:
            in_batch.add(item.message_id)
        fresh.append(item)

    with transaction.atomic():
        anonymous_only, with_person = [], []
        for item in fresh:
            only_anon = item.call != "identify" and all(
                i.kind == IdentityKind.ANONYMOUS for i in item.identifiers
            )
            (anonymous_only if only_anon and len(item.identifiers) == 1 else with_person).append(
                item
            )
        for item in with_person:
            try:
                with transaction.atomic():
                    customer = identify(
                        identifiers=item.identifiers,
                        source=item.channel,
                        profile=item.profile,
                    )
            except DomainError as exc:
                results[item.index] = _error(item.index, exc.message, exc.fields, exc.code)
                continue
            item.customer_id = customer.pk
        if anonymous_only:
            _resolve_anonymous(anonymous_only, source or Channel.WEB)
        to_store = [
            i
            for i in fresh
            if i.customer_id is not None and i.call != "identify" and i.index not in results
        ]
        stored = _insert(to_store)
        for item in fresh:
            if item.index in results:
                continue
            if item.call == "identify":
                results[item.index] = EventResult(
                    index=item.index, status="identified", customer_id=item.customer_id
                )
            elif item.index in stored:
                results[item.index] = EventResult(
                    index=item.index,
                    status="created",
                    event_id=stored[item.index],
                    customer_id=item.customer_id,
                )
            else:  # a concurrent request stored the same message_id first
                results[item.index] = EventResult(
                    index=item.index,
                    status="duplicate",
                    event_id=Event.objects.filter(idempotency_key=item.message_id)
                    .values_list("pk", flat=True)
                    .first(),
                )
        apply_event_increments(
            [
                Event(
                    customer_id=i.customer_id,
                    type=i.type,
                    occurred_at=i.occurred_at,
                    properties=i.properties,
                )
                for i in to_store
                if i.index in stored
            ]
        )
    return [results[i] for i in range(len(events))]
