"""Every change of stock. Each change of on_hand writes one StockMovement (the ledger).

Locking (ARCHITECTURE invariant 2): a caller's own row first (order, transfer), then stock rows
in (location_id, variant_id) order. Reservations use a guarded single UPDATE per line, lines
sorted in the same order, so concurrent multi-line reservations cannot deadlock or oversell.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory import locks, queries
from inventory.exceptions import (
    CountBelowReserved,
    InsufficientStock,
    InvalidQuantity,
    InvalidTransferState,
    LocationNotSellingOnline,
    ReservationNotActive,
    StockCountImportInvalid,
)
from inventory.models import (
    Location,
    MovementKind,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
    Transfer,
    TransferLine,
    TransferRoute,
    TransferStatus,
    Variant,
)
from inventory.signals import transfer_received
from omni.signals import send_on_commit

MAX_COUNTED = 1_000_000
ONLINE = "online"
COUNTER = "counter"
CHANNELS = (ONLINE, COUNTER)


@dataclass(frozen=True)
class StockLine:
    variant_id: int
    location_id: int
    quantity: int


def _check_quantity(quantity, *, allow_zero=False) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidQuantity()
    if quantity < 0 or (quantity == 0 and not allow_zero):
        raise InvalidQuantity()
    return quantity


def _ensure_levels(pairs: Iterable[tuple[int, int]]) -> None:
    """Create missing stock rows (zero) so they can be locked; concurrent creators are fine."""
    pairs = sorted(set(pairs))
    StockLevel.objects.bulk_create(
        [StockLevel(location_id=loc, variant_id=var) for loc, var in pairs],
        ignore_conflicts=True,
    )


def _write_movement(level, *, kind, delta, reason="", reference="", acting_user=None):
    return StockMovement.objects.create(
        variant_id=level.variant_id,
        location_id=level.location_id,
        kind=kind,
        delta=delta,
        balance=level.on_hand,
        reason=reason,
        reference=reference,
        acting_user=acting_user,
    )


def _change_on_hand(
    level: StockLevel, delta: int, *, kind, reason="", reference="", acting_user=None
) -> StockMovement:
    """Apply a delta to a locked level and write its ledger row."""
    if level.on_hand + delta < level.reserved:
        available = level.sellable_units(counter=True)
        raise InsufficientStock(
            _("Only %(available)s unreserved units of this variant at this location.")
            % {"available": available},
            fields={"quantity": [_("At most %(n)s.") % {"n": available}]},
        )
    level.on_hand += delta
    level.save(update_fields=["on_hand", "updated_at"])
    return _write_movement(
        level, kind=kind, delta=delta, reason=reason, reference=reference, acting_user=acting_user
    )


def _locked_level(variant_id: int, location_id: int) -> StockLevel:
    _ensure_levels([(location_id, variant_id)])
    return locks.stock_levels_for_update([(location_id, variant_id)])[(location_id, variant_id)]


# --- On-hand changes --------------------------------------------------------------------------


@transaction.atomic
def receive_stock(
    *,
    variant: Variant,
    location: Location,
    quantity: int,
    reference="",
    reason="",
    acting_user=None,
) -> StockMovement:
    """Goods in (supplier delivery, ERP receipt)."""
    _check_quantity(quantity)
    level = _locked_level(variant.pk, location.pk)
    return _change_on_hand(
        level,
        quantity,
        kind=MovementKind.RECEIPT,
        reason=reason,
        reference=reference,
        acting_user=acting_user,
    )


ADJUSTMENT_KINDS = (
    MovementKind.ADJUSTMENT,
    MovementKind.WRITE_OFF,
    MovementKind.RETURN,
    MovementKind.SALE,
)


@transaction.atomic
def adjust_stock(
    *,
    variant: Variant,
    location: Location,
    delta: int,
    reason: str,
    kind: str = MovementKind.ADJUSTMENT,
    reference="",
    acting_user=None,
) -> StockMovement:
    """A manual correction (with a reason), a write-off, a counter sale or a return."""
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise InvalidQuantity(_("The change must be a whole number other than zero."))
    if kind not in ADJUSTMENT_KINDS:
        raise InvalidQuantity(_("Unknown adjustment kind “%(kind)s”.") % {"kind": kind})
    if kind in (MovementKind.WRITE_OFF, MovementKind.SALE) and delta > 0:
        raise InvalidQuantity(_("A write-off or a sale lowers stock: use a negative change."))
    if kind == MovementKind.RETURN and delta < 0:
        raise InvalidQuantity(_("A return adds stock: use a positive change."))
    reason = (reason or "").strip()
    if not reason:
        raise InvalidQuantity(
            _("Give a reason for the adjustment."), fields={"reason": [_("Required.")]}
        )
    level = _locked_level(variant.pk, location.pk)
    return _change_on_hand(
        level, delta, kind=kind, reason=reason, reference=reference, acting_user=acting_user
    )


@transaction.atomic
def record_count(
    *, variant: Variant, location: Location, counted: int, reference="", acting_user=None
) -> StockMovement | None:
    """A physical count: writes the variance (if any) as a count movement."""
    _check_quantity(counted, allow_zero=True)
    level = _locked_level(variant.pk, location.pk)
    if counted < level.reserved:
        raise CountBelowReserved(
            _("Counted %(counted)s but %(reserved)s units are reserved for customers.")
            % {"counted": counted, "reserved": level.reserved}
        )
    delta = counted - level.on_hand
    if delta == 0:
        return None
    return _change_on_hand(
        level,
        delta,
        kind=MovementKind.COUNT,
        reason=_("Stock count"),
        reference=reference,
        acting_user=acting_user,
    )


# --- Reservations -----------------------------------------------------------------------------


def _release_expired_at(location_id: int, variant_id: int, now: datetime) -> int:
    """Expire the overdue holds of one stock row (skipping rows another worker is expiring)."""
    overdue = list(
        Reservation.objects.filter(
            location_id=location_id,
            variant_id=variant_id,
            status=ReservationStatus.ACTIVE,
            expires_at__lte=now,
        )
        .order_by("pk")
        .select_for_update(skip_locked=True)
        .values_list("pk", "quantity")
    )
    if not overdue:
        return 0
    Reservation.objects.filter(pk__in=[pk for pk, _ in overdue]).update(
        status=ReservationStatus.EXPIRED, closed_at=now
    )
    total = sum(qty for _, qty in overdue)
    StockLevel.objects.filter(location_id=location_id, variant_id=variant_id).update(
        reserved=F("reserved") - total
    )
    return total


def _hold(line: StockLine, *, channel: str) -> bool:
    """Guarded single UPDATE: take the units only if they are there (sellable ≥ quantity)."""
    return bool(
        StockLevel.objects.filter(location_id=line.location_id, variant_id=line.variant_id)
        .sellable_at_least(line.quantity, counter=channel == COUNTER)
        .update(reserved=F("reserved") + line.quantity)
    )


def lock_variant_for_reallocation(*, variant_id: int, location_id: int) -> None:
    """Lock, in (location, variant) order, the variant's stock rows at ``location_id`` and at
    every location a re-allocation could take it from (active, selling online).

    For a caller that will touch the row at ``location_id`` and then, in the same transaction,
    rows elsewhere chosen later (e.g. a short pick re-allocated by transfer): without this, it
    would hold the store's row while waiting for a source's row, against the order every other
    transaction locks them in — a deadlock with any multi-line reservation of the two.
    """
    online = Location.objects.selling_online().values_list("pk", flat=True)
    locks.variant_stock_for_update(variant_id, {location_id, *online})


def reserve(
    *,
    lines: Sequence[StockLine],
    owner: str,
    expires_at: datetime | None = None,
    ttl: timedelta | None = None,
    channel: str = ONLINE,
) -> list[Reservation]:
    """Hold units for an owner (``cart:42``, ``order:…``): every line or none.

    Online (remote) channels may not take the safety stock and only reserve at locations that
    sell online; the counter may take both.
    """
    if not lines:
        raise InvalidQuantity(_("Nothing to reserve."))
    if channel not in CHANNELS:
        raise InvalidQuantity(_("Unknown channel “%(channel)s”.") % {"channel": channel})
    if not owner:
        raise InvalidQuantity(_("A reservation needs an owner."))
    merged: dict[tuple[int, int], int] = defaultdict(int)
    for line in lines:
        merged[(line.location_id, line.variant_id)] += _check_quantity(line.quantity)
    if ttl is not None:
        expires_at = timezone.now() + ttl
    # First the one-statement hold (queries); if a line is short, the general path below
    # releases overdue holds, retries and explains.
    hold = {"owner": owner, "channel": channel, "expires_at": expires_at}
    if len(merged) == 1:
        (((location_id, variant_id), quantity),) = merged.items()
        reservation = queries.reserve_one(
            location_id=location_id,
            variant_id=variant_id,
            quantity=quantity,
            counter=channel == COUNTER,
            **hold,
        )
        if reservation is not None:
            return [reservation]
    else:
        reservations = queries.reserve_batch(lines=merged, counter=channel == COUNTER, **hold)
        if reservations is not None:
            return reservations
    with transaction.atomic():
        return _reserve_lines(merged, owner=owner, channel=channel, expires_at=expires_at)


def _reserve_lines(merged, *, owner, channel, expires_at) -> list[Reservation]:
    if channel == ONLINE:
        location_ids = {loc for loc, _ in merged}
        online = set(
            Location.objects.selling_online()
            .filter(pk__in=location_ids)
            .values_list("pk", flat=True)
        )
        if location_ids - online:
            raise LocationNotSellingOnline()

    # Insert the holds first and take the row locks last: a stock row stays locked only from
    # its guarded UPDATE to COMMIT, which keeps a hot variant's throughput up. If a line is
    # short, raising rolls the inserted holds back with everything else.
    reservations = Reservation.objects.bulk_create(
        [
            Reservation(
                variant_id=variant_id,
                location_id=location_id,
                quantity=quantity,
                owner=owner,
                channel=channel,
                expires_at=expires_at,
            )
            for (location_id, variant_id), quantity in sorted(merged.items())
        ]
    )
    now = timezone.now()
    for (location_id, variant_id), quantity in sorted(merged.items()):
        line = StockLine(variant_id=variant_id, location_id=location_id, quantity=quantity)
        if _hold(line, channel=channel):
            continue
        if _release_expired_at(location_id, variant_id, now) and _hold(line, channel=channel):
            continue
        raise InsufficientStock(
            _("Not enough stock of %(sku)s at %(location)s.")
            % {
                "sku": Variant.objects.filter(pk=variant_id).values_list("sku", flat=True).first(),
                "location": Location.objects.filter(pk=location_id)
                .values_list("code", flat=True)
                .first(),
            },
            variant_id=variant_id,
            location_id=location_id,
        )
    return reservations


def _close(reservations, *, status, now) -> None:
    ids = [r.pk for r in reservations]
    Reservation.objects.filter(pk__in=ids).update(status=status, closed_at=now)
    for reservation in reservations:
        reservation.status, reservation.closed_at = status, now


@transaction.atomic
def release(*, reservation_ids: Iterable[int]) -> int:
    """Give held units back. Releasing an already closed reservation does nothing."""
    now = timezone.now()
    active = [
        r
        for r in locks.reservations_for_update(reservation_ids)
        if r.status == ReservationStatus.ACTIVE
    ]
    if not active:
        return 0
    per_level: dict[tuple[int, int], int] = defaultdict(int)
    for r in active:
        per_level[(r.location_id, r.variant_id)] += r.quantity
    levels = locks.stock_levels_for_update(per_level)
    for pair, quantity in sorted(per_level.items()):
        level = levels[pair]
        level.reserved -= quantity
        level.save(update_fields=["reserved", "updated_at"])
    _close(active, status=ReservationStatus.RELEASED, now=now)
    return len(active)


def release_owner(*, owner: str) -> int:
    ids = Reservation.objects.filter(owner=owner, status=ReservationStatus.ACTIVE).values_list(
        "pk", flat=True
    )
    return release(reservation_ids=list(ids))


@transaction.atomic
def consume(
    *, reservation_ids: Iterable[int], reference="", acting_user=None
) -> list[StockMovement]:
    """Turn held units into a sale: reserved and on_hand drop, one sale movement per line."""
    now = timezone.now()
    reservations = list(locks.reservations_for_update(reservation_ids))
    for r in reservations:
        if r.status != ReservationStatus.ACTIVE or (r.expires_at and r.expires_at <= now):
            raise ReservationNotActive(
                _("Reservation %(id)s is %(status)s.")
                % {
                    "id": r.pk,
                    "status": r.get_status_display() if r.status != "active" else _("expired"),
                }
            )
    per_level: dict[tuple[int, int], int] = defaultdict(int)
    for r in reservations:
        per_level[(r.location_id, r.variant_id)] += r.quantity
    levels = locks.stock_levels_for_update(per_level)
    movements = []
    for pair, quantity in sorted(per_level.items()):
        level = levels[pair]
        level.reserved -= quantity
        level.on_hand -= quantity
        level.save(update_fields=["reserved", "on_hand", "updated_at"])
        movements.append(
            _write_movement(
                level,
                kind=MovementKind.SALE,
                delta=-quantity,
                reference=reference,
                acting_user=acting_user,
            )
        )
    _close(reservations, status=ReservationStatus.CONSUMED, now=now)
    return movements


def expire_reservations(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Release every hold past its expiry, exactly once (the beat task runs this every minute).

    Each batch is its own transaction; rows another worker is expiring are skipped, so two
    overlapping runs never release the same hold twice.
    """
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            batch = list(
                Reservation.objects.filter(status=ReservationStatus.ACTIVE, expires_at__lte=now)
                .order_by("pk")
                .select_for_update(skip_locked=True)
                .values_list("pk", "location_id", "variant_id", "quantity")[:batch_size]
            )
            if not batch:
                return total
            Reservation.objects.filter(pk__in=[row[0] for row in batch]).update(
                status=ReservationStatus.EXPIRED, closed_at=now
            )
            per_level: dict[tuple[int, int], int] = defaultdict(int)
            for _pk, location_id, variant_id, quantity in batch:
                per_level[(location_id, variant_id)] += quantity
            levels = locks.stock_levels_for_update(per_level)
            for pair, quantity in sorted(per_level.items()):
                level = levels[pair]
                level.reserved -= quantity
                level.save(update_fields=["reserved", "updated_at"])
            total += len(batch)
        if len(batch) < batch_size:
            return total


