"""CSV downloads of the orders app (coupon codes), safe to open in a spreadsheet."""

import csv
from collections.abc import Iterator

from django.utils.translation import gettext as _

from orders.models import CouponBatch

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    """The value as text, quoted with a leading apostrophe if a spreadsheet would run it."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


class _Echo:
    def write(self, value):
        return value


def coupon_batch_csv(batch: CouponBatch) -> Iterator[str]:
    """The batch's codes, one row each (code, promotion, prefix, used), streamed."""
    writer = csv.writer(_Echo())
    yield writer.writerow([_("code"), _("promotion"), _("batch prefix"), _("used")])
    rows = batch.coupons.order_by("pk").values_list("code", "used").iterator(chunk_size=5000)
    name = csv_safe(batch.promotion.name)
    prefix = csv_safe(batch.prefix)
    for code, used in rows:
        yield writer.writerow([csv_safe(code), name, prefix, _("yes") if used else _("no")])
