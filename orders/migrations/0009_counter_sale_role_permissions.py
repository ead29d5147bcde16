from django.db import migrations

from omni.roles import BACKOFFICE_ADMIN, STORE_MANAGER, STORE_STAFF, grant_operation

GRANTS = {
    STORE_STAFF: ["orders.sell_at_counter"],
    STORE_MANAGER: ["orders.sell_at_counter"],
    BACKOFFICE_ADMIN: ["orders.sell_at_counter"],
}


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0008_counter_sale_permission"),
        ("omni", "0002_roles"),
    ]

    operations = [grant_operation(GRANTS)]