# --- Transfers --------------------------------------------------------------------------------


def lead_time_days(source_id: int, destination_id: int) -> int:
    route = TransferRoute.objects.filter(source_id=source_id, destination_id=destination_id).first()
    return route.lead_time_days if route else settings.TRANSFER_DEFAULT_LEAD_DAYS


@transaction.atomic
def create_transfer(
    *,
    source: Location,
    destination: Location,
    lines: dict[int, int],
    reference="",
    note="",
    acting_user=None,
) -> Transfer:
    """A draft transfer of {variant_id: quantity} from one location to another."""
    if source.pk == destination.pk:
        raise InvalidTransferState(_("A transfer needs two different locations."))
    if not lines:
        raise InvalidQuantity(_("A transfer needs at least one line."))
    for quantity in lines.values():
        _check_quantity(quantity)
    if Variant.objects.filter(pk__in=list(lines)).count() != len(lines):
        raise InvalidQuantity(_("Unknown variant on the transfer."))
    transfer = Transfer.objects.create(
        source=source,
        destination=destination,
        reference=reference,
        note=note,
        created_by=acting_user,
    )
    TransferLine.objects.bulk_create(
        [
            TransferLine(transfer=transfer, variant_id=variant_id, quantity=quantity)
            for variant_id, quantity in sorted(lines.items())
        ]
    )
    return transfer


