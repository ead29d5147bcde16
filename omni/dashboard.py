"""The admin index shows panels that the apps contribute.

An app adds a panel with a ``dashboard.py`` module defining ``panel(request)`` that returns
``{"template": ..., "title": ..., **context}`` or ``None`` (no permission, nothing to show).
omni imports no app: panels are discovered like the demo data, in INSTALLED_APPS order.
"""

from importlib import import_module
from importlib.util import find_spec

from django.apps import apps


def collect_panels(request) -> list[dict]:
    panels = []
    for app_config in apps.get_app_configs():
        module_name = f"{app_config.name}.dashboard"
        if app_config.name == "omni" or find_spec(module_name) is None:
            continue
        panel = import_module(module_name).panel(request)
        if panel:
            panels.append(panel)
    return panels
