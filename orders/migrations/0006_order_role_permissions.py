from django.db import migrations

from omni.roles import (
    BACKOFFICE_ADMIN,
    MARKETER,
    STORE_MANAGER,
    STORE_STAFF,
    grant_operation,
    model_perms,
)

DESK = [
    "orders.view_order",
    "orders.change_order",
    "orders.view_orderline",
    "orders.view_orderevent",
    "orders.view_return",
    "orders.add_return",
    "orders.view_returnline",
    "orders.view_refund",
]

GRANTS = {
    STORE_STAFF: DESK,
    STORE_MANAGER: [*DESK, "orders.add_refund"],
    BACKOFFICE_ADMIN: [
        *DESK,
        "orders.add_order",
        "orders.add_refund",
        *model_perms("orders", "returnline"),
    ],
    MARKETER: ["orders.view_order", "orders.view_orderline"],
}


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0005_orders"),
        ("omni", "0002_roles"),
    ]

    operations = [grant_operation(GRANTS)]
