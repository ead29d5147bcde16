"""Placing an order: validate, price, apply the coupon, reserve every line or none, create it.

One ``place_order`` for every door: a storefront cart (pickup or shipping), the shop counter and
orders imported from marketplaces and social shops (``import_external_order``) — all take stock
from the same pool through ``inventory.services.reserve``.

Locks (ARCHITECTURE invariant 2): the cart row, then the coupon and its promotion, then the stock
rows — the last inside one ``reserve`` call, which sorts them by (location_id, variant_id), so
concurrent checkouts can neither oversell nor deadlock.

Allocation:
- pickup at store S: what S can sell is held at S; the rest comes by transfer from the nearest
  warehouses first, then from other stores, and the order waits for it (``awaiting_transfer``);
- ship to an address: fewest shipments first, then warehouses before stores (unless a store holds
  more than its maximum), then nearest to the address; only locations that ship to customers;
- counter: the store's own stock, safety stock included, sold on the spot.
"""

import math
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers import services as customer_services
from customers.models import Channel, Customer, EventType
from inventory import services as stock
from inventory.exceptions import InsufficientStock
from inventory.models import Category, Location, LocationKind, Product, StockLevel, Variant
from inventory.selectors import distance_km, ready_after_transfer, with_availability
from omni import sql as fast_sql
from omni.signals import send_on_commit
from orders import pricing
from orders.exceptions import (
    EmptyCart,
    InvalidCartLine,
    InvalidCheckout,
    NotAPickupPoint,
    NotEnoughToSell,
)
from orders.models import (
    Cart,
    CartStatus,
    Fulfilment,
    LineState,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    PaymentState,
    new_order_number,
)
from orders.payments import provider
from orders.signals import order_placed

ORDER_CHANNELS = (
    Channel.WEB,
    Channel.APP,
    Channel.STORE,
    Channel.MARKETPLACE,
    Channel.SOCIAL,
    Channel.CALL_CENTRE,
)
ALLOCATION_ATTEMPTS = 3
ADDRESS_FIELDS = ("name", "line1", "line2", "postal_code", "city", "country", "phone")


@dataclass(frozen=True)
class Item:
    """A line to order: a variant, units and the unit price charged (VAT included)."""

    variant: Variant
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class Allocation:
    variant_id: int
    location_id: int
    quantity: int
    via_transfer: bool = False


# --- Input ------------------------------------------------------------------------------------


def _check_items(items: list[Item]) -> None:
    if not items:
        raise EmptyCart()
    if len(items) > settings.CART_MAX_LINES:  # a merge of two carts may pass the cart's limit
        raise InvalidCheckout(
            _("An order holds at most %(n)s lines: remove some.") % {"n": settings.CART_MAX_LINES},
            code="too_many_lines",
        )
    for item in items:
        q = item.quantity
        if isinstance(q, bool) or not isinstance(q, int) or q <= 0:
            raise InvalidCartLine(
                _("The quantity must be a whole number above zero."), fields={"quantity": ["> 0"]}
            )
        if not (item.variant.active and item.variant.product.active):
            raise InvalidCartLine(
                _("%(sku)s is not for sale.") % {"sku": item.variant.sku},
                fields={"sku": [item.variant.sku]},
            )
        if item.unit_price < 0:
            raise InvalidCheckout(_("A price cannot be negative."), fields={"unit_price": ["≥ 0"]})


def _clean_address(address: dict | None) -> dict:
    address = {k: str(v).strip() for k, v in (address or {}).items() if k in ADDRESS_FIELDS}
    missing = [f for f in ("name", "line1", "postal_code", "city", "country") if not address.get(f)]
    if missing:
        raise InvalidCheckout(
            _("The shipping address is incomplete."),
            fields={f"shipping_address.{f}": [_("Required.")] for f in missing},
        )
    return address


def _check_point(latitude, longitude) -> tuple[float, float] | None:
    if latitude is None and longitude is None:
        return None
    try:
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError):
        raise InvalidCheckout(_("Latitude and longitude must be numbers.")) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or math.isnan(lat) or math.isnan(lon):
        raise InvalidCheckout(_("Latitude and longitude are out of range."))
    return lat, lon


# --- Allocation -------------------------------------------------------------------------------


