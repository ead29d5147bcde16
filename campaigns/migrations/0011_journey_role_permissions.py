from django.db import migrations

from omni.roles import BACKOFFICE_ADMIN, MARKETER, grant_operation, model_perms

GRANTS = {
    MARKETER: [
        *model_perms("campaigns", "journey", actions=("view", "change")),
        *model_perms("campaigns", "journeystep"),
        *model_perms("campaigns", "journeyentry", actions=("view",)),
        *model_perms("campaigns", "conversion", actions=("view",)),
    ],
    BACKOFFICE_ADMIN: [
        *model_perms("campaigns", "journey"),
        *model_perms("campaigns", "journeystep"),
        *model_perms("campaigns", "journeyentry", actions=("view",)),
        *model_perms("campaigns", "conversion", actions=("view",)),
    ],
}


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0010_journeys_conversions"),
        ("omni", "0002_roles"),
    ]

    operations = [grant_operation(GRANTS)]
