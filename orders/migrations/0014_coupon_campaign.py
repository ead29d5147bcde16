"""Personal codes know the campaign, the campaign variant and the holdout arm they were issued
for (ids only: orders never imports campaigns)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0013_marketer_promotion_permissions"),
    ]

    operations = [
        migrations.AddField(
            model_name="coupon",
            name="campaign_id",
            field=models.PositiveBigIntegerField(
                blank=True,
                help_text="The campaign that issued it, if any.",
                null=True,
                verbose_name="campaign",
            ),
        ),
        migrations.AddField(
            model_name="coupon",
            name="campaign_variant_id",
            field=models.PositiveBigIntegerField(
                blank=True,
                help_text="The campaign's variant (A/B arm) whose message carried it, if any.",
                null=True,
                verbose_name="campaign variant",
            ),
        ),
        migrations.AddField(
            model_name="coupon",
            name="holdout",
            field=models.BooleanField(
                default=False,
                help_text="Issued to the holdout arm: logged, never sent.",
                verbose_name="holdout",
            ),
        ),
        migrations.AddIndex(
            model_name="coupon",
            index=models.Index(
                condition=models.Q(("campaign_id__isnull", False)),
                fields=["campaign_id"],
                name="orders_coupon_campaign",
            ),
        ),
    ]