def _stock(variant_ids, locations) -> dict[tuple[int, int], tuple[int, int, int, int]]:
    """(location_id, variant_id) → (sellable online, sellable at the counter, on_hand, max)."""
    rows = with_availability(
        StockLevel.objects.filter(variant_id__in=variant_ids, location__in=locations)
    ).values_list("location_id", "variant_id", "sellable", "sellable_counter", "on_hand", "max_qty")
    return {(loc, var): (s, sc, oh, mx) for loc, var, s, sc, oh, mx in rows}


def _coords(location: Location) -> tuple[float, float] | None:
    if location.latitude is None:
        return None
    return float(location.latitude), float(location.longitude)


def _distance(a, b) -> float:
    return distance_km(*a, *b) if a and b else math.inf


def _short(items: list[Item], wanted: dict[int, int]) -> NotEnoughToSell:
    variant_id = next(v for v, q in wanted.items() if q > 0)
    sku = next(i.variant.sku for i in items if i.variant.pk == variant_id)
    return NotEnoughToSell(
        _("Not enough units of %(sku)s can be sold now.") % {"sku": sku},
        fields={"lines": [sku]},
    )


def _wanted(items: list[Item]) -> dict[int, int]:
    wanted: dict[int, int] = defaultdict(int)
    for item in items:
        wanted[item.variant.pk] += item.quantity
    return dict(wanted)


def allocate_pickup(items: list[Item], store: Location) -> list[Allocation]:
    """Hold at the store what it can sell; the rest by transfer (warehouses first, nearest)."""
    wanted = _wanted(items)
    here_only = _stock(list(wanted), [store])
    if all(here_only.get((store.pk, v), (0,))[0] >= q for v, q in wanted.items()):
        return [Allocation(v, store.pk, q) for v, q in sorted(wanted.items())]  # the usual case
    sources = list(Location.objects.selling_online().exclude(pk=store.pk))
    here = _coords(store)
    sources.sort(
        key=lambda loc: (loc.kind != LocationKind.WAREHOUSE, _distance(here, _coords(loc)))
    )
    levels = _stock(list(wanted), [store, *sources])
    allocations = []
    for variant_id, quantity in sorted(wanted.items()):
        take = min(quantity, levels.get((store.pk, variant_id), (0,))[0])
        if take:
            allocations.append(Allocation(variant_id, store.pk, take))
            wanted[variant_id] -= take
        for source in sources:
            if not wanted[variant_id]:
                break
            take = min(wanted[variant_id], levels.get((source.pk, variant_id), (0,))[0])
            if take:
                allocations.append(Allocation(variant_id, source.pk, take, via_transfer=True))
                wanted[variant_id] -= take
    if any(wanted.values()):
        raise _short(items, wanted)
    return allocations


def allocate_counter(items: list[Item], store: Location) -> list[Allocation]:
    wanted = _wanted(items)
    levels = _stock(list(wanted), [store])
    for variant_id, quantity in wanted.items():
        if levels.get((store.pk, variant_id), (0, 0))[1] < quantity:
            raise _short(items, {variant_id: quantity})
    return [Allocation(v, store.pk, q) for v, q in sorted(wanted.items())]


def route_shipment(
    items: list[Item], point: tuple[float, float] | None
) -> tuple[list[Allocation], str]:
    """Fulfilling locations for a parcel and the reason for the choice."""
    wanted = _wanted(items)
    candidates = list(Location.objects.selling_online().filter(ships_to_customers=True))
    levels = _stock(list(wanted), candidates)

    def over_max(loc) -> bool:
        return loc.kind == LocationKind.STORE and any(
            levels.get((loc.pk, v), (0, 0, 0, 0))[3] > 0
            and levels[(loc.pk, v)][2] > levels[(loc.pk, v)][3]
            for v in wanted
        )

    def rank(loc):
        preferred = loc.kind == LocationKind.WAREHOUSE or over_max(loc)
        return (not preferred, _distance(point, _coords(loc)), loc.pk)

    def can_give(loc, remaining) -> int:
        return sum(min(q, levels.get((loc.pk, v), (0,))[0]) for v, q in remaining.items())

    remaining = dict(wanted)
    chosen: list[Location] = []
    allocations: list[Allocation] = []
    while any(remaining.values()):
        best = min(
            (loc for loc in candidates if loc not in chosen and can_give(loc, remaining)),
            key=lambda loc: (-can_give(loc, remaining), *rank(loc)),
            default=None,
        )
        if best is None:
            raise _short(items, remaining)
        chosen.append(best)
        for variant_id, quantity in sorted(remaining.items()):
            take = min(quantity, levels.get((best.pk, variant_id), (0,))[0])
            if take:
                allocations.append(Allocation(variant_id, best.pk, take))
                remaining[variant_id] -= take
    reasons = []
    for loc in chosen:
        kind = _("store over its maximum") if over_max(loc) else loc.get_kind_display().lower()
        dist = _distance(point, _coords(loc))
        where = f", {dist:.0f} km" if dist != math.inf else ""
        reasons.append(f"{loc.name} ({kind}{where})")
    if len(chosen) == 1:
        reason = _("One parcel from %(where)s.") % {"where": reasons[0]}
    else:
        reason = _("No single location holds every line: %(n)s parcels, from %(where)s.") % {
            "n": len(chosen),
            "where": "; ".join(reasons),
        }
    return allocations, reason


