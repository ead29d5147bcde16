import csv
import io

from django import forms
from django.utils.translation import gettext_lazy as _

from inventory.models import ADJUSTMENT_FORM_KINDS, StockLevel


class StockLevelForm(forms.ModelForm):
    """Replenishment parameters, plus an optional stock adjustment written to the ledger."""

    adjust_by = forms.IntegerField(
        label=_("Adjust on hand by"),
        required=False,
        min_value=-1_000_000,
        max_value=1_000_000,
        help_text=_("Units to add (positive) or remove (negative). Leave empty for no change."),
    )
    adjust_kind = forms.ChoiceField(label=_("Kind"), choices=ADJUSTMENT_FORM_KINDS, required=False)
    adjust_reason = forms.CharField(label=_("Reason"), max_length=255, required=False)

    class Meta:
        model = StockLevel
        fields = ["safety_stock", "min_qty", "max_qty"]

    def clean(self):
        data = super().clean()
        for name in ("safety_stock", "min_qty", "max_qty"):
            if data.get(name) is not None and data[name] < 0:
                self.add_error(name, _("Must not be negative."))
        if (data.get("min_qty") or 0) > (data.get("max_qty") or 0):
            self.add_error("max_qty", _("The maximum must not be below the minimum."))
        delta = data.get("adjust_by")
        if delta:
            if not (data.get("adjust_reason") or "").strip():
                self.add_error("adjust_reason", _("Give a reason for the adjustment."))
            kind = data.get("adjust_kind") or "adjustment"
            if kind == "write_off" and delta > 0:
                self.add_error("adjust_by", _("A write-off lowers stock: use a negative number."))
            if kind == "return" and delta < 0:
                self.add_error("adjust_by", _("A return adds stock: use a positive number."))
            if self.instance.on_hand + delta < self.instance.reserved:
                self.add_error(
                    "adjust_by",
                    _("On hand cannot drop below the %(n)s reserved units.")
                    % {"n": self.instance.reserved},
                )
        return data


class StockCountImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("Columns: location, sku, counted (a header row is required)."),
    )
    reference = forms.CharField(label=_("Count reference"), max_length=80, required=False)

    MAX_BYTES = 5 * 1024 * 1024

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise forms.ValidationError(_("The file is larger than 5 MB."))
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError(_("The file is not UTF-8 text.")) from exc
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        if not {"location", "sku", "counted"} <= set(header):
            raise forms.ValidationError(
                _("The header must name the columns location, sku, counted.")
            )
        reader.fieldnames = header
        rows = []
        for row in reader:  # line_num: the physical line, even after blank or multi-line rows
            rows.append((reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}))
        if not rows:
            raise forms.ValidationError(_("The file has no rows."))
        return rows


class TransferReceiveForm(forms.Form):
    """One field per transfer line: units that arrived."""

    def __init__(self, *args, lines, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = lines
        for line in lines:
            self.fields[f"line_{line.pk}"] = forms.IntegerField(
                label=f"{line.variant.sku} ({line.variant})",
                min_value=0,
                max_value=1_000_000,
                initial=line.quantity,
                help_text=_("%(n)s shipped") % {"n": line.quantity},
            )

    def received(self) -> dict[int, int]:
        return {line.variant_id: self.cleaned_data[f"line_{line.pk}"] for line in self.lines}
