"""Carts (this step); orders, pickups, returns and coupons follow (issue 5)."""

import secrets

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

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
        _("token"), max_length=64, unique=True, default=new_cart_token, editable=False
    )
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
            )
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
    channels = models.JSONField(
        _("valid channels"), default=list, blank=True, help_text=_("Empty: every channel.")
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
        ]

    def __str__(self):
        return self.name


class Coupon(models.Model):
    promotion = models.ForeignKey(
        Promotion, verbose_name=_("promotion"), related_name="coupons", on_delete=models.PROTECT
    )
    code = models.CharField(_("code"), max_length=40, unique=True, help_text=_("Upper case."))
    single_use = models.BooleanField(_("single use"), default=False)
    used = models.BooleanField(_("used"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        ordering = ["-pk"]

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
