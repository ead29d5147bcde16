from django.db import migrations

from omni.roles import BACKOFFICE_ADMIN, MARKETER, STORE_MANAGER, STORE_STAFF, grant_operation

VIEW = ["orders.view_cart", "orders.view_cartline"]
GRANTS = {STORE_STAFF: VIEW, STORE_MANAGER: VIEW, MARKETER: VIEW, BACKOFFICE_ADMIN: VIEW}


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
        ("omni", "0002_roles"),
    ]

    operations = [grant_operation(GRANTS)]
