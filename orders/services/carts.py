"""Carts that follow the customer across devices and channels.

Lock order (ARCHITECTURE invariant 2): cart rows first (by pk), then coupons, then stock rows.
"""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from customers import services as customer_services
from customers.models import Channel, Customer, CustomerStatus, EventType
from inventory.models import Variant
from inventory.selectors import pooled_availability_up_to
from omni.signals import send_on_commit
from orders import locks, queries
from orders.exceptions import CartNotYours, InvalidCartLine, NotEnoughToSell
from orders.models import Cart, CartLine, CartStatus
from orders.rules import check_bearer_access
from orders.signals import cart_abandoned

MAX_LINE_QUANTITY = 99
ABANDON_CHUNK = 5_000  # cart ids per UPDATE of the abandoned-cart sweep


def open_cart(*, customer: Customer, channel: str) -> Cart:
    """The customer's one open cart: the open one, else their most recent abandoned cart
    opened again (a shopper who comes back finds their cart), else a new one. Safe under
    concurrent calls: the partial unique index "one open cart per customer" decides, and the
    loser takes the winner's cart."""
    cart = Cart.objects.filter(customer=customer, status=CartStatus.OPEN).first()
    if cart is not None:
        return cart
    try:
        with transaction.atomic():
            return _reopen_latest_abandoned(customer) or Cart.objects.create(
                customer=customer, channel=channel
            )
    except IntegrityError:  # another request opened or created it first
        return Cart.objects.get(customer=customer, status=CartStatus.OPEN)


