"""Marketers create and change promotions, coupons and coupon batches (until now view-only).

Deleting stays with the back-office admins (a used promotion is protected anyway)."""

from django.db import migrations

from omni.roles import BACKOFFICE_ADMIN, MARKETER, grant_operation, model_perms

GRANTS = {
    MARKETER: [
        # (view on promotions and coupons since 0004: reversing this keeps it)
        *model_perms("orders", "promotion", ("add", "change")),
        *model_perms("orders", "coupon", ("add", "change")),
        *model_perms("orders", "couponbatch", ("view", "add", "change")),
    ],
    BACKOFFICE_ADMIN: model_perms("orders", "couponbatch"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0012_coupon_batches"),
        ("omni", "0002_roles"),
    ]

    operations = [grant_operation(GRANTS)]
