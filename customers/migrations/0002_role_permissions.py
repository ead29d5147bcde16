from django.db import migrations

from omni.roles import (
    BACKOFFICE_ADMIN,
    MARKETER,
    STORE_MANAGER,
    STORE_STAFF,
    grant_operation,
    model_perms,
)

COUNTER = [
    "customers.view_customer",
    "customers.change_customer",
    "customers.add_customer",
    "customers.view_identity",
    "customers.add_identity",
    "customers.view_event",
    "customers.view_consent",
    "customers.add_consent",
    "customers.view_customertraits",
]
GRANTS = {
    STORE_STAFF: COUNTER,
    STORE_MANAGER: [
        *COUNTER,
        "customers.merge_customers",
        "customers.view_mergereview",
        "customers.change_mergereview",
        "customers.view_merge",
    ],
    MARKETER: [
        "customers.view_customer",
        "customers.view_customertraits",
        "customers.view_event",
        "customers.view_consent",
    ],
    BACKOFFICE_ADMIN: [
        *COUNTER,
        "customers.merge_customers",
        "customers.export_customer",
        "customers.erase_customer",
        "customers.add_event",
        *model_perms("customers", "mergereview", ("view", "change")),
        "customers.view_merge",
        "customers.view_erasure",
        *model_perms("customers", "blockedidentifier"),
    ],
}


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0001_initial"),
        ("omni", "0002_roles"),
    ]

    operations = [grant_operation(GRANTS)]
