from django.core.management.base import BaseCommand, CommandError

from inventory import selectors, services
from inventory.models import Location


class Command(BaseCommand):
    help = "Show the replenishment plan (stores below min → max); --apply creates draft transfers."

    def add_arguments(self, parser):
        parser.add_argument("--store", action="append", default=[], help="Store code (repeatable).")
        parser.add_argument("--apply", action="store_true", help="Create the draft transfers.")

    def handle(self, *args, store, apply, **options):
        destinations = None
        if store:
            destinations = Location.objects.filter(code__in=store)
            missing = set(store) - set(destinations.values_list("code", flat=True))
            if missing:
                raise CommandError(f"Unknown location code(s): {', '.join(sorted(missing))}")
        plan = selectors.replenishment_plan(destinations=destinations)
        for line in plan:
            self.stdout.write(
                f"{line.source_code:>14} → {line.destination_code:<14} {line.sku:<16} {line.quantity:>5}"
            )
        self.stdout.write(f"{len(plan)} line(s), {sum(line.quantity for line in plan)} unit(s).")
        if apply and plan:
            transfers = services.create_replenishment_transfers(plan=plan)
            self.stdout.write(self.style.SUCCESS(f"Created {len(transfers)} draft transfer(s)."))
