from django.db import migrations

from omni.roles import BACKOFFICE_ADMIN, MARKETER, STORE_MANAGER, grant_operation, model_perms

GRANTS = {
    STORE_MANAGER: ["campaigns.view_campaign"],
    MARKETER: model_perms("campaigns", "campaign"),
    BACKOFFICE_ADMIN: model_perms("campaigns", "campaign"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_initial"),
        ("omni", "0002_roles"),
    ]

    operations = [grant_operation(GRANTS)]
