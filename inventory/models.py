import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest
from django.db.models.lookups import GreaterThanOrEqual
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


# "This location may sell to remote channels (web, app, marketplaces)", written once in its
# three forms (a parity test keeps them equal): an ORM filter on Location (prefix it for a
# related model: ``sells_online_q("location__")``), a SQL condition on an alias of the location
# table, and ``Location.sells_online_now`` for one loaded row.
SELLS_ONLINE_SQL = "{alias}.active AND {alias}.sells_online"


def sells_online_q(prefix: str = "") -> Q:
    return Q(**{f"{prefix}active": True, f"{prefix}sells_online": True})


# "Units of a stock row a channel may sell now", written once in its three forms (a parity test
# keeps them equal): max(0, on_hand − reserved + expired holds − safety stock), where the counter
# (a shopper in the store) may also take the safety stock, and ``expired_hold`` adds back the
# units of holds past their expiry that the beat task has not released yet (reads pass it;
# the reservation guard does not, it releases them first). ``sellable_expr`` is the ORM
# expression on StockLevel (prefix it for a related model: ``sellable_expr(counter=True,
# prefix="stock_levels__")``), ``sellable_sql`` the SQL expression on an alias of the stock
# table, ``StockLevel.sellable_units`` the rule for one loaded row.


def sellable_expr(*, counter: bool, prefix: str = "", expired_hold=None) -> Greatest:
    units = F(f"{prefix}on_hand") - F(f"{prefix}reserved")
    if expired_hold is not None:
        units = units + expired_hold
    if not counter:
        units = units - F(f"{prefix}safety_stock")
    return Greatest(units, Value(0))


def sellable_sql(alias: str, *, counter: bool, expired_hold: str = "") -> str:
    def column(name: str) -> str:
        return f'{alias}."{StockLevel._meta.get_field(name).column}"'

    units = f"{column('on_hand')} - {column('reserved')}"
    if expired_hold:
        units += f" + ({expired_hold})"
    if not counter:
        units += f" - {column('safety_stock')}"
    return f"GREATEST({units}, 0)"


class LocationQuerySet(models.QuerySet):
    def selling_online(self):
        return self.filter(sells_online_q())


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
    pickup_hold_days = models.PositiveSmallIntegerField(
        _("pickup hold (days)"),
        default=7,
        help_text=_(
            "Days an order ready for pickup is kept; it expires at the end of the last day, "
            "in the location's time zone."
        ),
    )
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

    objects = LocationQuerySet.as_manager()

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

    @property
    def sells_online_now(self) -> bool:
        return self.active and self.sells_online


class StockLevelQuerySet(models.QuerySet):
    def sellable_at_least(self, quantity: int, *, counter: bool):
        """Rows with at least ``quantity`` (≥ 1) units sellable: the guard of a hold's UPDATE
        (on_hand ≥ reserved + quantity [+ safety stock]), checked on the row the UPDATE locks."""
        return self.filter(GreaterThanOrEqual(sellable_expr(counter=counter), quantity))


