"""After the order is placed: transfers arriving, picking, the pickup desk, expiry, cancelling.

Pickup lifecycle: placed → awaiting transfer (units on their way) → placed (to pick) → ready for
pickup (code sent) → collected | expired (end of the store's hold period, in the store's time
zone; a reminder the day before) | cancelled. Every change writes an OrderEvent with the user.

Locks: the order row first (``lock_order``), then inventory's (reservations, stock rows sorted).
"""

import secrets
import zoneinfo
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from customers import services as customer_services
from customers.models import EventType
from inventory import locks as stock_locks
from inventory import selectors as stock_selectors
from inventory import services as stock
from inventory.models import MovementKind, TransferStatus
from omni.signals import send_on_commit
from orders import allocation, locks, notifications, rules
from orders.exceptions import (
    InvalidCheckout,
    InvalidOrderState,
    NotEnoughToSell,
    TooManyAttempts,
    WrongPickupCode,
)
from orders.history import log
from orders.models import (
    OPEN_STATUSES,
    LineState,
    Order,
    OrderLine,
    OrderStatus,
    PaymentState,
    Refund,
)
from orders.payments import provider
from orders.signals import order_collected


def lock_order(order: Order) -> Order:
    """The order row, locked (the first lock of every order change), read afresh."""
    return locks.order_for_update(order.pk)


def _set_status(order: Order, status: str, note: str = "", acting_user=None, **fields) -> None:
    order.status = status
    for name, value in fields.items():
        setattr(order, name, value)
    order.save(update_fields=["status", "updated_at", *fields])
    log(order, status, note, acting_user)


def pay_refund(order: Order, amount: Decimal, reason: str, acting_user=None) -> Refund | None:
    """Money back through the payment provider; the order's payment state follows."""
    amount = min(amount, order.total - order.refunded_total)
    if amount <= 0:
        return None
    refund = Refund.objects.create(
        order=order,
        amount=amount,
        reason=reason[:255],
        provider_reference=provider().refund(order_number=order.number, amount=amount),
        acting_user=acting_user,
    )
    order.refunded_total += amount
    order.payment_state = (
        PaymentState.REFUNDED
        if order.refunded_total >= order.total
        else PaymentState.PARTIALLY_REFUNDED
    )
    order.save(update_fields=["refunded_total", "payment_state", "updated_at"])
    return refund


# --- Transfers arriving -----------------------------------------------------------------------


def take_over_transfer(*, transfer_id: int) -> list[Order]:
    """A transfer for pickup orders arrived: each order takes the units it held (receiver of
    ``inventory.signals.transfer_received``; safe to run twice; the beat task re-runs it)."""
    orders = list(Order.objects.filter(lines__transfer_id=transfer_id).distinct().order_by("pk"))
    done = []
    for order in orders:
        with transaction.atomic():
            order = lock_order(order)
            lines = list(order.lines.filter(transfer_id=transfer_id, state=LineState.IN_TRANSFER))
            if order.status not in OPEN_STATUSES or not lines:
                # Cancelled meanwhile (or nothing waits): the units become ordinary stock.
                stock.release_owner(owner=f"transfer:{transfer_id}")
                continue
            taken = stock.take_over_holds(transfer_id=transfer_id, owner=order.owner)
            short = []
            for line in lines:
                got = min(line.quantity, taken.get(line.variant_id, 0))
                taken[line.variant_id] = taken.get(line.variant_id, 0) - got
                if 0 < got < line.quantity:  # what arrived is allocated, the rest is short
                    _split_off(line, line.quantity - got, state=LineState.SHORT)
                line.state = LineState.ALLOCATED if got else LineState.SHORT
                if got < line.quantity or not got:
                    short.append(line.sku)
            OrderLine.objects.bulk_update(lines, ["state"])
            waiting = order.lines.filter(state=LineState.IN_TRANSFER).exists()
            if short:
                log(
                    order,
                    order.status,
                    _("Transfer arrived short of %(skus)s: re-allocate or refund.")
                    % {"skus": ", ".join(short)},
                )
            if not waiting and order.status == OrderStatus.AWAITING_TRANSFER:
                _set_status(order, OrderStatus.PLACED, _("Transfer received: ready to pick."))
            done.append(order)
    return done


