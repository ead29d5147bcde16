import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def validate_gtin(value: str) -> None:
    """GTIN-8/12/13/14 (EAN/UPC): digits only and a correct check digit."""
    if not value.isdigit() or len(value) not in (8, 12, 13, 14):
        raise ValidationError(_("A GTIN has 8, 12, 13 or 14 digits."), code="gtin_length")
    digits = [int(d) for d in value]
    body, check = digits[:-1], digits[-1]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    if (10 - total % 10) % 10 != check:
        raise ValidationError(_("The GTIN check digit is wrong."), code="gtin_check_digit")


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("“%(value)s” is not a time zone."), params={"value": value})


def validate_opening_hours(value) -> None:
    """``{"mon": [["10:00", "14:00"], ["17:00", "21:00"]], ..., "sun": []}``."""
    if not isinstance(value, dict):
        raise ValidationError(_("Opening hours must map weekdays to lists of time ranges."))
    for day, ranges in value.items():
        if day not in WEEKDAYS:
            raise ValidationError(_("Unknown weekday “%(day)s”."), params={"day": day})
        if not isinstance(ranges, list):
            raise ValidationError(
                _("Opening hours for %(day)s must be a list."), params={"day": day}
            )
        for item in ranges:
            ok = (
                isinstance(item, (list, tuple))
                and len(item) == 2
                and all(isinstance(t, str) and len(t) == 5 and t[2] == ":" for t in item)
                and item[0] < item[1]
            )
            if not ok:
                raise ValidationError(
                    _('Bad time range %(item)s for %(day)s: use ["HH:MM", "HH:MM"].'),
                    params={"item": item, "day": day},
                )


class Category(models.Model):
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=140, unique=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        related_name="children",
        on_delete=models.PROTECT,
    )

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        node, seen = self.parent, set()
        while node is not None:
            if node.pk == self.pk or node.pk in seen:
                raise ValidationError({"parent": _("A category cannot be its own ancestor.")})
            seen.add(node.pk)
            node = node.parent


class TaxClass(models.TextChoices):
    STANDARD = "standard", _("Standard")
    REDUCED = "reduced", _("Reduced")
    SUPER_REDUCED = "super_reduced", _("Super-reduced")
    EXEMPT = "exempt", _("Exempt")


class Product(models.Model):
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=220, unique=True)
    category = models.ForeignKey(
        Category, verbose_name=_("category"), related_name="products", on_delete=models.PROTECT
    )
    brand = models.CharField(_("brand"), max_length=100, blank=True)
    description = models.TextField(_("description"), blank=True)
    tax_class = models.CharField(
        _("tax class"), max_length=20, choices=TaxClass.choices, default=TaxClass.STANDARD
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["name", "pk"]

    def __str__(self):
        return self.name


class Variant(models.Model):
    """A sellable SKU: one size and colour of a product."""

    product = models.ForeignKey(
        Product, verbose_name=_("product"), related_name="variants", on_delete=models.CASCADE
    )
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    gtin = models.CharField(
        _("GTIN / barcode"),
        max_length=14,
        unique=True,
        null=True,
        blank=True,
        validators=[validate_gtin],
    )
    size = models.CharField(_("size"), max_length=20, blank=True, db_index=True)
    colour = models.CharField(_("colour"), max_length=40, blank=True, db_index=True)
    price = models.DecimalField(
        _("price"),
        max_digits=10,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.00"))],
        help_text=_("Retail price including VAT, in euros."),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ["product_id", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price__gte=0), name="inventory_variant_price_non_negative"
            ),
        ]
        indexes = [models.Index(fields=["price"], name="inventory_variant_price_idx")]

    def __str__(self):
        details = " / ".join(p for p in (self.size, self.colour) if p)
        return f"{self.sku} — {details}" if details else self.sku

    def save(self, *args, **kwargs):
        if self.gtin == "":
            self.gtin = None
        super().save(*args, **kwargs)


class LocationKind(models.TextChoices):
    STORE = "store", _("Store")
    WAREHOUSE = "warehouse", _("Warehouse")


class Location(models.Model):
    """A store or a warehouse: anywhere stock is kept."""

    kind = models.CharField(_("kind"), max_length=10, choices=LocationKind.choices)
    code = models.SlugField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=120)
    address = models.CharField(_("address"), max_length=255, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    country = models.CharField(
        _("country"), max_length=2, default="ES", help_text=_("ISO 3166-1 alpha-2.")
    )
    latitude = models.DecimalField(
        _("latitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        _("longitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    timezone = models.CharField(
        _("time zone"), max_length=64, default="Europe/Madrid", validators=[validate_timezone]
    )
    opening_hours = models.JSONField(
        _("opening hours"), default=dict, blank=True, validators=[validate_opening_hours]
    )
    is_pickup_point = models.BooleanField(_("pickup point"), default=False)
    ships_to_customers = models.BooleanField(_("ships to customers"), default=False)
    sells_online = models.BooleanField(_("sells online"), default=True)
    active = models.BooleanField(_("active"), default=True)
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff"),
        related_name="locations",
        blank=True,
        help_text=_("Staff members who work at this location."),
    )

    class Meta:
        verbose_name = _("location")
        verbose_name_plural = _("locations")
        ordering = ["kind", "name"]
        permissions = [("act_on_all_locations", _("Can act on every location"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__isnull=True, longitude__isnull=True)
                | Q(latitude__isnull=False, longitude__isnull=False),
                name="inventory_location_coordinates_pair",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"
