"""Reads for orders. Staff see the orders of the locations they may act on (the one scoping helper,
``inventory.selectors.locations_for_user``): a pickup or counter order belongs to its store, a
parcel to the locations it ships from."""

from datetime import datetime, timedelta

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from customers.models import Channel
from inventory.selectors import locations_for_user
from orders import queries
from orders.models import (
    Cart,
    CartLine,
    CartStatus,
    Coupon,
    Fulfilment,
    LineState,
    Order,
    OrderLine,
    OrderStatus,
    Promotion,
)


def promotion_by_name(name: str):
    """The promotion called ``name`` (the newest if several), or None."""
    return Promotion.objects.filter(name=name).order_by("-pk").first()


def personal_offers(
    customer, *, channel: str = Channel.STORE, now: datetime | None = None
) -> QuerySet[Coupon]:
    """The customer's personal codes they can redeem now in ``channel`` (the counter's
    "Personal offers"): not used, not issued to a campaign's holdout arm (never sent), of an
    active promotion in its dates, valid in the channel and not used up; oldest first. The
    basket rules (minimum, eligible products, uses per customer) are checked when it is used."""
    now = now or timezone.now()
    return (
        Coupon.objects.filter(
            customer=customer,
            used=False,
            holdout=False,
            promotion__active=True,
        )
        .filter(Q(promotion__starts_at__isnull=True) | Q(promotion__starts_at__lte=now))
        .filter(Q(promotion__ends_at__isnull=True) | Q(promotion__ends_at__gt=now))
        .filter(Q(promotion__channels=[]) | Q(promotion__channels__contains=[channel]))
        .filter(
            Q(promotion__max_uses__isnull=True)
            | Q(promotion__times_used__lt=F("promotion__max_uses"))
        )
        .select_related("promotion")
        .order_by("created_at", "pk")
    )


def latest_cart_lines(customer_ids) -> dict[int, list[tuple[int, int]]]:
    """(variant id, quantity) of each customer's most recent open or abandoned cart, in the
    order they were added (1 query)."""
    latest = (
        Cart.objects.filter(
            customer_id__in=list(customer_ids), status__in=(CartStatus.OPEN, CartStatus.ABANDONED)
        )
        .order_by("customer_id", "-updated_at", "-pk")
        .distinct("customer_id")
        .values("pk")
    )
    lines: dict[int, list[tuple[int, int]]] = {}
    rows = CartLine.objects.filter(cart_id__in=latest).order_by("pk")
    for customer_id, variant_id, quantity in rows.values_list(
        "cart__customer_id", "variant_id", "quantity"
    ):
        lines.setdefault(customer_id, []).append((variant_id, quantity))
    return lines


def order_facts(order_id: int) -> dict | None:
    """What attribution needs of an order: customer, time, channel, store, total and the
    coupon code it redeemed ('' if none) — or None if there is no such order (1 query)."""
    return (
        Order.objects.filter(pk=order_id)
        .values("pk", "customer_id", "created_at", "channel", "location_id", "total")
        .annotate(coupon_code=Coalesce("coupon__code", Value("")))
        .first()
    )


def cart_owners(cart_ids) -> dict[int, int]:
    """cart id → customer id of the given carts that are abandoned (1 query)."""
    rows = Cart.objects.filter(pk__in=list(cart_ids), status=CartStatus.ABANDONED)
    return dict(rows.values_list("pk", "customer_id"))


def carts_still_waiting(carts: list[tuple[int, int, datetime]]) -> dict[int, str]:
    """Of the (cart id, customer id, since) given, the carts an abandoned-cart message should no
    longer be about, with why: ``ordered`` — an order was placed from the cart, or the customer
    ordered one of its items since ``since`` in any channel (the counter included); ``emptied``
    — the cart has no lines, or was merged or is gone. 3 queries, whatever the number."""
    if not carts:
        return {}
    cart_ids = [cart_id for cart_id, _customer, _since in carts]
    gone: dict[int, str] = {}
    ordered_from = set(Order.objects.filter(cart_id__in=cart_ids).values_list("cart_id", flat=True))
    items: dict[int, set[int]] = {cart_id: set() for cart_id in cart_ids}
    live = CartLine.objects.filter(
        cart_id__in=cart_ids, cart__status__in=(CartStatus.OPEN, CartStatus.ABANDONED)
    )
    for cart_id, variant_id in live.values_list("cart_id", "variant_id"):
        items[cart_id].add(variant_id)
    bought = _variants_bought_since(carts, items)
    for cart_id, customer_id, since in carts:
        if cart_id in ordered_from or any(
            when >= since
            for variant, when in bought.get(customer_id, ())
            if variant in items[cart_id]
        ):
            gone[cart_id] = "ordered"
        elif not items[cart_id]:
            gone[cart_id] = "emptied"
    return gone