def retake_received_transfers() -> int:
    """Catch up on transfers whose arrival no order took over (a receiver that crashed)."""
    owners = stock_selectors.owners_with_active_holds("transfer:")
    held = {int(owner.split(":", 1)[1]) for owner in owners}
    waiting = OrderLine.objects.filter(transfer_id__in=held).values_list("transfer_id", flat=True)
    ids = stock_selectors.received_transfer_ids(set(waiting))
    for transfer_id in sorted(ids):
        take_over_transfer(transfer_id=transfer_id)
    return len(ids)


# --- Picking and the pickup desk ----------------------------------------------------------------


def _code_digest(order: Order, code: str) -> str:
    return salted_hmac("orders.pickup-code", f"{order.pk}:{code.strip()}").hexdigest()


def hold_deadline(order: Order, ready_at: datetime) -> datetime:
    """The end of the store's hold period: midnight after the last day, in the store's zone."""
    tz = zoneinfo.ZoneInfo(order.location.timezone)
    last_day = ready_at.astimezone(tz).date() + timedelta(days=order.location.pickup_hold_days)
    return datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=tz)


@transaction.atomic
def mark_ready(*, order: Order, acting_user=None, now: datetime | None = None) -> str:
    """Staff picked every line: the order waits at the desk; the shopper gets the pickup code.

    Returns the code (shown once to the staff member too, e.g. to print on the bag).
    """
    order = lock_order(order)
    rules.check_ready(order)
    now = now or timezone.now()
    code = f"{secrets.randbelow(10**6):06d}"
    _set_status(
        order,
        OrderStatus.READY,
        _("Picked and waiting at the desk."),
        acting_user,
        ready_at=now,
        hold_until=hold_deadline(order, now),
        pickup_code_digest=_code_digest(order, code),
        code_attempts=0,
        code_locked_until=None,
    )
    order_id = order.pk
    transaction.on_commit(lambda: notifications.ready_for_pickup(order_id, code), robust=True)
    return code


def collect(
    *,
    order: Order,
    code: str = "",
    identity_checked: bool = False,
    acting_user=None,
    now: datetime | None = None,
) -> Order:
    """Hand the order over at the desk after checking the code (or the shopper's identity).

    Wrong codes are counted (committed even though the call fails); after
    ``PICKUP_CODE_MAX_ATTEMPTS`` the code is locked for ``PICKUP_CODE_LOCKOUT``.
    """
    now = now or timezone.now()
    wrong = False
    with transaction.atomic():
        order = lock_order(order)
        rules.check_collect(order)
        if rules.code_locked(order, now) and not identity_checked:
            raise TooManyAttempts()
        if not identity_checked and (
            not code
            or not constant_time_compare(_code_digest(order, code), order.pickup_code_digest)
        ):
            wrong = True
            attempts = order.code_attempts + 1
            locked_until = None
            if attempts >= settings.PICKUP_CODE_MAX_ATTEMPTS:
                attempts, locked_until = 0, now + settings.PICKUP_CODE_LOCKOUT
            Order.objects.filter(pk=order.pk).update(
                code_attempts=attempts, code_locked_until=locked_until
            )
        if not wrong:
            _hand_over(order, acting_user, now, identity_checked)
    if wrong:
        raise WrongPickupCode(fields={"code": [_("Does not match.")]})
    return order


def _hand_over(order: Order, acting_user, now, identity_checked: bool) -> None:
    stock.consume(
        reservation_ids=stock_selectors.active_hold_ids(order.owner),
        reference=f"order:{order.number}",
        acting_user=acting_user,
    )
    order.lines.filter(state=LineState.ALLOCATED).update(state=LineState.FULFILLED)
    fields = {"closed_at": now, "code_attempts": 0, "code_locked_until": None}
    if order.payment_state == PaymentState.PAY_AT_PICKUP:
        fields["payment_state"] = PaymentState.PAID
        fields["payment_reference"] = provider().capture(
            order_number=order.number, amount=order.total
        )
    _set_status(
        order,
        OrderStatus.COLLECTED,
        _("Identity checked at the desk.") if identity_checked else _("Pickup code checked."),
        acting_user,
        **fields,
    )
    customer_services.record_customer_event(
        customer=order.customer,
        type=EventType.PICKUP_COLLECTED,
        channel="store",
        properties={"order": order.number, "store": order.location.code},
    )
    send_on_commit(order_collected, sender=Order, order_id=order.pk)


