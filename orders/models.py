"""Carts, orders (pickup, shipping, counter), their history, returns, promotions and coupons.

Money is Decimal in euros with two decimals. Prices are VAT-inclusive (as shelf prices in Spain);
see ``orders/pricing.py`` for how discounts and VAT are rounded.
"""

import secrets

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customers.models import Channel


def new_cart_token() -> str:
    return secrets.token_urlsafe(24)


class CartStatus(models.TextChoices):
    OPEN = "open", _("Open")
    MERGED = "merged", _("Merged into another cart")
    CHECKED_OUT = "checked_out", _("Checked out")
    ABANDONED = "abandoned", _("Abandoned")


class Cart(models.Model):
    """A shopper's cart. It belongs to a customer profile — an anonymous one (a device) until the
    shopper is known — and follows them: signing in on another device merges it."""

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        related_name="carts",
        on_delete=models.PROTECT,
    )
    token = models.CharField(
        _("token"), max_length=64, default=new_cart_token, editable=False
    )  # unique: orders_cart_token_uniq (a constraint, so no LIKE twin index)
    channel = models.CharField(
        _("started in"), max_length=20, choices=Channel.choices, default=Channel.WEB
    )
    status = models.CharField(
        _("status"), max_length=12, choices=CartStatus.choices, default=CartStatus.OPEN
    )
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # orders_cart_merged_into, partial
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("cart")
        verbose_name_plural = _("carts")
        ordering = ["-updated_at", "-pk"]
        constraints = [
            # One open cart per customer: every device of the person sees the same cart.
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(status="open"),
                name="orders_cart_one_open_per_customer",
            ),
            models.UniqueConstraint(fields=["token"], name="orders_cart_token_uniq"),
        ]
        indexes = [
            models.Index(
                fields=["merged_into"],
                condition=Q(merged_into__isnull=False),
                name="orders_cart_merged_into",
            ),
        ]

    def __str__(self):
        return f"cart {self.pk} ({self.get_status_display()})"


class CartLine(models.Model):
    cart = models.ForeignKey(
        Cart, verbose_name=_("cart"), related_name="lines", on_delete=models.CASCADE
    )
    variant = models.ForeignKey(
        "inventory.Variant", verbose_name=_("variant"), related_name="+", on_delete=models.PROTECT
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    added_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        verbose_name = _("cart line")
        verbose_name_plural = _("cart lines")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "variant"], name="orders_cartline_uniq"),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="orders_cartline_quantity_gt_0"
            ),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.variant_id}"


# The channels an order can be sold in (and so a promotion can be limited to).
SALES_CHANNELS = (
    Channel.WEB,
    Channel.APP,
    Channel.STORE,
    Channel.MARKETPLACE,
    Channel.SOCIAL,
    Channel.CALL_CENTRE,
)
SALES_CHANNEL_CHOICES = [(channel.value, channel.label) for channel in SALES_CHANNELS]


class PromotionKind(models.TextChoices):
    PERCENTAGE = "percentage", _("Percentage off")
    FIXED_AMOUNT = "fixed_amount", _("Fixed amount off")
    FREE_SHIPPING = "free_shipping", _("Free shipping")