def _reserve(order: Order, allocations: list[Allocation], *, counter: bool):
    return stock.reserve(
        lines=[stock.StockLine(a.variant_id, a.location_id, a.quantity) for a in allocations],
        owner=order.owner,
        channel=stock.COUNTER if counter else stock.ONLINE,
    )


# --- Placing ----------------------------------------------------------------------------------


def _existing(customer_id: int, key: str) -> Order | None:
    if not key:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_EXISTING_SQL, [customer_id, key])
        row = cursor.fetchone()
    return None if row is None else Order.objects.get(pk=row[0])


# The partial unique index's own condition spelled out, so that a prepared statement's generic
# plan can use that index too (else PostgreSQL plans the statement again on every call).
_EXISTING_SQL = (
    "SELECT id FROM orders_order "
    "WHERE customer_id = %s AND idempotency_key = %s AND NOT (idempotency_key = '')"
)


def _lock_and_read(customer_id: int, cart_id: int, key: str):
    """Lock the customer row, then the cart (the order a profile merge takes them in: a lock
    statement locks its rows in the order of its ``FOR … OF`` clauses); then read the order
    this key already placed and the cart's lines (``_checkout_reads_sql``).

    Two statements in one round trip on PostgreSQL (psycopg's pipeline mode, with the
    transaction's BEGIN when it is the first): the server still runs the reads after the locks
    are taken, with a snapshot taken then, so they see the cart as the lock left it. They run
    on psycopg's own cursors, so Django's query log and execute wrappers do not see them.
    Returns (customer, cart, order id or None, items); (None, None, None, []) without the cart.
    """
    params = [customer_id, cart_id]
    reads = [customer_id, key or None, cart_id]
    connection.ensure_connection()
    pg = connection.connection
    with connection.wrap_database_errors:
        with pg.pipeline():
            lock = pg.cursor().execute(_lock_sql(), params)
            read = pg.cursor().execute(_checkout_reads_sql(), reads)
        row, rows = lock.fetchone(), read.fetchall()
    if row is None:
        return None, None, None, []
    customer, i = fast_sql.from_row(Customer, row)
    cart = fast_sql.from_row(Cart, row, i)[0]
    found, items = _checkout_items(rows)
    return customer, cart, found, items


@cache
def _lock_sql() -> str:
    return (
        f"SELECT {fast_sql.select_list(Customer, 'c')}, {fast_sql.select_list(Cart, 't')} "
        f'FROM "{Customer._meta.db_table}" AS c, "{Cart._meta.db_table}" AS t '
        "WHERE c.id = %s AND t.id = %s FOR NO KEY UPDATE OF c FOR UPDATE OF t"
    )


def _checkout_items(rows) -> tuple[int | None, list[Item]]:
    """The rows of ``_checkout_reads_sql``: the key's order id, and the cart's lines with their
    variant, product and category, in variant order."""
    items = []
    for row in rows:
        if row[1] is None:  # the one row of an empty cart
            continue
        variant, i = fast_sql.from_row(Variant, row, 2)
        product, i = fast_sql.from_row(Product, row, i)
        category = fast_sql.from_row(Category, row, i)[0]
        Variant.product.field.set_cached_value(variant, product)
        Product.category.field.set_cached_value(product, category)
        items.append(Item(variant, row[1], variant.price))
    return rows[0][0], items


