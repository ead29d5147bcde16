"""Carts that follow the customer (this step). Orders, pickups and coupons come next (issue 5).

Lock order (ARCHITECTURE invariant 2): cart rows first (by pk), then coupons, then stock rows.
"""

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from customers import services as customer_services
from customers.models import Customer, EventType
from inventory.models import Variant
from inventory.selectors import pooled_availability
from orders.exceptions import InvalidCartLine, NotEnoughToSell
from orders.models import Cart, CartLine, CartStatus

MAX_LINE_QUANTITY = 99


def open_cart(*, customer: Customer, channel: str) -> Cart:
    """The customer's one open cart (created on first use; safe under concurrent calls)."""
    cart = Cart.objects.filter(customer=customer, status=CartStatus.OPEN).first()
    if cart is not None:
        return cart
    try:
        with transaction.atomic():
            return Cart.objects.create(customer=customer, channel=channel)
    except IntegrityError:  # another request created it first
        return Cart.objects.get(customer=customer, status=CartStatus.OPEN)


def cart_for_device(*, anonymous_id: str, channel: str) -> Cart:
    customer = customer_services.identify(identifiers=[("anonymous", anonymous_id)], source=channel)
    return open_cart(customer=customer, channel=channel)


def _locked(cart: Cart) -> Cart:
    cart = Cart.objects.select_for_update().get(pk=cart.pk)
    if cart.status != CartStatus.OPEN:
        raise InvalidCartLine(_("This cart is no longer open."))
    return cart


def _check(variant: Variant, quantity) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise InvalidCartLine(
            _("The quantity must be a whole number, 0 or more."), fields={"quantity": ["≥ 0"]}
        )
    if quantity > MAX_LINE_QUANTITY:
        raise InvalidCartLine(
            _("At most %(n)s units per line.") % {"n": MAX_LINE_QUANTITY},
            fields={"quantity": [f"≤ {MAX_LINE_QUANTITY}"]},
        )
    if quantity and not (variant.active and variant.product.active):
        raise InvalidCartLine(_("This product is not for sale."), fields={"sku": [variant.sku]})
    if quantity:
        sellable = pooled_availability([variant.pk])[variant.pk]
        if sellable < quantity:
            raise NotEnoughToSell(
                _("Only %(n)s units of %(sku)s can be sold online now.")
                % {"n": sellable, "sku": variant.sku},
                fields={"quantity": [_("Too many.")]},
            )
    return quantity


def _set_line(cart: Cart, variant: Variant, quantity: int, channel: str) -> Cart:
    """On a locked open cart: set the line and record the cart_updated touchpoint."""
    quantity = _check(variant, quantity)
    if quantity == 0:
        CartLine.objects.filter(cart=cart, variant=variant).delete()
    else:
        CartLine.objects.update_or_create(
            cart=cart, variant=variant, defaults={"quantity": quantity}
        )
    cart.save(update_fields=["updated_at"])
    customer_services.record_customer_event(
        customer=cart.customer,
        type=EventType.CART_UPDATED,
        channel=channel,
        properties={"cart": cart.pk, "sku": variant.sku, "quantity": quantity},
    )
    return cart


@transaction.atomic
def set_line_quantity(*, cart: Cart, variant: Variant, quantity: int, channel: str) -> Cart:
    """Set a line's quantity (0 removes it); the change is recorded as a cart_updated event."""
    return _set_line(_locked(cart), variant, quantity, channel)


@transaction.atomic
def add_to_cart(*, cart: Cart, variant: Variant, quantity: int, channel: str) -> Cart:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise InvalidCartLine(
            _("The quantity must be a whole number above zero."), fields={"quantity": ["> 0"]}
        )
    cart = _locked(cart)
    current = (
        CartLine.objects.filter(cart=cart, variant=variant)
        .values_list("quantity", flat=True)
        .first()
        or 0
    )
    return _set_line(cart, variant, current + quantity, channel)


@transaction.atomic
def merge_carts(*, source: Cart, target: Cart) -> Cart:
    """Move the source cart's lines into the target (quantities add up); the source is closed."""
    if source.pk == target.pk:
        return target
    carts = {
        c.pk: c
        for c in Cart.objects.filter(pk__in=[source.pk, target.pk])
        .order_by("pk")
        .select_for_update()
    }
    source, target = carts[source.pk], carts[target.pk]
    if source.status != CartStatus.OPEN:
        return target
    existing = {line.variant_id: line for line in target.lines.all()}
    for line in source.lines.all():
        mine = existing.get(line.variant_id)
        if mine is None:
            CartLine.objects.create(cart=target, variant_id=line.variant_id, quantity=line.quantity)
        else:
            mine.quantity = min(MAX_LINE_QUANTITY, mine.quantity + line.quantity)
            mine.save(update_fields=["quantity"])
    source.lines.all().delete()
    source.status = CartStatus.MERGED
    source.merged_into = target
    source.save(update_fields=["status", "merged_into", "updated_at"])
    if target.status != CartStatus.OPEN:
        target.status = CartStatus.OPEN
    target.save(update_fields=["status", "updated_at"])
    return target


@transaction.atomic
def claim_cart(*, cart: Cart, customer: Customer, channel: str) -> Cart:
    """A shopper signs in on a device: the device's cart joins the shopper's own cart."""
    mine = open_cart(customer=customer, channel=channel)
    if cart.customer_id == customer.pk:
        return mine
    return merge_carts(source=cart, target=mine)


def move_carts_on_merge(*, survivor: Customer, absorbed: Customer) -> None:
    """customers_merged receiver (inside the merge transaction): the carts follow the person."""
    absorbed_open = Cart.objects.filter(customer=absorbed, status=CartStatus.OPEN).first()
    survivor_open = Cart.objects.filter(customer=survivor, status=CartStatus.OPEN).first()
    Cart.objects.filter(customer=absorbed).exclude(status=CartStatus.OPEN).update(customer=survivor)
    if absorbed_open is None:
        return
    if survivor_open is None:
        Cart.objects.filter(pk=absorbed_open.pk).update(customer=survivor)
        return
    merge_carts(source=absorbed_open, target=survivor_open)
    Cart.objects.filter(pk=absorbed_open.pk).update(customer=survivor)
