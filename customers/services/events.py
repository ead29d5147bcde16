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
* Every field is checked for its type before use; text PostgreSQL cannot store (a NUL, a lone
  surrogate) and impossible timestamps are that event's error too, never a failed batch.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from customers import queries
from customers.exceptions import InvalidIdentifier
from customers.identifiers import normalise
from customers.models import (
    OUTBOUND_EVENT_TYPES,
    Channel,
    Customer,
    CustomerStatus,
    Event,
    EventType,
    Identity,
    IdentityKind,
)
from customers.services.profiles import (
    IDENTITY_LIMITS,
    Identifier,
    blocked_identifiers,
    identifier_owners,
    identify,
    lock_identifiers,
)
from customers.traits import apply_event_increments
from omni.exceptions import DomainError
from omni.text import MESSAGE_LENGTH, is_storable, path_name, shorten, unstorable_path

CALL_TYPES = ("track", "page", "identify")
CHANNELS = frozenset(Channel.values)
EVENT_TYPES = frozenset(EventType.values) - OUTBOUND_EVENT_TYPES  # clients report what shoppers did
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
KNOWN_KINDS = (
    IdentityKind.EMAIL,
    IdentityKind.PHONE,
    IdentityKind.LOYALTY_CARD,
    IdentityKind.POS_ID,
)
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
    properties_json: str = "{}"
    occurred_at: datetime | None = None
    message_id: str | None = None
    profile: dict = field(default_factory=dict)
    customer_id: int | None = None


def _error(index, message, fields=None, code="invalid") -> EventResult:
    return EventResult(
        index=index,
        status="error",
        error={"code": code, "message": shorten(message, MESSAGE_LENGTH), "fields": fields or {}},
    )


PUBLIC_IDENTIFIERS = ("anonymous_id", "push_token")
# PostgreSQL's jsonb refuses the escape \u0000 (not a backslash followed by "u0000").
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
MAX_ORDER_TOTAL = Decimal("999999.99")
_PROPERTIES_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False)  # built once


class _Invalid(Exception):
    """An event refused while parsing: becomes its ``error`` result (nothing is written)."""

    def __init__(self, message, fields=None, code="invalid"):
        super().__init__(message)
        self.message, self.fields, self.code = message, fields, code


def _unstorable(name: str) -> _Invalid:
    message = _("Null characters and lone surrogates are not allowed.")
    return _Invalid(message, {name: [message]})


def _parse(index: int, raw, trusted: bool) -> _Parsed | EventResult:
    if not isinstance(raw, dict):
        return _error(index, _("Each event must be a JSON object."))
    try:
        return _parse_event(index, raw, trusted)
    except _Invalid as invalid:
        return _error(index, invalid.message, invalid.fields, invalid.code)


def _parse_event(index: int, raw: dict, trusted: bool) -> _Parsed:
    """Every field is checked for its type before it is used (raises _Invalid)."""
    call, channel = _call_and_channel(raw)
    message_id = _message_id(raw.get("message_id"))
    occurred_at = _occurred_at(raw.get("timestamp"))
    properties, traits = _objects(raw)
    if not trusted:
        _refuse_personal(raw, traits)
    identifiers = _identifiers(raw, traits)
    profile = _profile(traits)
    event_type, name = _event_type(call, raw.get("event"), properties)
    return _Parsed(
        index=index,
        call=call,
        identifiers=identifiers,
        channel=channel,
        type=event_type,
        name=name,
        properties=properties,
        properties_json=_properties_json(properties),
        occurred_at=occurred_at,
        message_id=message_id,
        profile=profile,
    )


def _call_and_channel(raw: dict) -> tuple[str, str]:
    call = raw.get("type", "track")
    if not isinstance(call, str) or call not in CALL_TYPES:
        raise _Invalid(
            _("“type” must be track, page or identify."), {"type": [_("Unknown call type.")]}
        )
    channel = raw.get("channel", Channel.WEB)
    if not isinstance(channel, str) or channel not in CHANNELS:
        raise _Invalid(_("Unknown channel."), {"channel": [_("Unknown channel.")]})
    return call, channel


def _message_id(message_id) -> str | None:
    if message_id is None:
        return None
    if not isinstance(message_id, str) or not 0 < len(message_id) <= 100:
        raise _Invalid(_("message_id must be 1–100 characters."), {"message_id": [_("Invalid.")]})
    if not is_storable(message_id):
        raise _unstorable("message_id")
    return message_id


