"""Returns: any order, handed in at any store or sent by post to a warehouse.

``create_return`` records what comes back; ``receive_return`` inspects it: resellable units go
back into on_hand at the receiving location (a return movement), damaged ones are booked in and
written off (return + write-off movements, so the ledger shows both), and the refund is paid.
At the counter both happen at once.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers import services as customer_services
from customers.models import EventType
from inventory import services as stock
from inventory.models import Location, MovementKind
from omni.signals import send_on_commit
from orders import locks, rules
from orders.exceptions import InvalidReturn
from orders.history import log
from orders.models import (
    LineState,
    Order,
    OrderLine,
    PaymentState,
    Return,
    ReturnCondition,
    ReturnLine,
)
from orders.services.fulfilment import lock_order, pay_refund
from orders.signals import order_returned


@transaction.atomic
def create_return(
    *,
    order: Order,
    lines: dict[int, int],
    location: Location,
    by_post: bool = False,
    conditions: dict[int, str] | None = None,
    idempotency_key: str = "",
    acting_user=None,
) -> Return:
    """Record units coming back ({order_line_id: units}); with ``conditions`` also receive them.

    The same ``idempotency_key`` for the order returns the first return (a double submit).
    """
    order = lock_order(order)
    key = (idempotency_key or "").strip()[:64]
    if key:
        done = Return.objects.filter(order=order, idempotency_key=key).first()
        if done is not None:
            return done
    _check_returnable(order, location, lines)
    return_lines = _return_lines(order, lines)
    return_ = Return.objects.create(
        order=order,
        location=location,
        by_post=by_post,
        acting_user=acting_user,
        idempotency_key=key,
    )
    for rl in return_lines:
        rl.rma = return_
    ReturnLine.objects.bulk_create(return_lines)
    log(
        order,
        order.status,
        _("Return R%(id)s announced (%(where)s).")
        % {"id": return_.pk, "where": _("by post") if by_post else location.name},
        acting_user,
    )
    if conditions is not None:
        return_ = receive_return(return_=return_, conditions=conditions, acting_user=acting_user)
    return return_


def _check_returnable(order: Order, location: Location, lines: dict[int, int]) -> None:
    rules.check_return(order)
    if not location.active:
        raise InvalidReturn(_("This location is closed."), fields={"location": [location.code]})
    if not lines:
        raise InvalidReturn(_("Choose the lines that come back."), fields={"lines": [_("Empty.")]})


def _return_lines(order: Order, lines: dict[int, int]) -> list[ReturnLine]:
    """The lines coming back, each checked against what is left of it, with its refund (the
    last units refund what is left of the line's total, so rounding never adds up to more)."""
    order_lines = locks.order_lines_for_update(order)
    pending: dict[int, int] = {}
    for line_id, quantity in ReturnLine.objects.filter(
        rma__order=order, rma__received_at__isnull=True
    ).values_list("order_line_id", "quantity"):
        pending[line_id] = pending.get(line_id, 0) + quantity
    refunded: dict[int, Decimal] = {}
    for line_id, amount in ReturnLine.objects.filter(rma__order=order).values_list(
        "order_line_id", "refund_amount"
    ):
        refunded[line_id] = refunded.get(line_id, Decimal("0.00")) + amount
    return_lines = []
    for line_id, quantity in sorted(lines.items()):
        line = order_lines.get(line_id)
        if line is None or line.state != LineState.FULFILLED:
            raise InvalidReturn(
                _("Line %(id)s is not on this order or was not handed over.") % {"id": line_id},
                fields={"lines": [str(line_id)]},
            )
        left = line.quantity - line.returned_quantity - pending.get(line_id, 0)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 0 < quantity <= left:
            raise InvalidReturn(
                _("Between 1 and %(n)s units of %(sku)s can come back.")
                % {"n": left, "sku": line.sku},
                fields={"lines": [line.sku]},
            )
        if quantity == left and not pending.get(line_id):  # the last units: what is left
            refund = line.total - refunded.get(line_id, Decimal("0.00"))
        else:
            refund = (line.total * quantity / line.quantity).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_UP
            )
        return_lines.append(ReturnLine(order_line=line, quantity=quantity, refund_amount=refund))
    return return_lines


@transaction.atomic
def receive_return(*, return_: Return, conditions: dict[int, str], acting_user=None) -> Return:
    """Inspect the returned units ({order_line_id: resellable|damaged}); stock and refund follow."""
    order = lock_order(return_.order)
    return_ = locks.return_for_update(return_.pk)
    if return_.received_at is not None:
        raise InvalidReturn(_("This return was already received."))
    # Stock rows are locked in (location, variant) order: one location, sorted by variant.
    lines = list(
        return_.lines.select_related("order_line__variant").order_by("order_line__variant_id", "pk")
    )
    for rl in lines:
        condition = conditions.get(rl.order_line_id)
        if condition not in ReturnCondition.values:
            raise InvalidReturn(
                _("Say whether %(sku)s is resellable or damaged.") % {"sku": rl.order_line.sku},
                fields={"conditions": [rl.order_line.sku]},
            )
        rl.condition = condition
    reference = f"return:R{return_.pk}"
    for rl in lines:
        variant = rl.order_line.variant
        stock.adjust_stock(
            variant=variant,
            location=return_.location,
            delta=rl.quantity,
            kind=MovementKind.RETURN,
            reason=_("Returned from order %(number)s") % {"number": order.number},
            reference=reference,
            acting_user=acting_user,
        )
        if rl.condition == ReturnCondition.DAMAGED:
            stock.adjust_stock(
                variant=variant,
                location=return_.location,
                delta=-rl.quantity,
                kind=MovementKind.WRITE_OFF,
                reason=_("Returned damaged (order %(number)s)") % {"number": order.number},
                reference=reference,
                acting_user=acting_user,
            )
        OrderLine.objects.filter(pk=rl.order_line_id).update(
            returned_quantity=rl.order_line.returned_quantity + rl.quantity
        )
    ReturnLine.objects.bulk_update(lines, ["condition"])
    amount = sum((rl.refund_amount for rl in lines), Decimal("0.00"))
    refund = None
    if order.payment_state in (PaymentState.PAID, PaymentState.PARTIALLY_REFUNDED):
        refund = pay_refund(
            order, amount, _("Return R%(id)s") % {"id": return_.pk}, acting_user=acting_user
        )
    return_.refund = refund
    return_.received_at = timezone.now()
    return_.save(update_fields=["refund", "received_at"])
    log(order, order.status, _("Return R%(id)s received.") % {"id": return_.pk}, acting_user)
    customer_services.record_customer_event(
        customer=order.customer,
        type=EventType.RETURN_RECEIVED,
        channel="store" if not return_.by_post else order.channel,
        properties={"order": order.number, "store": return_.location.code, "refund": str(amount)},
    )
    send_on_commit(order_returned, sender=Order, order_id=order.pk, return_id=return_.pk)
    return return_