@transaction.atomic
def ship_transfer(*, transfer: Transfer, acting_user=None) -> Transfer:
    """Units leave the source (transfer-out movements) and are in transit to the destination."""
    transfer = locks.transfer_for_update(transfer.pk)
    if transfer.status != TransferStatus.DRAFT:
        raise InvalidTransferState(
            _("Transfer %(id)s is %(status)s; only a draft can be shipped.")
            % {"id": transfer.pk, "status": transfer.get_status_display()}
        )
    lines = list(transfer.lines.all())
    if not lines:
        raise InvalidQuantity(_("A transfer needs at least one line."))
    pairs = [(transfer.source_id, line.variant_id) for line in lines]
    pairs += [(transfer.destination_id, line.variant_id) for line in lines]
    _ensure_levels(pairs)
    levels = locks.stock_levels_for_update(pairs)
    reference = f"transfer:{transfer.pk}"
    if transfer.holds_units:
        _close_transfer_holds(transfer, levels, status=ReservationStatus.CONSUMED)
    for line in lines:
        _change_on_hand(
            levels[(transfer.source_id, line.variant_id)],
            -line.quantity,
            kind=MovementKind.TRANSFER_OUT,
            reference=reference,
            acting_user=acting_user,
        )
    for line in lines:
        level = levels[(transfer.destination_id, line.variant_id)]
        level.in_transit += line.quantity
        level.save(update_fields=["in_transit", "updated_at"])
    now = timezone.now()
    transfer.status = TransferStatus.SHIPPED
    transfer.shipped_at = now
    transfer.expected_on = timezone.localdate(now) + timedelta(
        days=lead_time_days(transfer.source_id, transfer.destination_id)
    )
    transfer.save(update_fields=["status", "shipped_at", "expected_on"])
    return transfer