def _occurred_at(timestamp) -> datetime:
    if timestamp is None:
        return timezone.now()
    try:
        parsed = parse_datetime(timestamp) if isinstance(timestamp, str) else None
    except ValueError:  # well formed but impossible: 30 February, hour 25, offset +25:00
        parsed = None
    if parsed is None:
        raise _Invalid(
            _("timestamp must be an ISO 8601 date-time."), {"timestamp": [_("Invalid.")]}
        )
    if timezone.is_naive(parsed):
        raise _Invalid(_("timestamp needs a time zone offset."), {"timestamp": [_("Naive.")]})
    try:  # PostgreSQL takes offsets up to 15:59 only; in UTC, past year 9999 is an overflow
        return parsed.astimezone(UTC)
    except OverflowError:
        raise _Invalid(
            _("timestamp must be an ISO 8601 date-time."), {"timestamp": [_("Invalid.")]}
        ) from None


def _objects(raw: dict) -> tuple[dict, dict]:
    properties = raw.get("properties") or {}
    if not isinstance(properties, dict):
        raise _Invalid(_("properties must be an object."), {"properties": [_("Invalid.")]})
    traits = raw.get("traits") or {}
    if not isinstance(traits, dict):
        raise _Invalid(_("traits must be an object."), {"traits": [_("Invalid.")]})
    return properties, traits


def _refuse_personal(raw: dict, traits: dict) -> None:
    personal = [k for k in IDENTIFIER_FIELDS if k not in PUBLIC_IDENTIFIERS and raw.get(k)]
    personal += [f"traits.{k}" for k in ("email", "phone", "loyalty_card") if traits.get(k)]
    if raw.get("email_verified") or traits.get("email_verified"):
        personal.append("email_verified")
    if personal:
        message = _("Personal identifiers need a server key (customers.add_event).")
        raise _Invalid(message, {name: [message] for name in personal}, "forbidden")


def _identifiers(raw: dict, traits: dict) -> list[Identifier]:
    sources = {
        **{k: raw.get(k) for k in IDENTIFIER_FIELDS},
        **{k: traits.get(k) for k in ("email", "phone", "loyalty_card") if traits.get(k)},
    }
    verified_email = bool(raw.get("email_verified") or traits.get("email_verified"))
    identifiers = []
    for name, value in sources.items():
        if value is None or value == "":
            continue
        kind = IDENTIFIER_FIELDS[name]
        try:
            value = normalise(kind, value)
        except InvalidIdentifier as exc:
            fields = next(iter(exc.fields.values())) if exc.fields else [exc.message]
            raise _Invalid(exc.message, {name: fields}) from None
        # Personal identifiers come with a server key only: the sender vouches for a phone;
        # an e-mail counts as verified when it says so.
        verified = kind == IdentityKind.PHONE or (name == "email" and verified_email)
        identifiers.append(Identifier(kind, value, verified))
    if not identifiers:
        raise _Invalid(
            _("An event needs an anonymous_id or an identifier (email, phone, …)."),
            {"anonymous_id": [_("Required when no other identifier is given.")]},
        )
    return identifiers


def _profile(traits: dict) -> dict:
    profile = {}
    for name in PROFILE_TRAITS:
        value = traits.get(name)
        if not isinstance(value, str) or not value.strip():
            continue
        value = value.strip()
        limit = Customer._meta.get_field(name).max_length
        if len(value) > limit:
            message = _("traits.%(name)s has more than %(n)s characters.") % {
                "name": name,
                "n": limit,
            }
            raise _Invalid(message, {f"traits.{name}": [message]})
        if not is_storable(value):
            raise _unstorable(f"traits.{name}")
        if name == "preferred_language" and value not in dict(settings.LANGUAGES):
            message = _("Unsupported language.")
            raise _Invalid(message, {"traits.preferred_language": [message]})
        profile[name] = value
    return profile


def _event_type(call: str, name, properties: dict) -> tuple[str, str]:
    """(type, custom name) of the event; an order's total is normalised in ``properties``."""
    if call == "page":
        return EventType.PAGE_VIEWED, ""
    if call != "track":
        return "", ""
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise _Invalid(_("A track call names its event."), {"event": [_("Required.")]})
    if not is_storable(name):
        raise _unstorable("event")
    name = name.strip()
    if name in EVENT_TYPES and name != EventType.CUSTOM:
        if name == EventType.ORDER_PLACED:
            properties["total"] = _order_total(properties.get("total"))
        return name, ""
    return EventType.CUSTOM, name


