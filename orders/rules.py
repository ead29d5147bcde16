"""Checks that services and screens both need, each written once.

Each ``check_*`` raises the error the service raises (services call it on the locked row);
a screen asks ``allows(check_*, order)`` whether to show the button. Who may act, and at which
stores, is answered here too; which orders a user may see is ``orders.selectors.orders_for_user``.
"""

from collections.abc import Callable, Iterable
from datetime import datetime

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from customers import selectors as customer_selectors
from customers.exceptions import ProfileClaimed
from inventory.models import Location, LocationKind
from inventory.selectors import locations_for_user
from omni.exceptions import DomainError
from orders.exceptions import InvalidOrderState, InvalidReturn
from orders.models import OPEN_STATUSES, Fulfilment, LineState, Order, OrderLine, OrderStatus

# A shopper may cancel until the order is ready; staff until it is collected (OPEN_STATUSES).
SHOPPER_CANCELLABLE = (OrderStatus.PLACED, OrderStatus.AWAITING_TRANSFER)
RETURNABLE = (OrderStatus.COLLECTED, OrderStatus.SHIPPED, OrderStatus.COMPLETED)
# A pickup order can be marked ready once every line is picked (or refunded).
PICKED = (LineState.ALLOCATED, LineState.REFUNDED)
# A short pick happens while the order waits at the store, on a line that is (or should be) there.
SHORT_PICKABLE = (OrderStatus.PLACED, OrderStatus.READY)
ON_THE_SHELF = (LineState.ALLOCATED, LineState.SHORT)


def allows(check: Callable[..., None], *args, **kwargs) -> bool:
    """True when ``check(*args, **kwargs)`` passes (for a screen deciding to show a button)."""
    try:
        check(*args, **kwargs)
    except DomainError:
        return False
    return True


# --- Shoppers ---------------------------------------------------------------------------------


def check_bearer_access(*, customer_id: int) -> None:
    """A cart token or a device id without a signed-in shopper: only an unclaimed profile's cart
    (an anonymous visitor's or a guest's) answers; a claimed one wants its owner signed in
    (customers.services.profiles, "Identity claims")."""
    if customer_selectors.is_claimed(customer_id):
        raise ProfileClaimed()


# --- What an order can do in its state ----------------------------------------------------------


def check_status(order: Order, *statuses: str, fulfilment: str | None = None) -> None:
    """The order is in one of ``statuses`` (and of ``fulfilment``), else InvalidOrderState."""
    if order.status not in statuses or (fulfilment and order.fulfilment != fulfilment):
        raise InvalidOrderState(
            _("Order %(number)s is %(status)s.")
            % {"number": order.number, "status": order.get_status_display()}
        )


def check_ready(order: Order, *, lines: Iterable[OrderLine] | None = None) -> None:
    """Can the order be marked ready: a placed pickup order with every line picked.

    ``lines``: the order's lines when the caller has them (else they are asked for).
    """
    check_status(order, OrderStatus.PLACED, fulfilment=Fulfilment.PICKUP)
    if lines is None:
        blocked = order.lines.exclude(state__in=PICKED).exists()
    else:
        blocked = any(line.state not in PICKED for line in lines)
    if blocked:
        raise InvalidOrderState(_("Some lines are short or still on their way."))


def check_collect(order: Order) -> None:
    """Can the order be handed over: it waits at the desk."""
    check_status(order, OrderStatus.READY)


def code_locked(order: Order, now: datetime) -> bool:
    """Is the pickup code locked after too many wrong tries (the identity check still works)?"""
    return bool(order.code_locked_until and order.code_locked_until > now)


def check_ship(order: Order) -> None:
    """Can the parcel be marked shipped: a placed order to ship."""
    check_status(order, OrderStatus.PLACED, fulfilment=Fulfilment.SHIP)


def check_cancel(order: Order, *, by_shopper: bool = False) -> None:
    """Can the order be cancelled: by the shopper until it is ready, by staff while it is open."""
    check_status(order, *(SHOPPER_CANCELLABLE if by_shopper else OPEN_STATUSES))


def check_short_pick(order: Order) -> None:
    """Can a line of the order be short-picked: a pickup order still at the store."""
    check_status(order, *SHORT_PICKABLE, fulfilment=Fulfilment.PICKUP)


def check_short_pick_line(line: OrderLine) -> None:
    """The line waits at the store (allocated there, or short after a transfer)."""
    if line.state not in ON_THE_SHELF:
        raise InvalidOrderState(_("This line is not waiting at the store."))


def check_return(order: Order) -> None:
    """Can units of the order come back: it was collected, shipped or completed."""
    if order.status not in RETURNABLE:
        raise InvalidReturn(
            _("Only a collected, shipped or completed order can be returned; this one is %(s)s.")
            % {"s": order.get_status_display()}
        )


# --- Who may act, and where -------------------------------------------------------------------


def may_view_orders(user) -> bool:
    """May the user open the orders' pages (as the order admin's view permission)."""
    return user.has_perm("orders.view_order") or user.has_perm("orders.change_order")


def may_act_on_orders(user) -> bool:
    """May the user act on their stores' orders (ready, collect, cancel, ship, short pick)."""
    return user.has_perm("orders.change_order")


def may_take_returns(user) -> bool:
    return user.has_perm("orders.add_return")


def may_sell_at_counter(user) -> bool:
    """A counter sale starts from the customer's 360 page: both permissions are needed."""
    return user.has_perm("orders.sell_at_counter") and user.has_perm("customers.view_customer")


def stores_for_user(user) -> QuerySet[Location]:
    """The active stores the user may act on (the one scoping helper, narrowed to stores)."""
    return locations_for_user(user).filter(kind=LocationKind.STORE, active=True).order_by("name")


def desk_stores(user) -> QuerySet[Location]:
    """The user's stores with a pickup desk."""
    return stores_for_user(user).filter(is_pickup_point=True)
