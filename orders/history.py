"""An order's history: one ``OrderEvent`` per change of status (who, when, why).

``log`` writes one row now; the ``…_events`` functions build the rows of a step that writes
them together with the order (``place_order`` inserts the order, its lines and its history in
one statement).
"""

from django.utils.translation import gettext as _

from orders.models import Order, OrderEvent, OrderStatus


def log(order: Order, status: str, note: str = "", acting_user=None) -> None:
    """Record a change of the order's status (the note cut to the column's 255 characters)."""
    OrderEvent.objects.create(order=order, status=status, note=note[:255], acting_user=acting_user)


def placed_events(order: Order, acting_user) -> list[OrderEvent]:
    """The history of an order being placed (not saved): placed with the routing reason, and
    awaiting its transfer with the promised day when it waits for one."""
    history = [
        OrderEvent(
            order=order,
            status=OrderStatus.PLACED,
            note=order.routing_reason[:255],
            acting_user=acting_user,
        )
    ]
    if order.status == OrderStatus.AWAITING_TRANSFER:
        note = _("Ready on %(date)s via transfer.") % {"date": order.promised_on}
        history.append(
            OrderEvent(order=order, status=order.status, note=note, acting_user=acting_user)
        )
    return history


def sold_at_counter_event(order: Order, acting_user) -> OrderEvent:
    """The history row of a counter sale completed on the spot (not saved)."""
    return OrderEvent(
        order=order,
        status=OrderStatus.COMPLETED,
        note=_("Sold at the counter."),
        acting_user=acting_user,
    )
