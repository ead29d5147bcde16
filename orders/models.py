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