def _order_total(total) -> str:
    try:
        amount = Decimal(str(total)) if total is not None else None
    except (InvalidOperation, ValueError):
        amount = None
    if amount is None or not amount.is_finite() or abs(amount) > MAX_ORDER_TOTAL:
        raise _Invalid(
            _("order_placed needs properties.total as a decimal amount."),
            {"properties.total": [_("Invalid amount.")]},
        )
    return str(amount.quantize(Decimal("0.01")))


def _properties_json(properties: dict) -> str:
    """The properties as the JSON text stored (checked once here, reused by the insert)."""
    try:
        text = _PROPERTIES_JSON.encode(properties)
    except (TypeError, ValueError):
        text = None
    if text is None:
        raise _Invalid(_("properties must be an object."), {"properties": [_("Invalid.")]})
    # NUL comes out of json.dumps escaped (\\u0000), a lone surrogate as it is.
    if ("\\u0000" in text and _ESCAPED_NUL.search(text)) or not is_storable(text):
        raise _unstorable(path_name(("properties", *(unstorable_path(properties) or ()))))
    if len(text) > MAX_PROPERTIES_BYTES:
        raise _Invalid(_("properties are too large."), {"properties": [_("Too large.")]})
    return text


def _resolve_customers(items: list[_Parsed], source: str) -> list[_Parsed]:
    """Set ``customer_id`` on events in bulk; returns the events that need ``identify``.

    The common cases are set-based (a handful of queries per batch): every identifier of the
    event is unknown (a new profile), or the known ones all belong to one profile (the unknown
    ones are attached to it, stitching a device to the person). Anything that would stitch or
    merge two existing profiles goes through ``identify`` one event at a time.
    """
    everything = [i for item in items for i in item.identifiers]
    lock_identifiers(everything)
    blocked = blocked_identifiers(everything)
    owners = {key: set(ids) for key, ids in identifier_owners(everything).items()}
    involved = set().union(*owners.values()) if owners else set()
    anonymous_flags = dict(
        Customer.objects.filter(pk__in=involved).values_list("pk", "is_anonymous")
    )
    counts: dict[tuple[int, str], int] = {}
    for customer_id, kind in Identity.objects.filter(customer_id__in=involved).values_list(
        "customer_id", "kind"
    ):
        counts[(customer_id, kind)] = counts.get((customer_id, kind), 0) + 1

    new_profiles: list[list] = []  # [known?, identifiers]; customer id = -(index + 1)
    attach: list[tuple[int, Identifier]] = []
    verify: list[tuple[int, str]] = []  # (customer id, e-mail) proven by this batch
    slow: list[_Parsed] = []
    for item in items:
        idents = [i for i in item.identifiers if (i.kind, i.value) not in blocked]
        if not idents:  # only blocked ids (a shop's tablet): no one to tie the event to
            new_profiles.append([False, []])
            item.customer_id = -len(new_profiles)
            continue
        holders = set()
        for ident in idents:
            holders |= owners.get((ident.kind, ident.value), set())
        unowned = [i for i in idents if not owners.get((i.kind, i.value))]
        if not holders:
            known = any(i.kind in KNOWN_KINDS for i in idents)
            new_profiles.append([known, idents])
            customer_id = -len(new_profiles)
        elif len(holders) == 1:
            (customer_id,) = holders
            is_known = customer_id < 0 or not anonymous_flags.get(customer_id, True)
            if is_known and any(i.deterministic for i in unowned):
                slow.append(item)  # a known profile meets a new proof of identity: rules apply
                continue
            verify += [
                (customer_id, i.value)
                for i in idents
                if i.kind == IdentityKind.EMAIL and i.verified and i not in unowned
            ]
            for ident in unowned:
                if customer_id < 0:
                    new_profiles[-customer_id - 1][1].append(ident)
                else:
                    key = (customer_id, ident.kind)
                    if counts.get(key, 0) >= IDENTITY_LIMITS[ident.kind]:
                        continue
                    counts[key] = counts.get(key, 0) + 1
                    attach.append((customer_id, ident))
        else:
            slow.append(item)
            continue
        for ident in unowned:
            owners[(ident.kind, ident.value)] = {customer_id}
        item.customer_id = customer_id

    _write_resolved(items, new_profiles, attach, verify, anonymous_flags, source)
    return slow