@transaction.atomic
def receive_transfer(
    *, transfer: Transfer, received: dict[int, int] | None = None, acting_user=None
) -> Transfer:
    """Units arrive (transfer-in movements); a short or over delivery is kept as a discrepancy.

    ``received`` maps variant_id → units received; missing variants count as received in full.
    """
    transfer = locks.transfer_for_update(transfer.pk)
    if transfer.status != TransferStatus.SHIPPED:
        raise InvalidTransferState(
            _("Transfer %(id)s is %(status)s; only a shipped transfer can be received.")
            % {"id": transfer.pk, "status": transfer.get_status_display()}
        )
    received = dict(received or {})
    lines = list(transfer.lines.all())
    unknown = set(received) - {line.variant_id for line in lines}
    if unknown:
        raise InvalidQuantity(_("Those variants are not on this transfer."))
    for quantity in received.values():
        _check_quantity(quantity, allow_zero=True)
    levels = locks.stock_levels_for_update(
        [(transfer.destination_id, line.variant_id) for line in lines]
    )
    reference = f"transfer:{transfer.pk}"
    complete = True
    for line in lines:
        got = received.get(line.variant_id, line.quantity)
        level = levels[(transfer.destination_id, line.variant_id)]
        level.in_transit -= line.quantity
        level.save(update_fields=["in_transit", "updated_at"])
        if got:
            reason = ""
            if got != line.quantity:
                reason = _("Expected %(expected)s, received %(got)s") % {
                    "expected": line.quantity,
                    "got": got,
                }
            _change_on_hand(
                level,
                got,
                kind=MovementKind.TRANSFER_IN,
                reason=reason,
                reference=reference,
                acting_user=acting_user,
            )
        line.received_qty = got
        line.save(update_fields=["received_qty"])
        complete &= got == line.quantity
        held = min(got, line.quantity)
        if transfer.holds_units and held:
            # The units arrived for an order: they stay held (by the transfer) until the order
            # takes them over, so no other channel can sell them in between. Units delivered on
            # top of what was sent are ordinary stock.
            level.reserved += held
            level.save(update_fields=["reserved", "updated_at"])
            Reservation.objects.create(
                variant_id=line.variant_id,
                location_id=transfer.destination_id,
                quantity=held,
                owner=reference,
                channel=COUNTER,
            )
    transfer.status = TransferStatus.RECEIVED if complete else TransferStatus.PARTIALLY_RECEIVED
    transfer.received_at = timezone.now()
    transfer.save(update_fields=["status", "received_at"])
    send_on_commit(transfer_received, sender=Transfer, transfer_id=transfer.pk)
    return transfer


