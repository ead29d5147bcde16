"""Forms of the order admin pages used at the store: pickup desk, returns, counter sales.

They only check what the user typed; the rules of the business stay in ``orders.services`` and
come back as ``DomainError``s, which ``add_domain_error`` puts on the form.
"""

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

from inventory.models import Variant
from inventory.selectors import catalog_variants
from orders.models import (
    BATCH_MAX_QUANTITY,
    BATCH_PREFIX_MAX_LENGTH,
    SALES_CHANNEL_CHOICES,
    CouponBatch,
    Promotion,
    ReturnCondition,
    prefix_validator,
)
from orders.services import MAX_LINE_QUANTITY

TOUCH = {"autocomplete": "off", "class": "touch-input"}


def add_domain_error(form: forms.Form, exc, *, aliases: dict[str, str] | None = None) -> None:
    """Show a service's error on the field it names (when the form has it; ``aliases``: the
    form's name for a field the service names otherwise), else on top."""
    for name in getattr(exc, "fields", {}) or {}:
        name = (aliases or {}).get(name, name)
        if name in form.fields:
            form.add_error(name, exc.message)
            return
    form.add_error(None, exc.message)


def normalise_number(value: str) -> str:
    return "".join((value or "").split()).upper()


class CollectForm(forms.Form):
    code = forms.CharField(
        label=_("Pickup code"),
        max_length=12,
        required=False,
        widget=forms.TextInput(attrs={**TOUCH, "inputmode": "numeric", "autofocus": True}),
    )
    identity_checked = forms.BooleanField(
        label=_("No code: I checked the shopper's identity document"),
        required=False,
    )

    def clean(self):
        data = super().clean()
        data["code"] = (data.get("code") or "").strip()
        if not data["code"] and not data.get("identity_checked"):
            self.add_error(
                "code",
                _("Enter the pickup code, or tick the box after checking the shopper's identity."),
            )
        return data


class DeskCollectForm(forms.Form):
    """The desk's code box: the shopper gives the order number and the code."""

    number = forms.CharField(
        label=_("Order number"),
        max_length=20,
        widget=forms.TextInput(attrs={**TOUCH, "placeholder": "OM…"}),
    )
    code = forms.CharField(
        label=_("Pickup code"),
        max_length=12,
        widget=forms.TextInput(attrs={**TOUCH, "inputmode": "numeric"}),
    )

    def clean_number(self):
        return normalise_number(self.cleaned_data["number"])

    def clean_code(self):
        return self.cleaned_data["code"].strip()


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        widget=forms.TextInput(attrs=TOUCH),
        help_text=_("Kept in the order's history."),
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Say why the order is cancelled."))
        return reason


class ShortPickForm(forms.Form):
    RESOLUTIONS = [
        ("refund", _("Refund the missing units")),
        ("reallocate", _("Get them again from another location")),
    ]

    missing = forms.IntegerField(label=_("Missing or damaged units"), min_value=1)
    resolution = forms.ChoiceField(
        label=_("What happens next"), choices=RESOLUTIONS, widget=forms.RadioSelect
    )

    def __init__(self, *args, line, **kwargs):
        super().__init__(*args, **kwargs)
        self.line = line
        self.fields["missing"] = forms.IntegerField(
            label=_("Missing or damaged units"),
            min_value=1,
            max_value=line.quantity,
            initial=line.quantity,
            widget=forms.NumberInput(attrs=TOUCH),
        )


class StoreChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} ({obj.code})"