class Promotion(models.Model):
    """A price rule, redeemable with its coupon codes in every channel it allows."""

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=PromotionKind.choices)
    value = models.DecimalField(
        _("value"),
        max_digits=10,
        decimal_places=2,
        default=0,
        help_text=_("Percent (0–100) or euros off; ignored for free shipping."),
    )
    min_basket = models.DecimalField(
        _("minimum basket"), max_digits=10, decimal_places=2, default=0
    )
    categories = models.ManyToManyField(
        "inventory.Category", verbose_name=_("eligible categories"), blank=True, related_name="+"
    )
    products = models.ManyToManyField(
        "inventory.Product", verbose_name=_("eligible products"), blank=True, related_name="+"
    )
    channels = ArrayField(
        models.CharField(max_length=20, choices=SALES_CHANNEL_CHOICES),
        verbose_name=_("valid channels"),
        default=list,
        blank=True,
        help_text=_("Empty: every channel."),
    )
    starts_at = models.DateTimeField(_("starts"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    max_uses = models.PositiveIntegerField(_("uses allowed in all"), null=True, blank=True)
    max_uses_per_customer = models.PositiveIntegerField(
        _("uses allowed per customer"), null=True, blank=True
    )
    times_used = models.PositiveIntegerField(_("times used"), default=0)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("promotion")
        verbose_name_plural = _("promotions")
        ordering = ["-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(value__gte=0) & Q(min_basket__gte=0),
                name="orders_promotion_non_negative",
            ),
            models.CheckConstraint(
                condition=~Q(kind="percentage") | Q(value__lte=100),
                name="orders_promotion_percentage_le_100",
            ),
            models.CheckConstraint(
                condition=Q(max_uses__isnull=True) | Q(times_used__lte=models.F("max_uses")),
                name="orders_promotion_uses_within_limit",
            ),
            models.CheckConstraint(
                condition=Q(
                    channels__contained_by=[value for value, _label in SALES_CHANNEL_CHOICES]
                ),
                name="orders_promotion_known_channels",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        """The checks of the constraints below, named by field for forms and the API."""
        errors = {}
        if self.kind == PromotionKind.PERCENTAGE and self.value is not None and self.value > 100:
            errors["value"] = _("A percentage is at most 100.")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = _("The end must come after the start.")
        if errors:
            raise ValidationError(errors)


# Coupon batches: the prefix and the size a marketer may ask for.
BATCH_PREFIX_MAX_LENGTH = 12
BATCH_MAX_QUANTITY = 100_000
prefix_validator = RegexValidator(
    r"^[A-Za-z0-9]*\Z", _("Use letters A–Z and digits only."), code="invalid_prefix"
)


class CouponBatch(models.Model):
    """Codes issued together for one promotion (a printed flyer, a partner, a campaign)."""

    promotion = models.ForeignKey(
        Promotion, verbose_name=_("promotion"), related_name="batches", on_delete=models.PROTECT
    )
    prefix = models.CharField(
        _("prefix"),
        max_length=BATCH_PREFIX_MAX_LENGTH,
        blank=True,
        validators=[prefix_validator],
        help_text=_("Letters and digits only, put before every code."),
    )
    quantity = models.PositiveIntegerField(
        _("quantity"), validators=[MinValueValidator(1), MaxValueValidator(BATCH_MAX_QUANTITY)]
    )
    campaign_id = models.PositiveBigIntegerField(
        _("campaign"), null=True, blank=True, help_text=_("The campaign that issued it, if any.")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("coupon batch")
        verbose_name_plural = _("coupon batches")
        ordering = ["-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1, quantity__lte=BATCH_MAX_QUANTITY),
                name="orders_couponbatch_quantity_range",
            ),
            models.CheckConstraint(
                condition=Q(prefix__regex=r"^[A-Z0-9]*$"),
                name="orders_couponbatch_prefix_upper_alnum",
            ),
        ]

    def __str__(self):
        return f"{self.prefix or '—'} × {self.quantity}"


class Coupon(models.Model):
    promotion = models.ForeignKey(
        Promotion, verbose_name=_("promotion"), related_name="coupons", on_delete=models.PROTECT
    )
    code = models.CharField(_("code"), max_length=40, unique=True, help_text=_("Upper case."))
    single_use = models.BooleanField(_("single use"), default=False)
    used = models.BooleanField(_("used"), default=False)
    # A personal code: only this customer may redeem it (issued to a campaign's recipient).
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("only for customer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    batch = models.ForeignKey(
        CouponBatch,
        verbose_name=_("batch"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="coupons",
    )
    # The campaign that issued a personal code (ids only: orders never imports campaigns).
    campaign_id = models.PositiveBigIntegerField(
        _("campaign"),
        null=True,
        blank=True,  # indexed by orders_coupon_campaign, partial: most codes have none
        help_text=_("The campaign that issued it, if any."),
    )
    campaign_variant_id = models.PositiveBigIntegerField(
        _("campaign variant"),
        null=True,
        blank=True,
        help_text=_("The campaign's variant (A/B arm) whose message carried it, if any."),
    )
    holdout = models.BooleanField(
        _("holdout"),
        default=False,
        help_text=_("Issued to the holdout arm: logged, never sent."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        ordering = ["-pk"]
        indexes = [
            models.Index(
                fields=["campaign_id"],
                condition=Q(campaign_id__isnull=False),
                name="orders_coupon_campaign",
            ),
        ]

    def __str__(self):
        return self.code


class CouponRedemption(models.Model):
    coupon = models.ForeignKey(
        Coupon, verbose_name=_("coupon"), related_name="redemptions", on_delete=models.PROTECT
    )
    promotion = models.ForeignKey(
        Promotion, verbose_name=_("promotion"), related_name="redemptions", on_delete=models.PROTECT
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    reference = models.CharField(_("reference"), max_length=100)
    discount = models.DecimalField(_("discount"), max_digits=10, decimal_places=2)
    single_use = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("coupon redemption")
        verbose_name_plural = _("coupon redemptions")
        ordering = ["-pk"]
        constraints = [
            # A single-use code is redeemed at most once, whatever the channel (invariant 5).
            models.UniqueConstraint(
                fields=["coupon"],
                condition=Q(single_use=True),
                name="orders_single_use_coupon_once",
            )
        ]

    def __str__(self):
        return f"{self.coupon} → {self.reference}"


class Fulfilment(models.TextChoices):
    PICKUP = "pickup", _("Pickup at a store")
    SHIP = "ship", _("Ship to an address")
    COUNTER = "counter", _("Taken at the counter")


class OrderStatus(models.TextChoices):
    PLACED = "placed", _("Placed")
    AWAITING_TRANSFER = "awaiting_transfer", _("Awaiting transfer")
    READY = "ready", _("Ready for pickup")
    COLLECTED = "collected", _("Collected")
    SHIPPED = "shipped", _("Shipped")
    COMPLETED = "completed", _("Completed")
    EXPIRED = "expired", pgettext_lazy("order status", "Expired")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_STATUSES = (OrderStatus.PLACED, OrderStatus.AWAITING_TRANSFER, OrderStatus.READY)


class PaymentState(models.TextChoices):
    PENDING = "pending", _("Pending")
    PAID = "paid", _("Paid online")
    PAY_AT_PICKUP = "pay_at_pickup", _("Pay at pickup")
    REFUND_DUE = "refund_due", _("Refund due")
    PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
    REFUNDED = "refunded", _("Refunded")


def new_order_number() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "OM" + "".join(secrets.choice(alphabet) for _ in range(8))


class Order(models.Model):
    # Each index is written by every checkout, so none is redundant: the number is unique by a
    # constraint (no LIKE twin), customer and store lead composite indexes, and the rarely set
    # foreign keys (coupon, taken by) have partial indexes.
    number = models.CharField(_("number"), max_length=20, default=new_order_number, editable=False)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        related_name="orders",
        on_delete=models.PROTECT,
        db_index=False,
    )
    cart = models.ForeignKey(
        Cart,
        verbose_name=_("cart"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders",
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    fulfilment = models.CharField(_("fulfilment"), max_length=10, choices=Fulfilment.choices)
    location = models.ForeignKey(
        "inventory.Location",
        verbose_name=_("store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
        help_text=_("The pickup store, or the store of a counter sale."),
        db_index=False,
    )
    status = models.CharField(
        _("status"), max_length=20, choices=OrderStatus.choices, default=OrderStatus.PLACED
    )
    payment_state = models.CharField(
        _("payment"), max_length=20, choices=PaymentState.choices, default=PaymentState.PENDING
    )
    payment_provider = models.CharField(_("payment provider"), max_length=40, default="manual")
    payment_reference = models.CharField(_("payment reference"), max_length=100, blank=True)
    shipping_address = models.JSONField(_("shipping address"), default=dict, blank=True)
    routing_reason = models.TextField(_("why these locations"), blank=True)
    coupon = models.ForeignKey(
        Coupon,
        verbose_name=_("coupon"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
        db_index=False,
    )
    subtotal = models.DecimalField(_("subtotal"), max_digits=12, decimal_places=2)
    discount_total = models.DecimalField(_("discount"), max_digits=12, decimal_places=2)
    shipping_total = models.DecimalField(_("shipping"), max_digits=12, decimal_places=2)
    tax_total = models.DecimalField(_("VAT included"), max_digits=12, decimal_places=2)
    total = models.DecimalField(_("total"), max_digits=12, decimal_places=2)
    refunded_total = models.DecimalField(_("refunded"), max_digits=12, decimal_places=2, default=0)
    promised_on = models.DateField(_("promised for"), null=True, blank=True)
    pickup_code_digest = models.CharField(max_length=64, blank=True, editable=False)
    ready_at = models.DateTimeField(_("ready since"), null=True, blank=True)
    hold_until = models.DateTimeField(_("held until"), null=True, blank=True)
    reminder_sent_at = models.DateTimeField(_("reminder sent"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    code_attempts = models.PositiveSmallIntegerField(_("wrong code attempts"), default=0)
    code_locked_until = models.DateTimeField(null=True, blank=True, editable=False)
    external_reference = models.CharField(
        _("external reference"),
        max_length=100,
        blank=True,
        help_text=_("The order number on the marketplace or social shop."),
    )
    idempotency_key = models.CharField(max_length=255, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("taken by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField(_("placed"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at", "-pk"]
        permissions = [("sell_at_counter", _("Can sell at the counter"))]
        indexes = [
            models.Index(fields=["location", "status"], name="orders_order_desk"),
            models.Index(fields=["customer", "-created_at"], name="orders_order_customer"),
            models.Index(
                fields=["hold_until"],
                condition=Q(status="ready"),
                name="orders_order_ready_hold",
            ),
            models.Index(
                fields=["coupon"], condition=Q(coupon__isnull=False), name="orders_order_coupon"
            ),
            models.Index(
                fields=["created_by"],
                condition=Q(created_by__isnull=False),
                name="orders_order_created_by",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["number"], name="orders_order_number_uniq"),
            models.UniqueConstraint(
                fields=["customer", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="orders_order_idempotency_key",
            ),
            models.UniqueConstraint(
                fields=["channel", "external_reference"],
                condition=~Q(external_reference=""),
                name="orders_order_external_reference",
            ),
            models.CheckConstraint(
                condition=Q(total__gte=0) & Q(refunded_total__gte=0),
                name="orders_order_money_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(refunded_total__lte=models.F("total")),
                name="orders_order_refund_within_total",
            ),
            models.CheckConstraint(
                condition=~Q(fulfilment__in=["pickup", "counter"]) | Q(location__isnull=False),
                name="orders_order_pickup_has_store",
            ),
        ]

    def __str__(self):
        return self.number

    @property
    def owner(self) -> str:
        """The owner reference of the order's stock reservations (known before the row exists)."""
        return f"order:{self.number}"


class LineState(models.TextChoices):
    ALLOCATED = "allocated", _("Allocated")
    IN_TRANSFER = "in_transfer", _("Coming by transfer")
    SHORT = "short", _("Short: re-allocate or refund")
    REFUNDED = "refunded", pgettext_lazy("order line", "Refunded")
    RELEASED = "released", _("Released: not collected")
    FULFILLED = "fulfilled", _("Fulfilled")


class OrderLine(models.Model):
    order = models.ForeignKey(
        Order, verbose_name=_("order"), related_name="lines", on_delete=models.CASCADE
    )
    variant = models.ForeignKey(
        "inventory.Variant", verbose_name=_("variant"), related_name="+", on_delete=models.PROTECT
    )
    sku = models.CharField(_("SKU"), max_length=64)
    name = models.CharField(_("name"), max_length=255)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = models.DecimalField(_("unit price"), max_digits=10, decimal_places=2)
    discount = models.DecimalField(_("discount"), max_digits=10, decimal_places=2, default=0)
    tax_rate = models.DecimalField(_("VAT rate %"), max_digits=5, decimal_places=2)
    tax = models.DecimalField(_("VAT included"), max_digits=10, decimal_places=2)
    total = models.DecimalField(_("total"), max_digits=12, decimal_places=2)
    location = models.ForeignKey(
        "inventory.Location",
        verbose_name=_("fulfilled from"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    transfer = models.ForeignKey(
        "inventory.Transfer",
        verbose_name=_("transfer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="order_lines",
        db_index=False,  # orders_line_transfer, partial: most lines come from the shelf
    )
    state = models.CharField(
        _("state"), max_length=12, choices=LineState.choices, default=LineState.ALLOCATED
    )
    returned_quantity = models.PositiveIntegerField(_("returned"), default=0)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["pk"]
        indexes = [
            models.Index(
                fields=["transfer"],
                condition=Q(transfer__isnull=False),
                name="orders_line_transfer",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="orders_orderline_quantity_gt_0"
            ),
            models.CheckConstraint(
                condition=Q(returned_quantity__lte=models.F("quantity")),
                name="orders_orderline_returned_le_quantity",
            ),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.sku}"


class OrderEvent(models.Model):
    """The order's history: every status change and action, with who and when."""

    order = models.ForeignKey(
        Order, verbose_name=_("order"), related_name="history", on_delete=models.CASCADE
    )
    status = models.CharField(_("status"), max_length=20, choices=OrderStatus.choices)
    note = models.CharField(_("note"), max_length=255, blank=True)
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # orders_event_acting_user, partial: checkouts have no acting user
    )
    at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("order history entry")
        verbose_name_plural = _("order history")
        ordering = ["at", "pk"]
        indexes = [
            models.Index(
                fields=["acting_user"],
                condition=Q(acting_user__isnull=False),
                name="orders_event_acting_user",
            ),
        ]

    def __str__(self):
        return f"{self.order_id}: {self.status}"


class Refund(models.Model):
    order = models.ForeignKey(
        Order, verbose_name=_("order"), related_name="refunds", on_delete=models.PROTECT
    )
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    reason = models.CharField(_("reason"), max_length=255)
    provider_reference = models.CharField(_("provider reference"), max_length=100, blank=True)
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="orders_refund_amount_gt_0")
        ]

    def __str__(self):
        return f"{self.amount} € ({self.order_id})"


class ReturnCondition(models.TextChoices):
    RESELLABLE = "resellable", _("Resellable")
    DAMAGED = "damaged", _("Damaged")


class Return(models.Model):
    order = models.ForeignKey(
        Order, verbose_name=_("order"), related_name="returns", on_delete=models.PROTECT
    )
    location = models.ForeignKey(
        "inventory.Location",
        verbose_name=_("received at"),
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The store where it was handed in, or the warehouse that got the parcel."),
    )
    by_post = models.BooleanField(_("by post"), default=False)
    received_at = models.DateTimeField(_("received"), null=True, blank=True)
    idempotency_key = models.CharField(max_length=64, blank=True, editable=False)
    refund = models.OneToOneField(
        Refund, verbose_name=_("refund"), null=True, blank=True, on_delete=models.PROTECT
    )
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("return")
        verbose_name_plural = _("returns")
        ordering = ["-pk"]
        constraints = [
            # A double submit at the counter records (and refunds) the return once.
            models.UniqueConstraint(
                fields=["order", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="orders_return_idempotency_key",
            )
        ]

    def __str__(self):
        return f"R{self.pk} ({self.order_id})"


class ReturnLine(models.Model):
    rma = models.ForeignKey(
        Return, verbose_name=_("return"), related_name="lines", on_delete=models.CASCADE
    )
    order_line = models.ForeignKey(
        OrderLine, verbose_name=_("order line"), related_name="+", on_delete=models.PROTECT
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    condition = models.CharField(
        _("condition"), max_length=12, choices=ReturnCondition.choices, blank=True
    )
    refund_amount = models.DecimalField(_("refund"), max_digits=10, decimal_places=2)

    class Meta:
        verbose_name = _("return line")
        verbose_name_plural = _("return lines")
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="orders_returnline_quantity_gt_0"
            )
        ]

    def __str__(self):
        return f"{self.quantity} × {self.order_line_id}"
