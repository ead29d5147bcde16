"""Reads for orders. Staff see the orders of the locations they may act on (the one scoping helper,
``inventory.selectors.locations_for_user``): a pickup or counter order belongs to its store, a
parcel to the locations it ships from."""

from datetime import datetime, timedelta

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Sum
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
