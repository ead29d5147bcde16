"""Row locks of the orders app: carts and orders (second in the global lock order,
omni/locks.py), then coupons and promotions (third)."""

from collections.abc import Iterable

from orders import queries
from orders.models import Cart, Coupon, Order, OrderLine, Promotion, Return


def cart_for_update(pk: int) -> Cart | None:
    """One cart row (on every cart change: one prepared statement)."""
    return queries.cart_for_update(pk)


def carts_for_update(pks: Iterable[int]) -> dict[int, Cart]:
    rows = Cart.objects.filter(pk__in=list(pks)).order_by("pk").select_for_update()
    return {cart.pk: cart for cart in rows}


def order_for_update(pk: int) -> Order:
    return Order.objects.select_for_update(of=("self",)).select_related("location").get(pk=pk)


def order_if_due_for_update(pk: int, **conditions) -> Order | None:
    """The order if it still meets ``conditions``, skipped if another worker holds it."""
    return Order.objects.select_for_update(skip_locked=True).filter(pk=pk, **conditions).first()


def order_lines_for_update(order: Order) -> dict[int, OrderLine]:
    return {line.pk: line for line in order.lines.select_for_update().order_by("pk")}


def order_line_for_update(order: Order, pk: int) -> OrderLine:
    return order.lines.select_for_update().get(pk=pk)


def return_for_update(pk: int) -> Return:
    return Return.objects.select_for_update().select_related("location").get(pk=pk)


def coupon_for_update(code: str) -> Coupon | None:
    """The coupon and then its promotion (its counters are read under the lock)."""
    coupon = Coupon.objects.select_for_update().filter(code=code).first()
    if coupon is not None:
        coupon.promotion = Promotion.objects.select_for_update().get(pk=coupon.promotion_id)
    return coupon


def promotion_for_key_update(pk: int) -> Promotion:
    """The promotion row, held against other issuers of its codes (FOR NO KEY UPDATE: coupons
    may still be inserted under it)."""
    return Promotion.objects.select_for_update(no_key=True).get(pk=pk)