@cache
def _checkout_reads_sql() -> str:
    # One row per cart line, or one row of NULLs for an empty cart (the LEFT JOIN), each with
    # the key's order id (NULL key: none).
    return (
        f"SELECT ({_EXISTING_SQL}), l.quantity, {fast_sql.select_list(Variant, 'v')}, "
        f"{fast_sql.select_list(Product, 'p')}, {fast_sql.select_list(Category, 'c')} "
        "FROM (SELECT 1) AS one LEFT JOIN ("
        "orders_cartline AS l "
        "JOIN inventory_variant AS v ON v.id = l.variant_id "
        "JOIN inventory_product AS p ON p.id = v.product_id "
        "JOIN inventory_category AS c ON c.id = p.category_id"
        ") ON l.cart_id = %s ORDER BY l.variant_id"
    )


def log(order: Order, status: str, note: str = "", acting_user=None) -> None:
    OrderEvent.objects.create(order=order, status=status, note=note[:255], acting_user=acting_user)


def _create(
    *,
    customer: Customer,
    items: list[Item],
    channel: str,
    fulfilment: str,
    location: Location | None,
    address: dict,
    point,
    coupon_code: str,
    pay_at_pickup: bool,
    idempotency_key: str,
    external_reference: str,
    cart: Cart | None,
    acting_user,
    attempt: int = 0,
) -> Order:
    """Create the order in named steps: price and redeem, build the order, allocate and
    reserve, build lines and history, sell at the counter, persist, announce."""
    number = new_order_number()
    quote, discount = _price_and_redeem(
        items, number=number, channel=channel, customer=customer, coupon_code=coupon_code,
        ships=fulfilment == Fulfilment.SHIP,
    )  # fmt: skip
    payments = provider()
    order = _build_order(
        number=number, customer=customer, cart=cart, channel=channel, fulfilment=fulfilment,
        location=location, address=address, quote=quote, discount=discount,
        payment=_payment_state(fulfilment, pay_at_pickup), provider_name=payments.name,
        idempotency_key=idempotency_key, external_reference=external_reference,
        acting_user=acting_user,
    )  # fmt: skip
    # Stock first (the order's number names the holds), then the order row in one INSERT.
    allocations, order.routing_reason, holds = _allocate_and_reserve(
        order, items, point, attempt=attempt
    )
    transfers = _transfers(order, allocations, holds, acting_user)
    if transfers:
        order.status = OrderStatus.AWAITING_TRANSFER
        order.promised_on = max(t.promise for t in transfers.values())
    if order.payment_state == PaymentState.PAID:
        order.payment_reference = payments.capture(order_number=number, amount=quote.total)
    order_lines = _build_lines(order, quote, allocations, transfers)
    history = _history(order, acting_user)
    if fulfilment == Fulfilment.COUNTER:
        _sell_at_counter(order, holds, order_lines, history, acting_user)
    _persist(order, order_lines, history, cart)
    _announce(order, items)
    return order


def _price_and_redeem(items, *, number, channel, customer, coupon_code, ships):
    """The quote, with the coupon redeemed (once, whatever the channel) when one is given."""
    priced = [pricing.PricedLine(i.variant, i.quantity, i.unit_price) for i in items]
    discount = None
    if coupon_code:
        redemption = pricing.redeem_coupon(
            code=coupon_code, lines=priced, channel=channel, reference=number, customer=customer
        )
        discount = pricing.Discount(
            coupon=redemption.coupon,
            amount=redemption.discount,
            free_shipping=redemption.coupon.promotion.kind == pricing.PromotionKind.FREE_SHIPPING,
        )
    return pricing.quote(priced, discount=discount, ships=ships), discount


def _payment_state(fulfilment: str, pay_at_pickup: bool) -> str:
    if fulfilment == Fulfilment.PICKUP and pay_at_pickup:
        return PaymentState.PAY_AT_PICKUP
    return PaymentState.PAID


def _build_order(*, quote, discount, payment, provider_name, address, acting_user, **fields):
    """The order row, not saved yet (``_persist`` writes it with its lines and history)."""
    return Order(
        **fields,
        payment_state=payment,
        payment_provider=provider_name,
        shipping_address=address,
        coupon=discount.coupon if discount else None,
        subtotal=quote.subtotal,
        discount_total=quote.discount_total,
        shipping_total=quote.shipping_total,
        tax_total=quote.tax_total,
        total=quote.total,
        created_by=acting_user,
    )


def _build_lines(order, quote, allocations, transfers) -> list[OrderLine]:
    by_variant: dict[int, list[Allocation]] = defaultdict(list)
    for allocation in allocations:
        by_variant[allocation.variant_id].append(allocation)
    order_lines: list[OrderLine] = []
    for line_quote in quote.lines:
        _split_line(order, line_quote, by_variant, transfers, order_lines)
    return order_lines


