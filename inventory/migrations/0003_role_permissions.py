from django.db import migrations

from omni.roles import (
    BACKOFFICE_ADMIN,
    MARKETER,
    STORE_MANAGER,
    STORE_STAFF,
    grant_operation,
    model_perms,
)

CATALOG_VIEW = [
    "inventory.view_category",
    "inventory.view_product",
    "inventory.view_variant",
    "inventory.view_location",
]
GRANTS = {
    STORE_STAFF: CATALOG_VIEW,
    STORE_MANAGER: [*CATALOG_VIEW, "inventory.change_location", "inventory.act_on_all_locations"],
    MARKETER: CATALOG_VIEW,
    BACKOFFICE_ADMIN: [
        *model_perms("inventory", "category"),
        *model_perms("inventory", "product"),
        *model_perms("inventory", "variant"),
        *model_perms("inventory", "location"),
        "inventory.act_on_all_locations",
    ],
}


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0002_initial"),
        ("omni", "0002_roles"),
    ]

    operations = [grant_operation(GRANTS)]