@transaction.atomic
def cancel_transfer(*, transfer: Transfer) -> Transfer:
    transfer = locks.transfer_for_update(transfer.pk)
    if transfer.status != TransferStatus.DRAFT:
        raise InvalidTransferState(_("Only a draft transfer can be cancelled."))
    if transfer.holds_units:
        pairs = [
            (transfer.source_id, v) for v in transfer.lines.values_list("variant_id", flat=True)
        ]
        _close_transfer_holds(
            transfer, locks.stock_levels_for_update(pairs), status=ReservationStatus.RELEASED
        )
    transfer.status = TransferStatus.CANCELLED
    transfer.save(update_fields=["status"])
    return transfer


def _close_transfer_holds(transfer: Transfer, levels, *, status) -> None:
    """Close the holds a transfer keeps at its source (levels: the locked source rows)."""
    holds = list(
        locks.reservations_for_update(
            Reservation.objects.filter(
                owner=f"transfer:{transfer.pk}",
                location_id=transfer.source_id,
                status=ReservationStatus.ACTIVE,
            ).values_list("pk", flat=True)
        )
    )
    for hold in holds:
        level = levels[(hold.location_id, hold.variant_id)]
        level.reserved -= hold.quantity
        level.save(update_fields=["reserved", "updated_at"])
    _close(holds, status=status, now=timezone.now())


