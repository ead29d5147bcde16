from django.core.management.base import BaseCommand, CommandError

from inventory.selectors import ledger_mismatches, ledger_orphans


class Command(BaseCommand):
    help = "Verify that on_hand equals the sum of ledger movements for every stock row."

    def handle(self, *args, **options):
        bad = list(ledger_mismatches())
        orphans = list(ledger_orphans())
        for level in bad:
            self.stderr.write(
                f"MISMATCH {level.variant.sku} @ {level.location.code}: "
                f"on_hand={level.on_hand} ledger={level.ledger_total}"
            )
        for row in orphans:
            self.stderr.write(
                f"MISMATCH {row['variant__sku']} @ {row['location__code']}: "
                f"no stock row, ledger={row['total']}"
            )
        if bad or orphans:
            raise CommandError(f"{len(bad) + len(orphans)} stock row(s) disagree with the ledger.")
        self.stdout.write(self.style.SUCCESS("Stock ledger consistent."))
