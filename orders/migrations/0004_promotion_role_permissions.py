from django.db import migrations

from omni.roles import BACKOFFICE_ADMIN, MARKETER, STORE_MANAGER, grant_operation, model_perms

GRANTS = {
    BACKOFFICE_ADMIN: [
        *model_perms("orders", "promotion"),
        *model_perms("orders", "coupon"),
        "orders.view_couponredemption",
    ],
    MARKETER: ["orders.view_promotion", "orders.view_coupon", "orders.view_couponredemption"],
    STORE_MANAGER: ["orders.view_promotion", "orders.view_coupon"],
}


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0003_promotions"),
        ("omni", "0002_roles"),
    ]

    operations = [grant_operation(GRANTS)]