def _reopen_latest_abandoned(customer: Customer) -> Cart | None:
    """The customer's most recent abandoned cart, open again (a guarded UPDATE abandoned →
    open), or None when they have none (or another request took it meanwhile). Raises
    IntegrityError when another open cart appeared meanwhile."""
    latest = (
        Cart.objects.filter(customer=customer, status=CartStatus.ABANDONED)
        .order_by("-updated_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if latest is None:
        return None
    reopened = Cart.objects.filter(pk=latest, status=CartStatus.ABANDONED).update(
        status=CartStatus.OPEN, updated_at=timezone.now()
    )
    return Cart.objects.get(pk=latest) if reopened else None


def reopen_abandoned(cart: Cart) -> bool:
    """On a cart row the caller holds locked: an abandoned cart is open again (True), unless
    its customer has another open cart meanwhile (False; the cart stays abandoned). Any other
    status: nothing changes, False."""
    if cart.status != CartStatus.ABANDONED:
        return False
    try:
        with transaction.atomic():  # a savepoint: the unique index may refuse it
            Cart.objects.filter(pk=cart.pk).update(
                status=CartStatus.OPEN, updated_at=timezone.now()
            )
    except IntegrityError:  # the customer has another open cart
        return False
    cart.status = CartStatus.OPEN
    return True


@transaction.atomic
def mark_abandoned_carts(*, idle_minutes: int, now=None) -> list[int]:
    """Open carts with at least one line, idle (``updated_at``: every line change stamps it)
    for more than ``idle_minutes``, of live customers: abandoned, set-based (one locking read,
    then one UPDATE per ABANDON_CHUNK ids: a single one but on a backlog).

    Returns their ids (sorted) and sends ``cart_abandoned`` (sender=Cart, cart_ids=[...])
    once, after commit, when there are any. A cart being changed right now is skipped (its
    row lock is held: it is not idle). Safe to run twice: an abandoned cart is not open."""
    if isinstance(idle_minutes, bool) or not isinstance(idle_minutes, int) or idle_minutes < 1:
        raise ValueError("idle_minutes must be a whole number of minutes, 1 or more")
    cutoff = (now or timezone.now()) - timedelta(minutes=idle_minutes)
    idle = (
        Cart.objects.filter(
            Exists(CartLine.objects.filter(cart=OuterRef("pk"))),
            status=CartStatus.OPEN,
            updated_at__lt=cutoff,
            customer__status=CustomerStatus.LIVE,
        )
        .order_by("pk")
        .select_for_update(of=("self",), skip_locked=True)
    )
    ids = list(idle.values_list("pk", flat=True))
    if not ids:
        return []
    # The rows are locked by the read above, so the UPDATE changes exactly these carts; a
    # backlog (the first run) is written ABANDON_CHUNK ids per statement (PostgreSQL takes at
    # most 65,535 bound parameters).
    for start in range(0, len(ids), ABANDON_CHUNK):
        Cart.objects.filter(pk__in=ids[start : start + ABANDON_CHUNK]).update(
            status=CartStatus.ABANDONED
        )
    send_on_commit(cart_abandoned, sender=Cart, cart_ids=ids)
    return ids


def cart_for_device(*, anonymous_id: str, channel: str) -> Cart:
    """The device's cart. A device id is typed, not proof: it opens only an unclaimed profile
    (after its owner signed in on it, the device's id leads to their account: sign in)."""
    customer = customer_services.identify(identifiers=[("anonymous", anonymous_id)], source=channel)
    check_bearer_access(customer_id=customer.pk)
    return open_cart(customer=customer, channel=channel)


def _locked(cart: Cart) -> Cart:
    """The cart's row, locked and open: an abandoned cart opens again when its customer has no
    other open cart; any other cart that is not open is InvalidCartLine."""
    locked = locks.cart_for_update(cart.pk)
    if locked is not None:
        reopen_abandoned(locked)
    if locked is None or locked.status != CartStatus.OPEN:
        raise InvalidCartLine(_("This cart is no longer open."))
    if locked.customer_id == cart.customer_id and Cart.customer.is_cached(cart):
        Cart.customer.field.set_cached_value(locked, cart.customer)
    return locked


def _check(variant: Variant, quantity, channel: str = "web") -> int:
    """A line's quantity: a whole number within limits, of a product for sale and, for remote
    channels, sellable online now (a counter cart is checked against the store at the sale)."""
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
    if quantity and channel != Channel.STORE:
        sellable = pooled_availability_up_to(variant.pk, quantity)
        if sellable < quantity:
            raise NotEnoughToSell(
                _("Only %(n)s units of %(sku)s can be sold online now.")
                % {"n": sellable, "sku": variant.sku},
                fields={"quantity": [_("Too many.")]},
            )
    return quantity


def _check_line_count(cart: Cart) -> None:
    """A cart holds at most settings.CART_MAX_LINES lines (a checkout of them stays fast)."""
    limit = settings.CART_MAX_LINES
    if CartLine.objects.filter(cart=cart).count() > limit:
        raise InvalidCartLine(
            _("A cart holds at most %(n)s lines.") % {"n": limit},
            code="too_many_lines",
            fields={"sku": [_("At most %(n)s lines.") % {"n": limit}]},
        )


def _write_line(cart: Cart, variant: Variant, quantity: int, *, add: bool, channel: str) -> Cart:
    """On a locked open cart: write the line (one upsert), check the result, record the
    cart_updated touchpoint. A line that breaks a rule raises and the caller's transaction rolls
    the write back, so nothing is written."""
    if quantity == 0 and not add:
        CartLine.objects.filter(cart=cart, variant=variant).delete()
    else:
        asked = quantity
        quantity = queries.upsert_cart_line(cart.pk, variant.pk, quantity, add=add)
        if quantity == asked:  # maybe a new line (an added one grew past ``asked`` otherwise)
            _check_line_count(cart)
    if add:  # the line's new total is known only now
        _check(variant, quantity, channel)
    queries.touch_cart(cart)
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
    _check(variant, quantity, channel)
    return _write_line(_locked(cart), variant, quantity, add=False, channel=channel)


@transaction.atomic
def add_to_cart(*, cart: Cart, variant: Variant, quantity: int, channel: str) -> Cart:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise InvalidCartLine(
            _("The quantity must be a whole number above zero."), fields={"quantity": ["> 0"]}
        )
    if quantity > MAX_LINE_QUANTITY:
        _check(variant, quantity, channel)  # explains the limit before anything is written
    return _write_line(_locked(cart), variant, quantity, add=True, channel=channel)


@transaction.atomic
def merge_carts(*, source: Cart, target: Cart) -> Cart:
    """Move the source cart's lines into the target (quantities add up); the source is closed."""
    if source.pk == target.pk:
        return target
    carts = locks.carts_for_update([source.pk, target.pk])
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
    """A shopper signs in on a device: the device's anonymous profile, its timeline and its
    cart join the shopper's. A cart of anyone else (a guest who gave contact data, another
    account) is not theirs to take: CartNotYours."""
    mine = open_cart(customer=customer, channel=channel)
    if cart.customer_id == customer.pk:
        return mine
    device_profile = Customer.objects.get(pk=cart.customer_id)
    if not (device_profile.is_anonymous and device_profile.is_live and not device_profile.user_id):
        raise CartNotYours()
    # The merge brings the cart along (customers_merged → move_carts_on_merge).
    customer_services.merge_customers(
        survivor=customer, absorbed=device_profile, cause=_("signed in on a device")
    )
    return Cart.objects.get(customer=customer, status=CartStatus.OPEN)


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


def attach_guest_contact(*, cart: Cart, contact: list[tuple[str, str]]) -> Cart:
    """A guest checking out gives an e-mail/phone (the pickup code goes there): typed contact,
    stored unverified on the cart's own profile. It merges nothing and opens no other profile;
    the order joins an account only when that account verifies the address
    (customers.services.link_verified_identifier)."""
    customer_services.record_contact(
        customer=Customer(pk=cart.customer_id), identifiers=contact, source=cart.channel
    )
    return cart