def _history(order: Order, acting_user) -> list[OrderEvent]:
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


def _sell_at_counter(order, holds, order_lines, history, acting_user) -> None:
    """Sold on the spot: the holds become sales now and the order is completed."""
    stock.consume(
        reservation_ids=[r.pk for r in holds],
        reference=f"order:{order.number}",
        acting_user=acting_user,
    )
    for line in order_lines:
        line.state = LineState.FULFILLED
    order.status, order.closed_at = OrderStatus.COMPLETED, timezone.now()
    history.append(
        OrderEvent(
            order=order,
            status=OrderStatus.COMPLETED,
            note=_("Sold at the counter."),
            acting_user=acting_user,
        )
    )


def _persist(order, order_lines, history, cart) -> None:
    """The order, its lines, its history and the cart it closes: one statement."""
    updates = []
    if cart is not None:
        cart.status = CartStatus.CHECKED_OUT
        updates.append((cart, ("status", "updated_at")))
    fast_sql.insert_tree(order, [order_lines, history], updates=updates)
    # Kept for the API's 201 body (``prefetch_placed``), at no cost when nobody asks.
    order._placed_rows = {"lines": order_lines, "history": history}


def _announce(order: Order, items: list[Item]) -> None:
    """The order_placed touchpoint on the customer's timeline, and the signal after commit."""
    variant = items[0].variant
    customer_services.record_customer_event(
        customer=order.customer,
        type=EventType.ORDER_PLACED,
        channel=order.channel,
        properties={
            "order": order.number,
            "total": str(order.total),
            "store": order.location.code if order.location else "",
            "fulfilment": order.fulfilment,
            "category": variant.product.category.slug if variant.product.category_id else "",
            "skus": [i.variant.sku for i in items],
        },
    )
    send_on_commit(order_placed, sender=Order, order_id=order.pk)


def prefetch_placed(order: Order) -> bool:
    """On an order ``place_order`` just created: install the rows it wrote as the order's
    prefetched lines and history, so a response (``order.lines.all()``,
    ``order.history.all()``) reads nothing back. False for any other order."""
    related = getattr(order, "_placed_rows", None)
    if related is None:
        return False
    cache = getattr(order, "_prefetched_objects_cache", None)
    if cache is None:
        cache = order._prefetched_objects_cache = {}
    for name, rows in related.items():
        queryset = getattr(order, name).get_queryset()
        queryset._result_cache = list(rows)
        queryset._prefetch_done = True
        cache[name] = queryset
    return True


class _TryAgain(Exception):
    """A reservation attempt came back short: roll the whole checkout back and plan again.

    Starting over (instead of trying another allocation in the same transaction) releases the
    row locks the failed attempt took, so stock rows are always locked in one sorted batch.
    """


def _allocate_and_reserve(order, items, point, *, attempt: int):
    """Allocate and reserve: all lines or none (``reserve`` is all or nothing by itself).

    Attempt 0 of a pickup or counter sale tries the store alone without reading stock (the
    guarded update is the check): the usual case. Later attempts plan from a read of the stock.
    """
    counter = order.fulfilment == Fulfilment.COUNTER
    if order.fulfilment != Fulfilment.SHIP and attempt == 0:
        here = [Allocation(v, order.location_id, q) for v, q in sorted(_wanted(items).items())]
        try:
            return here, "", _reserve(order, here, counter=counter)
        except InsufficientStock as exc:
            if counter:
                raise NotEnoughToSell(exc.message, fields=exc.fields) from None
            raise _TryAgain from None
    reason = ""
    if order.fulfilment == Fulfilment.PICKUP:
        allocations = allocate_pickup(items, order.location)
    elif order.fulfilment == Fulfilment.COUNTER:
        allocations = allocate_counter(items, order.location)
    else:
        allocations, reason = route_shipment(items, point)
    try:
        return allocations, reason, _reserve(order, allocations, counter=counter)
    except InsufficientStock:
        if attempt >= ALLOCATION_ATTEMPTS:
            raise NotEnoughToSell(
                _("Those units were just sold; please check your cart again.")
            ) from None
        raise _TryAgain from None