@transaction.atomic
def mark_shipped(*, order: Order, acting_user=None) -> Order:
    """A parcel order left its location(s): the held units become sales in the ledger."""
    order = lock_order(order)
    rules.check_ship(order)
    stock.consume(
        reservation_ids=stock_selectors.active_hold_ids(order.owner),
        reference=f"order:{order.number}",
        acting_user=acting_user,
    )
    order.lines.filter(state=LineState.ALLOCATED).update(state=LineState.FULFILLED)
    _set_status(order, OrderStatus.SHIPPED, "", acting_user, closed_at=timezone.now())
    return order


# --- Expiry ---------------------------------------------------------------------------------


def _expire_one(pk: int, now: datetime) -> bool:
    with transaction.atomic():
        order = locks.order_if_due_for_update(pk, status=OrderStatus.READY, hold_until__lte=now)
        if order is None:
            return False
        stock.release_owner(owner=order.owner)
        order.lines.filter(state=LineState.ALLOCATED).update(state=LineState.RELEASED)
        fields = {"closed_at": now}
        if order.payment_state in (PaymentState.PAID, PaymentState.PARTIALLY_REFUNDED):
            fields["payment_state"] = PaymentState.REFUND_DUE
        _set_status(order, OrderStatus.EXPIRED, _("Not collected in time."), **fields)
        order_id = order.pk
        transaction.on_commit(lambda: notifications.expired(order_id), robust=True)
    return True


def expire_uncollected(*, now: datetime | None = None) -> int:
    """Orders not collected by the end of their hold period expire: stock back, refund flagged.

    Each order is its own transaction; orders another worker is expiring are skipped.
    """
    now = now or timezone.now()
    due = Order.objects.filter(status=OrderStatus.READY, hold_until__lte=now).values_list(
        "pk", flat=True
    )
    return sum(_expire_one(pk, now) for pk in list(due))


# The reminder goes out on the last day of the hold, from 10:00 in the store's time zone
# (the hold ends at the following midnight, 14 hours later).
REMIND_BEFORE = timedelta(hours=14)


def remind_uncollected(*, now: datetime | None = None) -> int:
    """On the last day of the hold (from 10:00 store time), the shopper is reminded once."""
    now = now or timezone.now()
    sent = 0
    due = Order.objects.filter(
        status=OrderStatus.READY,
        reminder_sent_at__isnull=True,
        hold_until__lte=now + REMIND_BEFORE,
        hold_until__gt=now,
    ).values_list("pk", flat=True)
    for pk in list(due):
        with transaction.atomic():
            claimed = Order.objects.filter(
                pk=pk, status=OrderStatus.READY, reminder_sent_at__isnull=True
            ).update(reminder_sent_at=now)
            if claimed:
                transaction.on_commit(lambda pk=pk: notifications.reminder(pk), robust=True)
                sent += 1
    return sent


@transaction.atomic
def settle_refund(*, order: Order, acting_user=None) -> Order:
    """Pay back an order flagged "refund due" (expired after paying online)."""
    order = lock_order(order)
    if order.payment_state != PaymentState.REFUND_DUE:
        raise InvalidOrderState(_("No refund is due on order %(n)s.") % {"n": order.number})
    pay_refund(order, order.total - order.refunded_total, _("Not collected"), acting_user)
    log(order, order.status, _("Refund paid."), acting_user)
    return order


# --- Cancelling and short picks ---------------------------------------------------------------