@transaction.atomic
def hold_for_transfer(*, transfer: Transfer, reservation_ids: Iterable[int]) -> Transfer:
    """Hand active reservations at the transfer's source over to the transfer (for an order).

    The transfer then keeps the units held: at the source until it ships, at the destination
    from the moment they are received until the order takes them (``take_over_holds``).
    """
    transfer = locks.transfer_for_update(transfer.pk)
    if transfer.status != TransferStatus.DRAFT:
        raise InvalidTransferState(_("Only a draft transfer can hold units."))
    needed = dict(transfer.lines.values_list("variant_id", "quantity"))
    holds = list(locks.reservations_for_update(reservation_ids))
    held: dict[int, int] = defaultdict(int)
    for hold in holds:
        if hold.status != ReservationStatus.ACTIVE or hold.location_id != transfer.source_id:
            raise ReservationNotActive(_("Only active holds at the source can travel."))
        held[hold.variant_id] += hold.quantity
    if dict(held) != needed:
        raise InvalidQuantity(_("The holds do not match the transfer's lines."))
    Reservation.objects.filter(pk__in=[h.pk for h in holds]).update(
        owner=f"transfer:{transfer.pk}", expires_at=None
    )
    transfer.holds_units = True
    transfer.save(update_fields=["holds_units"])
    return transfer


def take_over_holds(*, transfer_id: int, owner: str) -> dict[int, int]:
    """Re-own the units a received transfer holds at its destination; {variant_id: units}.

    Call inside the new owner's transaction (after locking the owner's row). Idempotent: a
    second call finds nothing left to take.
    """
    holds = list(
        locks.reservations_for_update(
            Reservation.objects.filter(
                owner=f"transfer:{transfer_id}",
                status=ReservationStatus.ACTIVE,
                location__transfers_in__pk=transfer_id,
            ).values_list("pk", flat=True)
        )
    )
    Reservation.objects.filter(pk__in=[h.pk for h in holds]).update(owner=owner)
    taken: dict[int, int] = defaultdict(int)
    for hold in holds:
        taken[hold.variant_id] += hold.quantity
    return dict(taken)


# --- Settings on a stock row ------------------------------------------------------------------


