from django.db import migrations

from omni.roles import BACKOFFICE_ADMIN, MARKETER, grant_operation, model_perms

# Marketers write variants (a campaign's content) and read its deliveries (progress, results);
# nobody edits a delivery by hand: the pipeline owns them.
GRANTS = {
    MARKETER: [*model_perms("campaigns", "campaignvariant"), "campaigns.view_delivery"],
    BACKOFFICE_ADMIN: [*model_perms("campaigns", "campaignvariant"), "campaigns.view_delivery"],
}


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0006_campaign_pipeline"),
        ("omni", "0002_roles"),
    ]

    operations = [grant_operation(GRANTS)]
