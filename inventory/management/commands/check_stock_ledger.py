from django.core.management.base import BaseCommand, CommandError

from inventory.selectors import ledger_mismatches


class Command(BaseCommand):
    help = "Verify that on_hand equals the sum of ledger movements for every stock row."

    def handle(self, *args, **options):
        bad = list(ledger_mismatches())
        for level in bad:
            self.stderr.write(
                f"MISMATCH {level.variant.sku} @ {level.location.code}: "
                f"on_hand={level.on_hand} ledger={level.ledger_total}"
            )
        if bad:
            raise CommandError(f"{len(bad)} stock row(s) disagree with the ledger.")
        self.stdout.write(self.style.SUCCESS("Stock ledger consistent."))