@transaction.atomic
def cancel_order(*, order: Order, by_shopper: bool = False, reason: str = "", acting_user=None):
    """Cancel an open order: holds released, transfers not yet shipped cancelled, money back.

    A shopper may cancel until the order is ready; staff until it is collected.
    """
    order = lock_order(order)
    rules.check_cancel(order, by_shopper=by_shopper)
    _release_everything(order)
    order.lines.exclude(state=LineState.REFUNDED).update(state=LineState.REFUNDED)
    note = reason or (_("Cancelled by the shopper.") if by_shopper else _("Cancelled."))
    _set_status(order, OrderStatus.CANCELLED, note, acting_user, closed_at=timezone.now())
    if order.payment_state in (PaymentState.PAID, PaymentState.PARTIALLY_REFUNDED):
        pay_refund(order, order.total - order.refunded_total, note, acting_user)
    return order


def _release_everything(order: Order) -> None:
    """Give back every unit the order holds: its own holds, and those its transfers keep at the
    source (not shipped yet: the transfer is cancelled) or at the store (arrived, not taken over).

    Locks: the order (held by the caller), its transfers by pk, then every stock row at once in
    (location, variant) order — the same order a checkout and a transfer shipment use.
    """
    transfer_ids = order.lines.exclude(transfer=None).values_list("transfer_id", flat=True)
    transfers = stock_locks.transfers_for_update(set(transfer_ids))
    owners = [order.owner] + [
        f"transfer:{t.pk}"
        for t in transfers
        if t.status
        in (TransferStatus.DRAFT, TransferStatus.RECEIVED, TransferStatus.PARTIALLY_RECEIVED)
    ]
    stock.release(reservation_ids=stock_selectors.active_hold_ids(owners))
    for transfer in transfers:
        if transfer.status == TransferStatus.DRAFT:
            stock.cancel_transfer(transfer=transfer)


def _split_off(line: OrderLine, units: int, **fields) -> OrderLine:
    """Move ``units`` of a line to a new line (money split pro rata, to the cent); both saved."""
    share = Decimal(units) / Decimal(line.quantity)
    cent = Decimal("0.01")
    new = OrderLine.objects.create(
        order_id=line.order_id,
        variant_id=line.variant_id,
        sku=line.sku,
        name=line.name,
        quantity=units,
        unit_price=line.unit_price,
        discount=(line.discount * share).quantize(cent),
        tax_rate=line.tax_rate,
        tax=(line.tax * share).quantize(cent),
        total=(line.total * share).quantize(cent),
        location_id=line.location_id,
        transfer_id=line.transfer_id,
        state=fields.pop("state", line.state),
        **fields,
    )
    line.quantity -= units
    line.discount -= new.discount
    line.tax -= new.tax
    line.total -= new.total
    line.save(update_fields=["quantity", "discount", "tax", "total"])
    return new


@transaction.atomic
def short_pick(
    *, order: Order, line: OrderLine, missing: int, resolution: str, acting_user=None
) -> Order:
    """Units of a line are missing or damaged at the store.

    The missing units are written off through the ledger; then ``resolution`` is ``"refund"``
    (the line's units are refunded) or ``"reallocate"`` (the line comes again by transfer).
    """
    order = lock_order(order)
    rules.check_short_pick(order)
    line = locks.order_line_for_update(order, line.pk)
    rules.check_short_pick_line(line)
    if line.state == LineState.SHORT:  # never arrived: nothing on the shelf to write off
        missing = line.quantity
    if resolution not in ("refund", "reallocate"):
        raise InvalidCheckout(_("Choose refund or re-allocate."))
    if (
        isinstance(missing, bool)
        or not isinstance(missing, int)
        or not 0 < missing <= line.quantity
    ):
        raise InvalidCheckout(
            _("Missing units must be between 1 and %(n)s.") % {"n": line.quantity},
            fields={"missing": [f"1–{line.quantity}"]},
        )
    if resolution == "reallocate":  # before the write-off locks the store's row alone
        stock.lock_variant_for_reallocation(
            variant_id=line.variant_id, location_id=order.location_id
        )
    if line.state == LineState.ALLOCATED:
        _write_off_missing(order, line, missing, acting_user)
    if missing < line.quantity:  # the units still there stay on their own line
        _split_off(line, line.quantity - missing, state=LineState.ALLOCATED)
    return _resolve_short(order, line, resolution, acting_user)


