from django.db import migrations

from omni.roles import (
    BACKOFFICE_ADMIN,
    MARKETER,
    STORE_MANAGER,
    STORE_STAFF,
    grant_operation,
    model_perms,
)

STOCK_VIEW = [
    "inventory.view_stocklevel",
    "inventory.view_stockmovement",
    "inventory.view_reservation",
    "inventory.view_transfer",
    "inventory.view_transferline",
    "inventory.view_transferroute",
]
STOCK_WORK = [
    *STOCK_VIEW,
    "inventory.change_stocklevel",
    "inventory.add_transfer",
    "inventory.change_transfer",
    "inventory.add_transferline",
    "inventory.change_transferline",
    "inventory.delete_transferline",
]
GRANTS = {
    STORE_STAFF: STOCK_WORK,
    STORE_MANAGER: [
        *STOCK_WORK,
        "inventory.add_stocklevel",
        "inventory.change_reservation",
        *model_perms("inventory", "transferroute"),
    ],
    MARKETER: ["inventory.view_stocklevel"],
    BACKOFFICE_ADMIN: [
        *STOCK_WORK,
        "inventory.add_stocklevel",
        "inventory.change_reservation",
        *model_perms("inventory", "transferroute"),
    ],
}


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0004_stock"),
        ("omni", "0002_roles"),
    ]

    operations = [grant_operation(GRANTS)]
