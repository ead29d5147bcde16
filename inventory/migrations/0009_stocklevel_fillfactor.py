"""Leave room on every stock page so that updating a row's reserved/on_hand counters can stay on
its page (a HOT update): no index entry is written and the write-ahead log carries one changed
page, not the table page plus a page of each index. Applies to pages written from now on; a
VACUUM FULL of the table rewrites the existing ones. PostgreSQL only."""

from django.db import migrations

FILLFACTOR = 80


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE inventory_stocklevel SET (fillfactor = {FILLFACTOR})")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE inventory_stocklevel RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("inventory", "0008_index_diet")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor, elidable=False)]