def _write_off_missing(order: Order, line: OrderLine, missing: int, acting_user) -> None:
    """Free the line's units, write off the missing ones, hold the rest of the order again."""
    at_store = list(
        order.lines.filter(
            state=LineState.ALLOCATED, variant_id=line.variant_id, location_id=line.location_id
        ).exclude(pk=line.pk)
    )
    stock.release(
        reservation_ids=stock_selectors.active_hold_ids(
            order.owner, variant_id=line.variant_id, location_id=line.location_id
        )
    )
    stock.adjust_stock(
        variant=line.variant,
        location=line.location,
        delta=-missing,
        kind=MovementKind.WRITE_OFF,
        reason=_("Short pick for order %(number)s") % {"number": order.number},
        reference=f"order:{order.number}",
        acting_user=acting_user,
    )
    keep = sum(other.quantity for other in at_store) + line.quantity - missing
    if keep:
        stock.reserve(
            lines=[stock.StockLine(line.variant_id, line.location_id, keep)],
            owner=order.owner,
            channel=stock.COUNTER,
        )


def _resolve_short(order: Order, line: OrderLine, resolution: str, acting_user) -> Order:
    if resolution == "refund":
        return _refund_short(order, line, acting_user)
    return _send_short_again(order, line, acting_user)


def _refund_short(order: Order, line: OrderLine, acting_user) -> Order:
    """The missing line refunded (or no longer owed); the order cancelled if nothing is left."""
    line.state = LineState.REFUNDED
    line.save()
    if order.payment_state in (PaymentState.PAID, PaymentState.PARTIALLY_REFUNDED):
        pay_refund(order, line.total, _("Short pick: %(sku)s") % {"sku": line.sku}, acting_user)
    else:  # nothing taken yet: the shopper pays less at the desk
        order.subtotal -= line.unit_price * line.quantity
        order.discount_total -= line.discount
        order.tax_total -= line.tax
        order.total -= line.total
        order.save(update_fields=["subtotal", "discount_total", "tax_total", "total", "updated_at"])
    log(
        order,
        order.status,
        _("Short pick of %(sku)s refunded.") % {"sku": line.sku},
        acting_user,
    )
    if not order.lines.exclude(state=LineState.REFUNDED).exists():
        _release_everything(order)
        _set_status(
            order,
            OrderStatus.CANCELLED,
            _("Nothing left to collect."),
            acting_user,
            closed_at=timezone.now(),
        )
    return order


def _send_short_again(order: Order, line: OrderLine, acting_user) -> Order:
    """The line held again from other units on the shelf, or sent again by a transfer."""
    item = allocation.Item(line.variant, line.quantity, line.unit_price)
    try:
        allocations = allocation.allocate_pickup([item], order.location)
    except NotEnoughToSell:
        allocations = []
    if len(allocations) != 1:
        raise InvalidOrderState(_("No single location can send this item: refund it instead."))
    (chosen,) = allocations
    if not chosen.via_transfer:  # other units on the store's shelf
        stock.reserve(
            lines=[stock.StockLine(line.variant_id, line.location_id, line.quantity)],
            owner=order.owner,
        )
        line.state = LineState.ALLOCATED
        line.save(update_fields=["state"])
        log(
            order,
            order.status,
            _("Short pick of %(sku)s: other units taken from the shelf.") % {"sku": line.sku},
            acting_user,
        )
        return order
    new_holds = stock.reserve(
        lines=[stock.StockLine(line.variant_id, chosen.location_id, line.quantity)],
        owner=order.owner,
    )
    pending = allocation.request_transfers(order, [chosen], new_holds, acting_user)
    line.transfer = pending[chosen.location_id].transfer
    line.state = LineState.IN_TRANSFER
    line.save()
    promise = max(p.promise for p in pending.values())
    _set_status(
        order,
        OrderStatus.AWAITING_TRANSFER,
        _("Short pick of %(sku)s: coming again by transfer.") % {"sku": line.sku},
        acting_user,
        promised_on=promise,
        ready_at=None,
        hold_until=None,
        pickup_code_digest="",
    )
    return order
