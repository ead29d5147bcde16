"""``python manage.py seed_demo``: a small Spanish fashion retailer to click through.

Each app contributes its part in a ``demo.py`` module with a ``seed(ctx)`` function; they run in
INSTALLED_APPS order (omni first, so later apps find the demo users), all in one transaction.
Running it again updates rows in place and creates nothing twice.
"""

import random
from dataclasses import dataclass, field
from importlib import import_module
from importlib.util import find_spec

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction


@dataclass
class DemoContext:
    stdout: object
    style: object
    rng: random.Random
    data: dict = field(default_factory=dict)

    def say(self, message: str) -> None:
        self.stdout.write(message)


class Command(BaseCommand):
    help = "Create or refresh the demo retailer: locations, catalog, users per role (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=2026, help="Random seed (default 2026).")

    def handle(self, *args, seed, **options):
        ctx = DemoContext(stdout=self.stdout, style=self.style, rng=random.Random(seed))
        with transaction.atomic():
            for app_config in apps.get_app_configs():
                module_name = f"{app_config.name}.demo"
                if find_spec(module_name) is None:
                    continue
                import_module(module_name).seed(ctx)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