def _write_resolved(items, new_profiles, attach, verify, anonymous_flags, source) -> None:
    """The set-based writes of ``_resolve_customers``: new profiles (their placeholder ids, -n,
    replaced by the real ones on the events), new identities, profiles now known, e-mails now
    verified; one statement each."""
    real: list[int] = []
    now = timezone.now()
    if new_profiles:
        real = queries.create_profiles([known for known, _ in new_profiles], now)
        attach += [(real[n], i) for n, (_, idents) in enumerate(new_profiles) for i in idents]
        for item in items:
            if item.customer_id is not None and item.customer_id < 0:
                item.customer_id = real[-item.customer_id - 1]
    if attach:
        queries.add_identities(
            [queries.NewIdentity(c, i.kind, i.value, i.verified) for c, i in attach],
            source=source,
            now=now,
        )
        now_known = {
            customer_id
            for customer_id, ident in attach
            if ident.kind in KNOWN_KINDS and anonymous_flags.get(customer_id)
        }
        if now_known:
            Customer.objects.filter(pk__in=now_known).update(is_anonymous=False, updated_at=now)
    if verify:
        proven = Q()
        for customer_id, value in verify:
            if customer_id < 0:
                customer_id = real[-customer_id - 1]
            proven |= Q(customer_id=customer_id, value=value)
        Identity.objects.filter(proven, kind=IdentityKind.EMAIL, verified=False).update(
            verified=True, last_seen_at=now
        )


def _follow_merges(items: list[_Parsed]) -> None:
    """Events resolved before an ``identify`` merged their profile follow it to the survivor."""
    ids = {i.customer_id for i in items if i.customer_id}
    moved = dict(
        Customer.objects.filter(pk__in=ids, status=CustomerStatus.MERGED).values_list(
            "pk", "merged_into_id"
        )
    )
    while moved:
        for item in items:
            if item.customer_id in moved:
                item.customer_id = moved[item.customer_id]
        moved = dict(
            Customer.objects.filter(
                pk__in=set(moved.values()), status=CustomerStatus.MERGED
            ).values_list("pk", "merged_into_id")
        )


def _insert(items: list[_Parsed]) -> dict[int, int]:
    """The events stored (index → id); a message_id already stored is skipped."""
    ids = queries.insert_events(
        [
            queries.NewEvent(
                customer_id=i.customer_id,
                channel=i.channel,
                type=i.type,
                name=i.name,
                properties=i.properties,
                properties_json=i.properties_json,
                occurred_at=i.occurred_at,
                idempotency_key=i.message_id,
            )
            for i in items
        ],
        received_at=timezone.now(),
    )
    return {i.index: pk for i, pk in zip(items, ids, strict=True) if pk is not None}


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
    fresh = _drop_duplicates(parsed, results)
    with transaction.atomic():
        slow = _resolve_customers(fresh, source or Channel.WEB)
        _identify_one_by_one(slow, results)
        _follow_merges(fresh)
        profiles = [i for i in fresh if i.profile and i.customer_id and i not in slow]
        for item in profiles:
            Customer.objects.filter(pk=item.customer_id).update(
                **item.profile, updated_at=timezone.now()
            )
        to_store = [
            i
            for i in fresh
            if i.customer_id is not None and i.call != "identify" and i.index not in results
        ]
        stored = _insert(to_store)
        _results_of_stored(fresh, stored, results)
        apply_event_increments([i for i in to_store if i.index in stored])
    return [results[i] for i in range(len(events))]


def _drop_duplicates(parsed: list[_Parsed], results: dict[int, EventResult]) -> list[_Parsed]:
    """The events not seen before nor twice in this batch; the others get a duplicate result."""
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
    return fresh


def _identify_one_by_one(slow: list[_Parsed], results: dict[int, EventResult]) -> None:
    """Events that would stitch or merge existing profiles: ``identify``, each in a savepoint
    (a refused one is an error result and leaves the others alone)."""
    for item in slow:
        try:
            with transaction.atomic():
                customer = identify(
                    identifiers=item.identifiers,
                    source=item.channel,
                    profile=item.profile,
                )
        except DomainError as exc:
            results[item.index] = _error(item.index, exc.message, exc.fields, exc.code)
            item.customer_id = None
            continue
        item.customer_id = customer.pk


def _results_of_stored(fresh, stored: dict[int, int], results: dict[int, EventResult]) -> None:
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