class StockLevel(models.Model):
    """Units of one variant at one location.

    ``reserved`` counts units held by active reservations (including ones past their expiry that
    the beat task has not released yet — availability reads add those back). Sellable for remote
    channels = max(0, on_hand − reserved − safety_stock); at the counter safety stock is sellable.
    ``on_hand`` only changes through ``inventory.services``, which write a StockMovement each time.
    """

    # No index of their own: (variant, location) is unique and (location, variant) is indexed,
    # so each updated or inserted stock row writes three index entries, not five.
    variant = models.ForeignKey(
        Variant,
        verbose_name=_("variant"),
        related_name="stock_levels",
        on_delete=models.PROTECT,
        db_index=False,
    )
    location = models.ForeignKey(
        Location,
        verbose_name=_("location"),
        related_name="stock_levels",
        on_delete=models.PROTECT,
        db_index=False,
    )
    on_hand = models.IntegerField(_("on hand"), default=0)
    reserved = models.IntegerField(_("reserved"), default=0)
    safety_stock = models.IntegerField(
        _("safety stock"),
        default=0,
        help_text=_("Units held back from remote channels, e.g. for walk-in shoppers."),
    )
    in_transit = models.IntegerField(
        _("in transit"), default=0, help_text=_("Units shipped to this location, not yet received.")
    )
    min_qty = models.IntegerField(_("minimum"), default=0)
    max_qty = models.IntegerField(_("maximum"), default=0)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = StockLevelQuerySet.as_manager()

    class Meta:
        verbose_name = _("stock level")
        verbose_name_plural = _("stock levels")
        ordering = ["location_id", "variant_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["variant", "location"], name="inventory_stocklevel_variant_location_uniq"
            ),
            models.CheckConstraint(
                condition=Q(on_hand__gte=0), name="inventory_stock_on_hand_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(reserved__gte=0) & Q(reserved__lte=models.F("on_hand")),
                name="inventory_stock_reserved_between_0_and_on_hand",
            ),
            models.CheckConstraint(
                condition=Q(safety_stock__gte=0) & Q(in_transit__gte=0),
                name="inventory_stock_safety_in_transit_gte_0",
            ),
            models.CheckConstraint(
                condition=Q(min_qty__gte=0) & Q(max_qty__gte=models.F("min_qty")),
                name="inventory_stock_min_max_order",
            ),
        ]
        indexes = [models.Index(fields=["location", "variant"], name="inventory_stock_loc_var_idx")]

    def __str__(self):
        return f"{self.variant.sku} @ {self.location.code}"

    def sellable_units(self, *, counter: bool = False, expired_hold: int = 0) -> int:
        """The "sellable" rule (see ``sellable_expr``) for this loaded row."""
        units = self.on_hand - self.reserved + expired_hold
        return max(0, units if counter else units - self.safety_stock)


class MovementKind(models.TextChoices):
    RECEIPT = "receipt", _("Receipt")
    SALE = "sale", _("Sale")
    RETURN = "return", _("Return")
    ADJUSTMENT = "adjustment", _("Adjustment")
    COUNT = "count", _("Count variance")
    TRANSFER_OUT = "transfer_out", _("Transfer out")
    TRANSFER_IN = "transfer_in", _("Transfer in")
    WRITE_OFF = "write_off", _("Damage / write-off")


ADJUSTMENT_FORM_KINDS = [
    (MovementKind.ADJUSTMENT, _("Adjustment")),
    (MovementKind.WRITE_OFF, _("Damage / write-off")),
    (MovementKind.RETURN, _("Return")),
]


class StockMovementQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("The stock ledger is append-only.")

    def delete(self):
        raise TypeError("The stock ledger is append-only.")


class StockMovement(models.Model):
    """One change of on_hand: the immutable stock ledger (a PostgreSQL trigger enforces it)."""

    variant = models.ForeignKey(
        Variant, verbose_name=_("variant"), related_name="movements", on_delete=models.PROTECT
    )
    location = models.ForeignKey(
        Location, verbose_name=_("location"), related_name="movements", on_delete=models.PROTECT
    )
    kind = models.CharField(_("kind"), max_length=20, choices=MovementKind.choices)
    delta = models.IntegerField(_("change"))
    balance = models.IntegerField(_("on hand after"))
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    reference = models.CharField(
        _("reference"),
        max_length=100,
        blank=True,
        db_index=True,
        help_text=_("What caused it: order:123, transfer:7, count:2026-11-22, import:…"),
    )
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    objects = StockMovementQuerySet.as_manager()

    class Meta:
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock ledger")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["variant", "location", "created_at"], name="inventory_mov_level_idx"
            )
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(delta=0), name="inventory_movement_delta_non_zero"),
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="inventory_movement_balance_gte_0"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.delta:+d} {self.variant_id}@{self.location_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("The stock ledger is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The stock ledger is append-only.")


class ReservationStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    CONSUMED = "consumed", _("Consumed")
    RELEASED = "released", _("Released")
    EXPIRED = "expired", _("Expired")


class Reservation(models.Model):
    """Units held for a cart or an order at one location until consumed, released or expired."""

    # Few indexes on purpose: every hold inserts a row here (see BENCHMARKS.md). The composite
    # (location, variant) index serves both foreign keys' look-ups by location.
    variant = models.ForeignKey(
        Variant,
        verbose_name=_("variant"),
        related_name="reservations",
        on_delete=models.PROTECT,
        db_index=False,
    )
    location = models.ForeignKey(
        Location,
        verbose_name=_("location"),
        related_name="reservations",
        on_delete=models.PROTECT,
        db_index=False,
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=ReservationStatus.choices,
        default=ReservationStatus.ACTIVE,
    )
    owner = models.CharField(_("owner"), max_length=100, help_text=_("cart:42 or order:A1B2…"))
    channel = models.CharField(_("channel"), max_length=20, default="online")
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="inventory_reservation_qty_gt_0"
            ),
        ]
        indexes = [
            models.Index(fields=["owner"], name="inventory_res_owner_idx"),
            models.Index(fields=["location", "variant"], name="inventory_res_loc_var_idx"),
            models.Index(
                fields=["expires_at"],
                condition=Q(status="active", expires_at__isnull=False),
                name="inventory_res_active_exp_idx",
            ),
            models.Index(
                fields=["variant", "location"],
                condition=Q(status="active", expires_at__isnull=False),
                name="inventory_res_active_level_idx",
            ),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.variant_id}@{self.location_id} for {self.owner}"