def _attempts(run):
    """Run one checkout transaction, starting over when an allocation came back short."""
    for attempt in range(ALLOCATION_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return run(attempt)
        except _TryAgain:
            continue
    raise AssertionError("unreachable: the last attempt raises NotEnoughToSell")


@dataclass
class _PendingTransfer:
    transfer: object
    promise: object


def _transfers(order: Order, allocations: list[Allocation], new_holds, acting_user) -> dict:
    """One transfer per source location for the units coming to the pickup store."""
    per_source: dict[int, dict[int, int]] = defaultdict(dict)
    for a in allocations:
        if a.via_transfer:
            per_source[a.location_id][a.variant_id] = a.quantity
    if not per_source:
        return {}
    holds = defaultdict(list)
    for hold in new_holds:
        holds[hold.location_id].append(hold.pk)
    result = {}
    now = timezone.now()
    store = order.location
    sources = Location.objects.in_bulk(list(per_source))
    for source_id, lines in sorted(per_source.items()):
        transfer = stock.create_transfer(
            source=sources[source_id],
            destination=order.location,
            lines=lines,
            reference=f"order:{order.number}",
            note=_("For pickup order %(number)s.") % {"number": order.number},
            acting_user=acting_user,
        )
        stock.hold_for_transfer(transfer=transfer, reservation_ids=holds[source_id])
        days = stock.lead_time_days(source_id, order.location_id)
        # The same promise the pickup finder shows: the store's first open day on or after the
        # arrival, in the store's time zone.
        promise = ready_after_transfer(store.opening_hours, store.timezone, days, now)
        result[source_id] = _PendingTransfer(transfer, promise)
    return result


def _split_line(order, line_quote, by_variant, transfers, out) -> None:
    """One OrderLine per fulfilling location; money split by units (remainder on the first)."""
    variant = line_quote.line.variant
    parts = []
    need = line_quote.line.quantity
    for allocation in by_variant[variant.pk]:
        if not need:
            break
        take = min(need, allocation.quantity)
        parts.append((allocation, take))
        need -= take
        remaining = allocation.quantity - take
        by_variant[variant.pk] = [
            a
            if a is not allocation
            else Allocation(a.variant_id, a.location_id, remaining, a.via_transfer)
            for a in by_variant[variant.pk]
            if a is not allocation or remaining
        ]
    quantity = line_quote.line.quantity
    shares = []
    for _allocation, take in parts:
        shares.append(
            (
                (line_quote.discount * take / quantity).quantize(pricing.CENT),
                (line_quote.tax * take / quantity).quantize(pricing.CENT),
            )
        )
    d_rest = line_quote.discount - sum(s[0] for s in shares)
    t_rest = line_quote.tax - sum(s[1] for s in shares)
    shares[0] = (shares[0][0] + d_rest, shares[0][1] + t_rest)
    for (allocation, take), (discount, tax) in zip(parts, shares, strict=True):
        transfer = transfers.get(allocation.location_id) if allocation.via_transfer else None
        out.append(
            OrderLine(
                order=order,
                variant=variant,
                sku=variant.sku,
                name=f"{variant.product.name} {variant.size} {variant.colour}".strip(),
                quantity=take,
                unit_price=line_quote.line.unit_price,
                discount=discount,
                tax_rate=line_quote.tax_rate,
                tax=tax,
                total=line_quote.line.unit_price * take - discount,
                location_id=order.location_id if transfer else allocation.location_id,
                transfer=transfer.transfer if transfer else None,
                state=LineState.IN_TRANSFER if transfer else LineState.ALLOCATED,
            )
        )


def _holds(order: Order):
    from inventory.models import Reservation, ReservationStatus

    return Reservation.objects.filter(owner=order.owner, status=ReservationStatus.ACTIVE)


def _resolve_store(location, fulfilment) -> Location | None:
    if fulfilment == Fulfilment.SHIP:
        return None
    if location is None:
        raise InvalidCheckout(
            _("Choose the store."), fields={"location": [_("Required for pickup.")]}
        )
    if not location.active:
        raise NotAPickupPoint(_("This store is closed."))
    if fulfilment == Fulfilment.PICKUP and not (location.is_pickup_point and location.sells_online):
        raise NotAPickupPoint(
            _("%(name)s is not a pickup point.") % {"name": location.name},
            fields={"location": [_("Not a pickup point.")]},
        )
    if fulfilment == Fulfilment.COUNTER and location.kind != LocationKind.STORE:
        raise InvalidCheckout(_("Counter sales happen in a store."))
    return location


_FULFILMENTS = frozenset(Fulfilment.values)


def place_order(
    *,
    cart: Cart,
    fulfilment: str,
    location: Location | None = None,
    shipping_address: dict | None = None,
    latitude=None,
    longitude=None,
    coupon_code: str = "",
    pay_at_pickup: bool = False,
    channel: str | None = None,
    idempotency_key: str = "",
    acting_user=None,
) -> Order:
    """Turn the cart into an order: all lines reserved or none, the coupon redeemed once.

    The same ``idempotency_key`` (per customer) returns the order the first call created, also
    when the calls race.
    """
    if fulfilment not in _FULFILMENTS:
        raise InvalidCheckout(_("Unknown fulfilment."), fields={"fulfilment": [fulfilment]})
    channel = channel or cart.channel
    if channel not in ORDER_CHANNELS:
        raise InvalidCheckout(_("Unknown channel."), fields={"channel": [channel]})
    if (fulfilment == Fulfilment.COUNTER) != (channel == Channel.STORE):
        raise InvalidCheckout(_("Counter sales are taken in the store channel only."))
    key = (idempotency_key or "").strip()[:255]
    store = _resolve_store(location, fulfilment)
    address = _clean_address(shipping_address) if fulfilment == Fulfilment.SHIP else {}
    point = _check_point(latitude, longitude)

    owner = {"id": cart.customer_id}

    def run(attempt):
        # Lock order: the customer row, then the cart (as a profile merge does), so a checkout
        # and a merge of the same person wait for each other instead of deadlocking.
        customer, locked, found, items = _lock_and_read(owner["id"], cart.pk, key)
        if locked is None:
            raise InvalidCheckout(_("This cart is no longer open."))
        if locked.customer_id != owner["id"]:  # merged into another profile meanwhile
            owner["id"] = locked.customer_id
            raise _TryAgain
        Cart.customer.field.set_cached_value(locked, customer)
        if found is not None:
            return Order.objects.get(pk=found)
        if locked.status != CartStatus.OPEN:
            raise InvalidCheckout(_("This cart is no longer open."))
        _check_items(items)
        return _create(
            customer=locked.customer,
            items=items,
            channel=channel,
            fulfilment=fulfilment,
            location=store,
            address=address,
            point=point,
            coupon_code=coupon_code,
            pay_at_pickup=pay_at_pickup,
            idempotency_key=key,
            external_reference="",
            cart=locked,
            acting_user=acting_user,
            attempt=attempt,
        )

    try:
        return _attempts(run)
    except IntegrityError:
        found = _existing(cart.customer_id, key)
        if found is None:
            raise
        return found


def import_external_order(
    *,
    channel: str,
    external_reference: str,
    buyer: list[tuple[str, str]],
    lines: list[tuple[Variant, int, Decimal]],
    shipping_address: dict,
    latitude=None,
    longitude=None,
    acting_user=None,
) -> tuple[Order, bool]:
    """An order taken on a marketplace or social shop, shipped from the shared pool.

    Idempotent by (channel, external_reference): a repeat returns the first order and False.
    """
    if channel not in (Channel.MARKETPLACE, Channel.SOCIAL):
        raise InvalidCheckout(_("Imported orders come from a marketplace or a social shop."))
    reference = (external_reference or "").strip()
    if not reference:
        raise InvalidCheckout(
            _("The marketplace's order number is required."),
            fields={"external_reference": [_("Required.")]},
        )
    found = Order.objects.filter(channel=channel, external_reference=reference).first()
    if found is not None:
        return found, False
    items = [Item(v, q, Decimal(p)) for v, q, p in lines]
    _check_items(items)
    address = _clean_address(shipping_address)
    point = _check_point(latitude, longitude)

    def run(attempt):
        customer = customer_services.identify(identifiers=buyer, source=channel)
        return _create(
            customer=customer,
            items=sorted(items, key=lambda i: i.variant.pk),
            channel=channel,
            fulfilment=Fulfilment.SHIP,
            location=None,
            address=address,
            point=point,
            coupon_code="",
            pay_at_pickup=False,
            idempotency_key="",
            external_reference=reference,
            cart=None,
            acting_user=acting_user,
            attempt=attempt,
        )

    try:
        return _attempts(run), True
    except IntegrityError:
        found = Order.objects.filter(channel=channel, external_reference=reference).first()
        if found is None:
            raise
        return found, False
