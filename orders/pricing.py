"""Promotions and coupons: checking a code and redeeming it (pricing lives in orders).

Money is Decimal in euros; a discount is rounded half-up to the cent and never exceeds the
eligible lines' total. Locks: a redemption locks the coupon row, then the promotion row (after
any cart/order row the caller holds), so concurrent redemptions in every channel serialise.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory.models import Variant
from inventory.selectors import category_with_descendants
from omni.exceptions import Conflict, DomainError
from orders import locks
from orders.models import Coupon, CouponRedemption, Promotion, PromotionKind

CENT = Decimal("0.01")


class CouponInvalid(DomainError):
    code = "coupon_invalid"


class CouponUsedUp(Conflict):
    code = "coupon_used_up"


@dataclass(frozen=True)
class PricedLine:
    variant: Variant
    quantity: int
    unit_price: Decimal

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Discount:
    coupon: Coupon
    amount: Decimal
    free_shipping: bool


def normalise_code(code: str) -> str:
    return "".join((code or "").split()).upper()


def _eligible_lines(promotion: Promotion, lines: list[PricedLine]) -> list[PricedLine]:
    category_ids = set(promotion.categories.values_list("pk", flat=True))
    product_ids = set(promotion.products.values_list("pk", flat=True))
    if not category_ids and not product_ids:
        return list(lines)
    if category_ids:
        category_ids = category_with_descendants(category_ids)
    return [
        line
        for line in lines
        if line.variant.product_id in product_ids
        or line.variant.product.category_id in category_ids
    ]


def _eligible_total(promotion: Promotion, lines: list[PricedLine]) -> Decimal:
    return sum((line.total for line in _eligible_lines(promotion, lines)), Decimal("0"))


def check_coupon(
    *, code: str, lines: list[PricedLine], channel: str, customer=None, now=None
) -> Discount:
    """What the code is worth for this basket, or CouponInvalid/CouponUsedUp saying why."""
    coupon = Coupon.objects.select_related("promotion").filter(code=normalise_code(code)).first()
    if coupon is None:
        raise CouponInvalid(_("Unknown coupon code."), fields={"code": [_("Unknown.")]})
    return _evaluate(coupon, lines=lines, channel=channel, customer=customer, now=now)


def _evaluate(coupon: Coupon, *, lines, channel, customer, now=None) -> Discount:
    """The rules of the coupon's promotion applied to one basket."""
    now = now or timezone.now()
    promotion = coupon.promotion
    if not promotion.active:
        raise CouponInvalid(_("This promotion has ended."), fields={"code": [_("Inactive.")]})
    if (promotion.starts_at and now < promotion.starts_at) or (
        promotion.ends_at and now >= promotion.ends_at
    ):
        raise CouponInvalid(
            _("This coupon is not valid at this time."), fields={"code": [_("Expired.")]}
        )
    if promotion.channels and channel not in promotion.channels:
        raise CouponInvalid(
            _("This coupon is not valid in this channel."), fields={"code": [_("Wrong channel.")]}
        )
    if coupon.customer_id is not None and getattr(customer, "pk", None) != coupon.customer_id:
        raise CouponInvalid(
            _("This code is personal: sign in as the customer it was sent to."),
            fields={"code": [_("Personal code of another customer.")]},
        )
    if coupon.single_use and coupon.used:
        raise CouponUsedUp(_("This coupon was already used."), fields={"code": [_("Used.")]})
    if promotion.max_uses is not None and promotion.times_used >= promotion.max_uses:
        raise CouponUsedUp(_("This promotion is used up."), fields={"code": [_("Used up.")]})
    if customer is not None and promotion.max_uses_per_customer is not None:
        used = CouponRedemption.objects.filter(promotion=promotion, customer=customer).count()
        if used >= promotion.max_uses_per_customer:
            raise CouponUsedUp(
                _("You have already used this promotion."), fields={"code": [_("Used.")]}
            )
    basket = sum((line.total for line in lines), Decimal("0"))
    if basket < promotion.min_basket:
        raise CouponInvalid(
            _("This coupon needs a basket of at least %(amount)s €.")
            % {"amount": promotion.min_basket},
            fields={"code": [_("Basket too small.")]},
        )
    eligible = _eligible_total(promotion, lines)
    if promotion.kind == PromotionKind.FREE_SHIPPING:
        return Discount(coupon=coupon, amount=Decimal("0.00"), free_shipping=True)
    if eligible <= 0:
        raise CouponInvalid(
            _("No product in the basket is eligible."), fields={"code": [_("Not eligible.")]}
        )
    if promotion.kind == PromotionKind.PERCENTAGE:
        amount = eligible * promotion.value / Decimal("100")
    else:
        amount = promotion.value
    amount = min(amount, eligible).quantize(CENT, rounding=ROUND_HALF_UP)
    return Discount(coupon=coupon, amount=amount, free_shipping=False)


