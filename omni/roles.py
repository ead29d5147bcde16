"""Staff roles are auth Groups. Each app's data migrations grant its permissions to them.

Use from a migration::

    def forwards(apps, schema_editor):
        grant(apps, {STORE_STAFF: ["inventory.view_product"], ...})
"""

STORE_STAFF = "Store staff"
STORE_MANAGER = "Store manager"
MARKETER = "Marketer"
BACKOFFICE_ADMIN = "Back-office admin"
ROLES = (STORE_STAFF, STORE_MANAGER, MARKETER, BACKOFFICE_ADMIN)


def model_perms(
    app_label: str, model: str, actions=("view", "add", "change", "delete")
) -> list[str]:
    return [f"{app_label}.{action}_{model}" for action in actions]


def _ensure_permissions(apps):
    """Permissions are normally created after migrate; a data migration needs them now."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def grant(apps, grants: dict[str, list[str]]) -> None:
    """Add ``app_label.codename`` permissions to the named groups (creating the groups)."""
    _ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in grants.items():
        group, _ = Group.objects.get_or_create(name=role)
        for dotted in perms:
            app_label, codename = dotted.split(".", 1)
            permission = Permission.objects.get(
                content_type__app_label=app_label, codename=codename
            )
            group.permissions.add(permission)


def revoke(apps, grants: dict[str, list[str]]) -> None:
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in grants.items():
        group = Group.objects.filter(name=role).first()
        if group is None:
            continue
        for dotted in perms:
            app_label, codename = dotted.split(".", 1)
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )


def grant_operation(grants: dict[str, list[str]]):
    """The migration operation that grants (and, reversed, revokes) ``grants``."""
    from django.db import migrations

    return migrations.RunPython(
        lambda apps, schema_editor: grant(apps, grants),
        lambda apps, schema_editor: revoke(apps, grants),
    )
