"""A phone proves a person only once verified, like an e-mail (issue 11: a phone a guest typed
at checkout is contact data, not proof). Every phone stored until now came from a till, a staff
member or a server key, which counted as proof: they are marked verified, so nothing changes for
them."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0003_index_diet"),
    ]

    operations = [
        migrations.RunSQL(
            "UPDATE customers_identity SET verified = true WHERE kind = 'phone' AND NOT verified",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RemoveConstraint(
            model_name="identity",
            name="customers_identity_deterministic_uniq",
        ),
        migrations.AddConstraint(
            model_name="identity",
            constraint=models.UniqueConstraint(
                condition=models.Q(("kind__in", ["loyalty_card", "pos_id"]))
                | models.Q(("kind__in", ["email", "phone"]), ("verified", True)),
                fields=("kind", "value"),
                name="customers_identity_deterministic_uniq",
            ),
        ),
    ]
