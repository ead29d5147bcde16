from django.db import migrations

from omni.roles import BACKOFFICE_ADMIN, MARKETER, grant_operation, model_perms

GRANTS = {
    MARKETER: model_perms("campaigns", "segment", actions=("view", "add", "change")),
    BACKOFFICE_ADMIN: model_perms("campaigns", "segment"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0004_segment"),
        ("omni", "0002_roles"),
    ]

    operations = [grant_operation(GRANTS)]
