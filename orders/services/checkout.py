"""Placing an order: validate, price, apply the coupon, reserve every line or none, create it.

One ``place_order`` for every door: a storefront cart (pickup or shipping), the shop counter and
orders imported from marketplaces and social shops (``import_external_order``) — all take stock
from the same pool through ``inventory.services.reserve``.

Locks (ARCHITECTURE invariant 2): the customer row, then the cart row, then the coupon and its
promotion, then the stock rows — the last inside one ``reserve`` call, which sorts them by
(location_id, variant_id), so concurrent checkouts can neither oversell nor deadlock.

The checkout in named steps (django-oscar's OrderCreator is the model): read the cart under its
locks (``orders.queries.lock_for_checkout``), price and redeem, build the order, allocate and
reserve (``orders.allocation``), request transfers, build the lines and the history
(``orders.history``), sell at the counter, persist (``orders.queries.persist_order``), announce.
"""

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers import locks as customer_locks
from customers import services as customer_services
from customers.models import Channel, Customer, EventType
from inventory import queries as inventory_queries
from inventory import services as stock
from inventory.exceptions import InsufficientStock
from inventory.models import Location, LocationKind, Reservation, Variant
from omni.signals import send_on_commit
from orders import history, pricing, queries, rules
from orders.allocation import (
    Allocation,
    Item,
    PendingTransfer,
    allocate_counter,
    allocate_pickup,
    at_store,
    request_transfers,
    reserve,
    route_shipment,
)
from orders.exceptions import (
    EmptyCart,
    InvalidCartLine,
    InvalidCheckout,
    NotAPickupPoint,
    NotEnoughToSell,
    NotYourStore,
)
from orders.models import (
    SALES_CHANNELS,
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
from orders.services.carts import MAX_LINE_QUANTITY, reopen_abandoned
from orders.signals import order_placed

ORDER_CHANNELS = SALES_CHANNELS
ALLOCATION_ATTEMPTS = 3
ADDRESS_FIELDS = ("name", "line1", "line2", "postal_code", "city", "country", "phone")
_FULFILMENTS = frozenset(Fulfilment.values)


@dataclass(frozen=True)
class CheckoutRequest:
    """What was asked, checked once before the first attempt: how, where and by whom."""

    channel: str
    fulfilment: str
    location: Location | None
    address: dict
    point: tuple[float, float] | None
    coupon_code: str = ""
    pay_at_pickup: bool = False
    idempotency_key: str = ""
    external_reference: str = ""
    acting_user: object = None


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


def _checkout_request(
    *,
    fulfilment: str,
    channel: str,
    location: Location | None,
    shipping_address: dict | None,
    latitude,
    longitude,
    coupon_code: str,
    pay_at_pickup: bool,
    idempotency_key: str,
    acting_user,
) -> CheckoutRequest:
    """The request of a cart's checkout, its input checked (InvalidCheckout, NotAPickupPoint)."""
    if fulfilment not in _FULFILMENTS:
        raise InvalidCheckout(_("Unknown fulfilment."), fields={"fulfilment": [fulfilment]})
    if channel not in ORDER_CHANNELS:
        raise InvalidCheckout(_("Unknown channel."), fields={"channel": [channel]})
    if (fulfilment == Fulfilment.COUNTER) != (channel == Channel.STORE):
        raise InvalidCheckout(_("Counter sales are taken in the store channel only."))
    key = (idempotency_key or "").strip()[:255]
    store = _resolve_store(location, fulfilment)
    address = _clean_address(shipping_address) if fulfilment == Fulfilment.SHIP else {}
    return CheckoutRequest(
        channel=channel,
        fulfilment=fulfilment,
        location=store,
        address=address,
        point=_check_point(latitude, longitude),
        coupon_code=coupon_code,
        pay_at_pickup=pay_at_pickup,
        idempotency_key=key,
        acting_user=acting_user,
    )


# --- Reading the cart -------------------------------------------------------------------------


def _read_cart(owner: dict, cart_pk: int, key: str) -> queries.CheckoutRows:
    """Lock the customer row, then the cart (as a profile merge does, so a checkout and a merge
    of the same person wait for each other instead of deadlocking), and read what the checkout
    needs. A cart merged into another profile meanwhile: start over as that profile."""
    rows = queries.lock_for_checkout(owner["id"], cart_pk, key)
    if rows.cart is None:
        raise InvalidCheckout(_("This cart is no longer open."))
    if rows.cart.customer_id != owner["id"]:  # merged into another profile meanwhile
        owner["id"] = rows.cart.customer_id
        raise _TryAgain
    Cart.customer.field.set_cached_value(rows.cart, rows.customer)
    return rows


def _items(lines: tuple[tuple[int, int], ...]) -> list[Item]:
    """The cart's lines as items at today's price, their variant, product and category loaded
    (inventory's query: one statement)."""
    variants = inventory_queries.variants_for_checkout([variant_id for variant_id, _q in lines])
    return [Item(variants[v], q, variants[v].price) for v, q in lines]


def _checkout_cart(request: CheckoutRequest, cart_pk: int, owner: dict, attempt: int) -> Order:
    """One attempt at a cart's checkout: the order this key placed already, or a new one."""
    rows = _read_cart(owner, cart_pk, request.idempotency_key)
    if rows.order_id is not None:
        return Order.objects.get(pk=rows.order_id)
    reopen_abandoned(rows.cart)  # a shopper back for an abandoned cart checks it out
    if rows.cart.status != CartStatus.OPEN:
        raise InvalidCheckout(_("This cart is no longer open."))
    items = _items(rows.lines)
    _check_items(items)
    return _create(request, customer=rows.customer, items=items, cart=rows.cart, attempt=attempt)


# --- Creating the order -----------------------------------------------------------------------


def _create(
    request: CheckoutRequest, *, customer: Customer, items: list[Item], cart: Cart | None,
    attempt: int = 0,
) -> Order:  # fmt: skip
    """Create the order in named steps: price and redeem, build the order, allocate and
    reserve, request transfers, build lines and history, sell at the counter, persist,
    announce."""
    number = new_order_number()
    quote, discount = _price_and_redeem(request, items, number=number, customer=customer)
    payments = provider()
    order = _build_order(
        request, number=number, customer=customer, cart=cart, quote=quote, discount=discount,
        provider_name=payments.name,
    )  # fmt: skip
    # Stock first (the order's number names the holds), then the order row in one INSERT.
    allocations, order.routing_reason, holds = _allocate_and_reserve(
        order, items, request.point, attempt=attempt
    )
    transfers = request_transfers(order, allocations, holds, request.acting_user)
    if transfers:
        order.status = OrderStatus.AWAITING_TRANSFER
        order.promised_on = max(t.promise for t in transfers.values())
    if order.payment_state == PaymentState.PAID:
        order.payment_reference = payments.capture(order_number=number, amount=quote.total)
    order_lines = _build_lines(order, quote, allocations, transfers)
    events = history.placed_events(order, request.acting_user)
    if request.fulfilment == Fulfilment.COUNTER:
        _sell_at_counter(order, holds, order_lines, events, request.acting_user)
    _persist(order, order_lines, events, cart)
    _announce(order, items)
    return order


def _price_and_redeem(request: CheckoutRequest, items, *, number, customer):
    """The quote, with the coupon redeemed (once, whatever the channel) when one is given."""
    priced = [pricing.PricedLine(i.variant, i.quantity, i.unit_price) for i in items]
    discount = None
    if request.coupon_code:
        redemption = pricing.redeem_coupon(
            code=request.coupon_code,
            lines=priced,
            channel=request.channel,
            reference=number,
            customer=customer,
        )
        discount = pricing.Discount(
            coupon=redemption.coupon,
            amount=redemption.discount,
            free_shipping=redemption.coupon.promotion.kind == pricing.PromotionKind.FREE_SHIPPING,
        )
    ships = request.fulfilment == Fulfilment.SHIP
    return pricing.quote(priced, discount=discount, ships=ships), discount


def _payment_state(fulfilment: str, pay_at_pickup: bool) -> str:
    if fulfilment == Fulfilment.PICKUP and pay_at_pickup:
        return PaymentState.PAY_AT_PICKUP
    return PaymentState.PAID


def _build_order(
    request: CheckoutRequest, *, number, customer, cart, quote, discount, provider_name
) -> Order:
    """The order row, not saved yet (``_persist`` writes it with its lines and history)."""
    return Order(
        number=number,
        customer=customer,
        cart=cart,
        channel=request.channel,
        fulfilment=request.fulfilment,
        location=request.location,
        idempotency_key=request.idempotency_key,
        external_reference=request.external_reference,
        payment_state=_payment_state(request.fulfilment, request.pay_at_pickup),
        payment_provider=provider_name,
        shipping_address=request.address,
        coupon=discount.coupon if discount else None,
        subtotal=quote.subtotal,
        discount_total=quote.discount_total,
        shipping_total=quote.shipping_total,
        tax_total=quote.tax_total,
        total=quote.total,
        created_by=request.acting_user,
    )


def _allocate_and_reserve(order, items, point, *, attempt: int):
    """Allocate and reserve: all lines or none (``reserve`` is all or nothing by itself).

    Attempt 0 of a pickup or counter sale tries the store alone without reading stock (the
    guarded update is the check): the usual case. Later attempts plan from a read of the stock.
    """
    counter = order.fulfilment == Fulfilment.COUNTER
    if order.fulfilment != Fulfilment.SHIP and attempt == 0:
        here = at_store(items, order.location_id)
        try:
            return here, "", reserve(order, here, counter=counter)
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
        return allocations, reason, reserve(order, allocations, counter=counter)
    except InsufficientStock:
        if attempt >= ALLOCATION_ATTEMPTS:
            raise NotEnoughToSell(
                _("Those units were just sold; please check your cart again.")
            ) from None
        raise _TryAgain from None


def _build_lines(
    order: Order,
    quote: pricing.Quote,
    allocations: list[Allocation],
    transfers: dict[int, PendingTransfer],
) -> list[OrderLine]:
    """The order's lines: one per fulfilling location of each priced line."""
    by_variant: dict[int, list[Allocation]] = defaultdict(list)
    for allocation in allocations:
        by_variant[allocation.variant_id].append(allocation)
    order_lines: list[OrderLine] = []
    for line_quote in quote.lines:
        _split_line(order, line_quote, by_variant, transfers, order_lines)
    return order_lines


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


def _sell_at_counter(
    order: Order, holds: list[Reservation], order_lines: list[OrderLine], events, acting_user
) -> None:
    """Sold on the spot: the holds become sales now and the order is completed."""
    stock.consume(
        reservation_ids=[r.pk for r in holds],
        reference=f"order:{order.number}",
        acting_user=acting_user,
    )
    for line in order_lines:
        line.state = LineState.FULFILLED
    order.status, order.closed_at = OrderStatus.COMPLETED, timezone.now()
    events.append(history.sold_at_counter_event(order, acting_user))


def _persist(
    order: Order, order_lines: list[OrderLine], events: list[OrderEvent], cart: Cart | None
) -> None:
    """The order, its lines, its history and the cart it closes (one statement on the fast
    path)."""
    if cart is not None:
        cart.status = CartStatus.CHECKED_OUT
    queries.persist_order(order, order_lines, events, cart)
    # Kept for the API's 201 body (``prefetch_placed``), at no cost when nobody asks.
    order._placed_rows = {"lines": order_lines, "history": events}


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


def _attempts(run):
    """Run one checkout transaction, starting over when an allocation came back short."""
    for attempt in range(ALLOCATION_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return run(attempt)
        except _TryAgain:
            continue
    raise AssertionError("unreachable: the last attempt raises NotEnoughToSell")


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
    request = _checkout_request(
        fulfilment=fulfilment, channel=channel or cart.channel, location=location,
        shipping_address=shipping_address, latitude=latitude, longitude=longitude,
        coupon_code=coupon_code, pay_at_pickup=pay_at_pickup, idempotency_key=idempotency_key,
        acting_user=acting_user,
    )  # fmt: skip
    owner = {"id": cart.customer_id}  # the cart's profile (another after a merge)
    try:
        return _attempts(lambda attempt: _checkout_cart(request, cart.pk, owner, attempt))
    except IntegrityError:  # a checkout with the same key won the race
        found = queries.order_for_key(cart.customer_id, request.idempotency_key)
        if found is None:
            raise
        return Order.objects.get(pk=found)


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
    request = CheckoutRequest(
        channel=channel,
        fulfilment=Fulfilment.SHIP,
        location=None,
        address=address,
        point=point,
        external_reference=reference,
        acting_user=acting_user,
    )
    items = sorted(items, key=lambda i: i.variant.pk)

    def run(attempt):
        customer = customer_services.identify(identifiers=buyer, source=channel)
        return _create(request, customer=customer, items=items, cart=None, attempt=attempt)

    try:
        return _attempts(run), True
    except IntegrityError:
        found = Order.objects.filter(channel=channel, external_reference=reference).first()
        if found is None:
            raise
        return found, False


def _counter_items(lines: Sequence[tuple[Variant, int]]) -> list[Item]:
    """The till's lines as items at today's price, a SKU given twice as one line, in variant
    order (as the reservations lock them)."""
    quantities: dict[int, int] = {}
    variants: dict[int, Variant] = {}
    for variant, quantity in lines:
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise InvalidCartLine(
                _("The quantity must be a whole number above zero."), fields={"quantity": ["> 0"]}
            )
        variants[variant.pk] = variant
        quantities[variant.pk] = quantities.get(variant.pk, 0) + quantity
        if quantities[variant.pk] > MAX_LINE_QUANTITY:
            raise InvalidCartLine(
                _("At most %(n)s units per line.") % {"n": MAX_LINE_QUANTITY},
                fields={"quantity": [f"≤ {MAX_LINE_QUANTITY}"]},
            )
    return [Item(variants[pk], quantities[pk], variants[pk].price) for pk in sorted(variants)]


def sell_at_counter(
    *,
    customer: Customer,
    store: Location,
    lines: Sequence[tuple[Variant, int]],
    coupon_code: str = "",
    acting_user=None,
    idempotency_key: str = "",
) -> Order:
    """A sale at a store's till: the units leave that store's shelf now, paid, the order
    completed (fulfilment counter, channel store) — all or nothing: an unknown or used coupon,
    or a unit the store does not hold, writes nothing.

    ``lines``: (variant, quantity) pairs, sold at today's prices. The sale does not go through
    the customer's cart (their online cart stays as it is). ``acting_user`` (the salesperson)
    may sell only at the stores they act on (NotYourStore). A personal coupon is valid only
    for its customer. The same ``idempotency_key`` (per customer) returns the first sale's
    order, also when the calls race.
    """
    if (
        acting_user is not None
        and not rules.stores_for_user(acting_user).filter(pk=store.pk).exists()
    ):
        raise NotYourStore()
    request = _checkout_request(
        fulfilment=Fulfilment.COUNTER, channel=Channel.STORE, location=store,
        shipping_address=None, latitude=None, longitude=None, coupon_code=coupon_code or "",
        pay_at_pickup=False, idempotency_key=idempotency_key, acting_user=acting_user,
    )  # fmt: skip
    items = _counter_items(lines)
    _check_items(items)

    def run(attempt):
        person = customer_locks.customer_for_no_key_update(customer.pk)  # first, as checkout
        if person is None or not person.is_live:
            raise InvalidCheckout(
                _("This customer profile is no longer live."),
                fields={"customer": [_("Not a live customer.")]},
            )
        found = queries.order_for_key(person.pk, request.idempotency_key)
        if found is not None:
            return Order.objects.get(pk=found)
        return _create(request, customer=person, items=items, cart=None, attempt=attempt)

    try:
        return _attempts(run)
    except IntegrityError:  # a sale with the same key won the race
        found = queries.order_for_key(customer.pk, request.idempotency_key)
        if found is None:
            raise
        return Order.objects.get(pk=found)