class TransferRoute(models.Model):
    """Lead time from one location to another; routes not listed use the default."""

    source = models.ForeignKey(
        Location, verbose_name=_("from"), related_name="routes_out", on_delete=models.CASCADE
    )
    destination = models.ForeignKey(
        Location, verbose_name=_("to"), related_name="routes_in", on_delete=models.CASCADE
    )
    lead_time_days = models.PositiveSmallIntegerField(_("lead time (days)"))

    class Meta:
        verbose_name = _("transfer route")
        verbose_name_plural = _("transfer routes")
        constraints = [
            models.UniqueConstraint(fields=["source", "destination"], name="inventory_route_uniq"),
            models.CheckConstraint(
                condition=~Q(source=models.F("destination")), name="inventory_route_distinct_ends"
            ),
        ]

    def __str__(self):
        return f"{self.source.code} → {self.destination.code}: {self.lead_time_days} d"


class TransferStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SHIPPED = "shipped", _("Shipped")
    RECEIVED = "received", _("Received")
    PARTIALLY_RECEIVED = "partially_received", _("Partially received")
    CANCELLED = "cancelled", _("Cancelled")


class Transfer(models.Model):
    source = models.ForeignKey(
        Location, verbose_name=_("from"), related_name="transfers_out", on_delete=models.PROTECT
    )
    destination = models.ForeignKey(
        Location, verbose_name=_("to"), related_name="transfers_in", on_delete=models.PROTECT
    )
    status = models.CharField(
        _("status"), max_length=20, choices=TransferStatus.choices, default=TransferStatus.DRAFT
    )
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    note = models.TextField(_("note"), blank=True)
    expected_on = models.DateField(_("expected on"), null=True, blank=True)
    holds_units = models.BooleanField(
        _("holds its units"),
        default=False,
        editable=False,
        help_text=_(
            "The units are reserved for an order: held at the source until shipped and at the "
            "destination once received."
        ),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    shipped_at = models.DateTimeField(_("shipped"), null=True, blank=True)
    received_at = models.DateTimeField(_("received"), null=True, blank=True)

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(source=models.F("destination")),
                name="inventory_transfer_distinct_ends",
            ),
        ]

    def __str__(self):
        return f"T{self.pk}: {self.source.code} → {self.destination.code}"


class TransferLine(models.Model):
    transfer = models.ForeignKey(
        Transfer, verbose_name=_("transfer"), related_name="lines", on_delete=models.CASCADE
    )
    variant = models.ForeignKey(
        Variant, verbose_name=_("variant"), related_name="+", on_delete=models.PROTECT
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    received_qty = models.PositiveIntegerField(_("received"), null=True, blank=True)

    class Meta:
        verbose_name = _("transfer line")
        verbose_name_plural = _("transfer lines")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["transfer", "variant"], name="inventory_tline_uniq"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="inventory_tline_qty_gt_0"),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.variant_id}"

    @property
    def discrepancy(self) -> int | None:
        if self.received_qty is None:
            return None
        return self.received_qty - self.quantity