def _variants_bought_since(carts, items) -> dict[int, list[tuple[int, datetime]]]:
    """(variant id, when) the carts' customers ordered since the earliest ``since``, of the
    carts' variants (1 query)."""
    variants = set().union(*items.values())
    if not variants:
        return {}
    rows = OrderLine.objects.filter(
        order__customer_id__in={customer for _cart, customer, _since in carts},
        order__created_at__gte=min(since for _cart, _customer, since in carts),
        variant_id__in=variants,
    ).values_list("order__customer_id", "variant_id", "order__created_at")
    bought: dict[int, list[tuple[int, datetime]]] = {}
    for customer_id, variant_id, when in rows:
        bought.setdefault(customer_id, []).append((variant_id, when))
    return bought


def best_sellers(*, days: int = 30, limit: int = 100) -> list[int]:
    """Variant ids by units sold in the last ``days`` days (cancelled and expired orders
    left out), best first (1 aggregate query)."""
    since = timezone.now() - timedelta(days=days)
    rows = (
        OrderLine.objects.filter(order__created_at__gte=since)
        .exclude(order__status__in=(OrderStatus.CANCELLED, OrderStatus.EXPIRED))
        .values("variant_id")
        .annotate(units=Sum("quantity"))
        .order_by("-units", "variant_id")
    )
    return [row["variant_id"] for row in rows[:limit]]


def cart_by_token(token: str) -> Cart | None:
    """The cart with this token (any status), or None: one prepared statement, as every
    storefront cart call reads it."""
    return queries.cart_by_token(token)


def cart_by_pk(pk: int) -> Cart | None:
    """The cart with this primary key (any status), or None: one prepared statement."""
    return queries.cart_by_pk(pk)


def orders_for_user(user) -> QuerySet[Order]:
    """Every order the staff member may see and act on."""
    if user is None or not user.is_authenticated:
        return Order.objects.none()
    if user.is_superuser or user.has_perm("inventory.act_on_all_locations"):
        return Order.objects.all()
    locations = locations_for_user(user)
    ships_from = OrderLine.objects.filter(order=OuterRef("pk"), location__in=locations)
    return Order.objects.filter(
        Q(location__in=locations)
        | Q(fulfilment=Fulfilment.SHIP, location__isnull=True) & Exists(ships_from)
    )


def shopper_orders(customer) -> QuerySet[Order]:
    return Order.objects.filter(customer=customer).select_related("location")


def pickup_desk(user, *, location=None, now: datetime | None = None) -> dict[str, QuerySet[Order]]:
    """The pickup desk's three queues for the user's stores (or one of them).

    ``to_pick``: placed pickup orders with every line at the store; ``ready``: waiting for the
    shopper, soonest deadline first; ``overdue``: ready orders past their hold (the beat task
    expires them within minutes); ``awaiting``: orders waiting for a transfer.
    """
    now = now or timezone.now()
    orders = (
        orders_for_user(user)
        .filter(fulfilment=Fulfilment.PICKUP)
        .select_related("customer", "location")
    )
    if location is not None:
        orders = orders.filter(location=location)
    waiting = OrderLine.objects.filter(
        order=OuterRef("pk"), state__in=[LineState.IN_TRANSFER, LineState.SHORT]
    )
    return {
        "to_pick": orders.filter(status=OrderStatus.PLACED)
        .annotate(blocked=Exists(waiting))
        .order_by("created_at"),
        "ready": orders.filter(status=OrderStatus.READY, hold_until__gt=now).order_by("hold_until"),
        "overdue": orders.filter(status=OrderStatus.READY, hold_until__lte=now).order_by(
            "hold_until"
        ),
        "awaiting": orders.filter(status=OrderStatus.AWAITING_TRANSFER).order_by("promised_on"),
    }
