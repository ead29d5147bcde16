"""Phone verification codes (customers.services.phones): the digest, expiry and attempts;
managers and back-office admins may look at them (support: "I got no code")."""

import django.db.models.deletion
from django.db import migrations, models

from omni.roles import BACKOFFICE_ADMIN, STORE_MANAGER, grant_operation

GRANTS = {
    STORE_MANAGER: ["customers.view_phoneverification"],
    BACKOFFICE_ADMIN: ["customers.view_phoneverification"],
}


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0004_proven_phones"),
        ("omni", "0002_roles"),
    ]

    operations = [
        migrations.CreateModel(
            name="PhoneVerification",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "phone",
                    models.CharField(help_text="E.164.", max_length=32, verbose_name="phone"),
                ),
                ("code_digest", models.CharField(max_length=64, verbose_name="code digest")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created")),
                ("expires_at", models.DateTimeField(verbose_name="expires")),
                (
                    "attempts",
                    models.PositiveSmallIntegerField(default=0, verbose_name="wrong attempts"),
                ),
                (
                    "verified_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="verified"),
                ),
                (
                    "customer",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="phone_verifications",
                        to="customers.customer",
                        verbose_name="customer",
                    ),
                ),
            ],
            options={
                "verbose_name": "phone verification",
                "verbose_name_plural": "phone verifications",
                "ordering": ["-created_at", "-pk"],
                "indexes": [
                    models.Index(
                        fields=["customer", "created_at"], name="customers_phonever_cust_idx"
                    ),
                    models.Index(
                        fields=["phone", "created_at"], name="customers_phonever_phone_idx"
                    ),
                ],
            },
        ),
        grant_operation(GRANTS),
    ]
