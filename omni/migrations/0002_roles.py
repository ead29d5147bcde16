from django.db import migrations

from omni.roles import (
    BACKOFFICE_ADMIN,
    MARKETER,
    ROLES,
    STORE_MANAGER,
    STORE_STAFF,
    grant,
    model_perms,
    revoke,
)

GRANTS = {
    STORE_STAFF: [],
    STORE_MANAGER: [],
    MARKETER: [],
    BACKOFFICE_ADMIN: [
        *model_perms("omni", "user", ("view", "add", "change")),
        "omni.view_idempotencykey",
        "auth.view_group",
    ],
}


def forwards(apps, schema_editor):
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    revoke(apps, GRANTS)
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("omni", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