@transaction.atomic
def set_stock_parameters(
    *,
    variant: Variant,
    location: Location,
    safety_stock: int | None = None,
    min_qty: int | None = None,
    max_qty: int | None = None,
) -> StockLevel:
    """Safety stock and min/max replenishment levels of one row (never on_hand)."""
    level = _locked_level(variant.pk, location.pk)
    for name, value in (("safety_stock", safety_stock), ("min_qty", min_qty), ("max_qty", max_qty)):
        if value is not None:
            setattr(level, name, _check_quantity(value, allow_zero=True))
    if level.max_qty < level.min_qty:
        raise InvalidQuantity(
            _("The maximum must not be below the minimum."), fields={"max_qty": [_("Below min.")]}
        )
    level.save(update_fields=["safety_stock", "min_qty", "max_qty", "updated_at"])
    return level


@transaction.atomic
def create_replenishment_transfers(*, plan, acting_user=None) -> list[Transfer]:
    """Turn a replenishment plan into draft transfers, one per (source, destination)."""
    grouped: dict[tuple[int, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for line in plan:
        grouped[(line.source_id, line.destination_id)][line.variant_id] += line.quantity
    locations = Location.objects.in_bulk({pk for pair in grouped for pk in pair})
    return [
        create_transfer(
            source=locations[source_id],
            destination=locations[destination_id],
            lines=dict(lines),
            reference="replenishment",
            acting_user=acting_user,
        )
        for (source_id, destination_id), lines in sorted(grouped.items())
    ]


@transaction.atomic
def import_stock_count(
    *, rows: Sequence[tuple[int, dict]], locations, reference="", acting_user=None
) -> list[StockMovement]:
    """Apply a physical count (rows of location code, sku, counted): every row or none.

    ``locations`` are the locations the user may count (``locations_for_user``). Every bad row
    is reported by its line number; if any row is bad nothing is applied.
    """
    allowed = {loc.code: loc for loc in locations}
    skus = {row.get("sku", "") for _, row in rows}
    variants = {v.sku: v for v in Variant.objects.filter(sku__in=skus)}
    errors, parsed, seen = [], [], set()
    for line_no, row in rows:
        code, sku, raw = row.get("location", ""), row.get("sku", ""), row.get("counted", "")
        location, variant = allowed.get(code), variants.get(sku)
        if location is None:
            errors.append((line_no, _("unknown location “%(code)s” or not yours") % {"code": code}))
            continue
        if variant is None:
            errors.append((line_no, _("unknown SKU “%(sku)s”") % {"sku": sku}))
            continue
        try:
            counted = int(raw)
        except ValueError:
            errors.append((line_no, _("counted “%(raw)s” is not a whole number") % {"raw": raw}))
            continue
        if counted < 0:
            errors.append((line_no, _("counted must not be negative")))
            continue
        if counted > MAX_COUNTED:
            errors.append((line_no, _("counted must be at most %(n)s") % {"n": MAX_COUNTED}))
            continue
        if (location.pk, variant.pk) in seen:
            errors.append(
                (line_no, _("%(sku)s at %(code)s appears twice") % {"sku": sku, "code": code})
            )
            continue
        seen.add((location.pk, variant.pk))
        parsed.append((line_no, location, variant, counted))
    reserved = {
        (lvl.location_id, lvl.variant_id): lvl.reserved
        for lvl in StockLevel.objects.filter(
            location_id__in={p[1].pk for p in parsed}, variant_id__in={p[2].pk for p in parsed}
        )
    }
    for line_no, location, variant, counted in parsed:
        held = reserved.get((location.pk, variant.pk), 0)
        if counted < held:
            errors.append(
                (line_no, _("counted %(c)s but %(r)s are reserved") % {"c": counted, "r": held})
            )
    if errors:
        raise StockCountImportInvalid(sorted(errors))
    reference = reference or f"count:{timezone.localdate().isoformat()}"
    movements = []
    for _line_no, location, variant, counted in sorted(parsed, key=lambda p: (p[1].pk, p[2].pk)):
        movement = record_count(
            variant=variant,
            location=location,
            counted=counted,
            reference=reference,
            acting_user=acting_user,
        )
        if movement is not None:
            movements.append(movement)
    return movements