class ReturnForm(forms.Form):
    """A return at the counter: units and condition per handed-over line, and the store."""

    location = StoreChoiceField(label=_("Handed in at"), queryset=None, empty_label=None)
    # One token per page load: submitting the same page twice records the return once.
    token = forms.CharField(widget=forms.HiddenInput, max_length=64, required=False)

    def __init__(self, *args, lines, stores, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["token"].initial = uuid.uuid4().hex
        self.lines = lines
        self.fields["location"].queryset = stores
        for line in lines:
            left = line.quantity - line.returned_quantity
            self.fields[f"qty_{line.pk}"] = forms.IntegerField(
                label=_("Units back"),
                min_value=0,
                max_value=left,
                initial=0,
                widget=forms.NumberInput(attrs={**TOUCH, "max": left}),
            )
            self.fields[f"condition_{line.pk}"] = forms.ChoiceField(
                label=_("Condition"),
                choices=ReturnCondition.choices,
                initial=ReturnCondition.RESELLABLE,
                widget=forms.RadioSelect,
            )

    def rows(self):
        for line in self.lines:
            yield {
                "line": line,
                "left": line.quantity - line.returned_quantity,
                "quantity": self[f"qty_{line.pk}"],
                "condition": self[f"condition_{line.pk}"],
            }

    def clean(self):
        data = super().clean()
        if not self.errors and not any(data.get(f"qty_{line.pk}") for line in self.lines):
            raise forms.ValidationError(_("Enter the units that come back."))
        return data

    def returned(self) -> tuple[dict[int, int], dict[int, str]]:
        """({order_line_id: units}, {order_line_id: condition}) for ``create_return``."""
        lines, conditions = {}, {}
        for line in self.lines:
            quantity = self.cleaned_data.get(f"qty_{line.pk}") or 0
            if quantity:
                lines[line.pk] = quantity
                conditions[line.pk] = self.cleaned_data[f"condition_{line.pk}"]
        return lines, conditions


class CounterAddForm(forms.Form):
    sku = forms.CharField(
        label=_("SKU or barcode"),
        max_length=64,
        widget=forms.TextInput(attrs={**TOUCH, "autofocus": True}),
    )
    quantity = forms.IntegerField(
        label=_("Quantity"),
        min_value=1,
        max_value=MAX_LINE_QUANTITY,
        initial=1,
        widget=forms.NumberInput(attrs=TOUCH),
    )

    def clean_sku(self) -> Variant:
        code = self.cleaned_data["sku"].strip()
        variant = (
            catalog_variants(include_inactive=True).filter(sku__iexact=code).first()
            or catalog_variants(include_inactive=True).filter(gtin=code).first()
        )
        if variant is None:
            raise forms.ValidationError(_("No product has this SKU or barcode."))
        return variant


class CounterFinishForm(forms.Form):
    location = StoreChoiceField(label=_("Sold at"), queryset=None, empty_label=None)
    coupon_code = forms.CharField(
        label=_("Coupon code"),
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={**TOUCH, "autocapitalize": "characters"}),
    )
    # A tapped "Personal offers" button sends its code here (it wins over a typed one).
    offer = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)

    # The coupon's errors (the services name the field "code") show on the coupon field.
    error_aliases = {"code": "coupon_code"}

    def __init__(self, *args, stores, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = stores

    def clean(self):
        data = super().clean()
        if data.get("offer"):
            data["coupon_code"] = data["offer"]
        return data


# --- Promotions (marketers) ---------------------------------------------------------------------


class PromotionForm(forms.ModelForm):
    """The promotion, its channels ticked among the real sales channels (none: every channel)."""

    channels = forms.MultipleChoiceField(
        label=_("Valid channels"),
        choices=SALES_CHANNEL_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("None ticked: every channel."),
    )

    class Meta:
        model = Promotion
        fields = [
            "name",
            "kind",
            "value",
            "min_basket",
            "categories",
            "products",
            "channels",
            "starts_at",
            "ends_at",
            "max_uses",
            "max_uses_per_customer",
            "active",
        ]


class CouponBatchForm(forms.ModelForm):
    """Ask for a batch of single-use codes; ``orders.services.issue_coupon_batch`` draws them."""

    prefix = forms.CharField(
        label=_("Prefix"),
        max_length=BATCH_PREFIX_MAX_LENGTH,
        required=False,
        validators=[prefix_validator],
        help_text=_("Optional, letters and digits only, e.g. SPRING26."),
    )
    quantity = forms.IntegerField(
        label=_("Number of codes"), min_value=1, max_value=BATCH_MAX_QUANTITY, initial=100
    )

    class Meta:
        model = CouponBatch
        fields = ["promotion", "quantity", "prefix"]

    def clean_prefix(self):
        return self.cleaned_data["prefix"].strip().upper()