@transaction.atomic
def redeem_coupon(
    *, code: str, lines: list[PricedLine], channel: str, reference: str, customer=None
) -> CouponRedemption:
    """Redeem a code for an order (online or at the counter): at most once if single-use,
    within the promotion's limits, whatever the concurrency."""
    coupon = locks.coupon_for_update(normalise_code(code))  # with its promotion
    if coupon is None:
        raise CouponInvalid(_("Unknown coupon code."), fields={"code": [_("Unknown.")]})
    discount = _evaluate(coupon, lines=lines, channel=channel, customer=customer)
    updated = Promotion.objects.filter(
        Q(max_uses__isnull=True) | Q(times_used__lt=F("max_uses")), pk=coupon.promotion_id
    ).update(times_used=F("times_used") + 1)
    if not updated:
        raise CouponUsedUp(_("This promotion is used up."), fields={"code": [_("Used up.")]})
    if coupon.single_use:
        Coupon.objects.filter(pk=coupon.pk).update(used=True)
    try:
        with transaction.atomic():
            return CouponRedemption.objects.create(
                coupon=coupon,
                promotion_id=coupon.promotion_id,
                customer=customer,
                channel=channel,
                reference=reference,
                discount=discount.amount,
                single_use=coupon.single_use,
            )
    except IntegrityError:  # the database's last word on single use
        raise CouponUsedUp(
            _("This coupon was already used."), fields={"code": [_("Used.")]}
        ) from None


# --- Order totals -----------------------------------------------------------------------------
#
# Rounding (documented for accountants): prices include VAT. A coupon's discount is split over
# the eligible lines in proportion to their totals, each share rounded half-up to the cent and
# the remainder put on the largest line, so the shares add up to the discount exactly. A line's
# VAT is extracted from its discounted total: total × rate / (100 + rate), rounded half-up to
# the cent, per line (never per unit). Shipping carries the standard rate.


@dataclass(frozen=True)
class LineQuote:
    line: PricedLine
    discount: Decimal
    tax_rate: Decimal
    tax: Decimal
    total: Decimal


@dataclass(frozen=True)
class Quote:
    lines: list[LineQuote]
    subtotal: Decimal
    discount_total: Decimal
    shipping_total: Decimal
    tax_total: Decimal
    total: Decimal


def vat_rate(tax_class: str) -> Decimal:
    return Decimal(settings.VAT_RATES.get(tax_class, settings.VAT_RATES["standard"]))


def included_vat(gross: Decimal, rate: Decimal) -> Decimal:
    return (gross * rate / (Decimal("100") + rate)).quantize(CENT, rounding=ROUND_HALF_UP)


def split_discount(amount: Decimal, lines: list[PricedLine]) -> dict[int, Decimal]:
    """Shares of ``amount`` per line index, proportional to the lines' totals, exact to the cent."""
    base = sum((line.total for line in lines), Decimal("0"))
    if not amount or not base:
        return {}
    shares = {
        i: (amount * line.total / base).quantize(CENT, rounding=ROUND_HALF_UP)
        for i, line in enumerate(lines)
    }
    largest = max(range(len(lines)), key=lambda i: (lines[i].total, -i))
    shares[largest] += amount - sum(shares.values())
    return shares


def quote(
    lines: list[PricedLine], *, discount: Discount | None = None, ships: bool = False
) -> Quote:
    """Totals of an order: lines, discount, shipping and the VAT they include."""
    shares: dict[int, Decimal] = {}
    if discount is not None and discount.amount:
        eligible = _eligible_lines(discount.coupon.promotion, lines)
        eligible_shares = split_discount(discount.amount, eligible)
        by_identity = {id(line): i for i, line in enumerate(lines)}
        shares = {by_identity[id(eligible[i])]: amount for i, amount in eligible_shares.items()}
    line_quotes = []
    for i, line in enumerate(lines):
        off = shares.get(i, Decimal("0.00"))
        total = line.total - off
        rate = vat_rate(line.variant.product.tax_class)
        line_quotes.append(
            LineQuote(
                line=line, discount=off, tax_rate=rate, tax=included_vat(total, rate), total=total
            )
        )
    subtotal = sum((line.total for line in lines), Decimal("0.00"))
    discount_total = sum((lq.discount for lq in line_quotes), Decimal("0.00"))
    shipping = Decimal("0.00")
    free = discount is not None and discount.free_shipping
    if ships and not free and subtotal - discount_total < Decimal(settings.FREE_SHIPPING_FROM):
        shipping = Decimal(settings.SHIPPING_FEE)
    tax = sum((lq.tax for lq in line_quotes), Decimal("0.00"))
    tax += included_vat(shipping, vat_rate("standard"))
    return Quote(
        lines=line_quotes,
        subtotal=subtotal,
        discount_total=discount_total,
        shipping_total=shipping,
        tax_total=tax,
        total=subtotal - discount_total + shipping,
    )
