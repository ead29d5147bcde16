"""Reads of the catalog and locations. Return QuerySets so pagination and filters compose."""

import math
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import (
    Count,
    Exists,
    F,
    FloatField,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Now
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from inventory import queries
from inventory.models import (
    WEEKDAYS,
    Category,
    Location,
    LocationKind,
    Product,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
    Transfer,
    TransferLine,
    TransferRoute,
    TransferStatus,
    Variant,
    sellable_expr,
    sells_online_q,
)


def locations_for_user(user) -> QuerySet[Location]:
    """The one answer to "which locations may this user act on".

    Superusers and holders of ``inventory.act_on_all_locations`` (store managers, back-office
    admins) act on every location; other staff on the locations they are assigned to.
    Admin querysets, API querysets and exports all scope through this.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return Location.objects.none()
    if user.is_superuser or user.has_perm("inventory.act_on_all_locations"):
        return Location.objects.all()
    return Location.objects.filter(staff=user)


def category_with_descendants(categories: QuerySet[Category] | Iterable[int]) -> set[int]:
    """Ids of the given categories (a queryset or ids) and every category below them (one query
    for the tree; ids unknown to the tree are kept)."""
    if isinstance(categories, QuerySet):
        categories = categories.values_list("pk", flat=True)
    roots = set(categories)
    if not roots:
        return set()
    children: dict[int, list[int]] = {}
    for pk, parent_id in Category.objects.values_list("pk", "parent_id"):
        children.setdefault(parent_id, []).append(pk)
    found, stack = set(), list(roots)
    while stack:
        pk = stack.pop()
        if pk in found:
            continue
        found.add(pk)
        stack.extend(children.get(pk, ()))
    return found


def catalog_products(*, include_inactive: bool = False) -> QuerySet[Product]:
    """Products with their category, their sellable variants and their price range."""
    variants = Variant.objects.order_by("pk")
    products = Product.objects.all()
    if not include_inactive:
        variants = variants.filter(active=True)
        products = products.filter(active=True)
    return (
        products.select_related("category")
        .prefetch_related(Prefetch("variants", queryset=variants))
        .annotate(
            price_from=Min("variants__price", filter=Q(variants__active=True)),
            price_to=Max("variants__price", filter=Q(variants__active=True)),
        )
        .order_by("name", "pk")
    )


def catalog_variants(*, include_inactive: bool = False) -> QuerySet[Variant]:
    variants = Variant.objects.select_related("product", "product__category")
    if not include_inactive:
        variants = variants.filter(active=True, product__active=True)
    return variants.order_by("pk")


def active_locations() -> QuerySet[Location]:
    return Location.objects.filter(active=True).order_by("kind", "name")


def location_by_code(code: str) -> Location | None:
    """The location with this code (active or not), or None (the checkout reads it on every
    call: ``inventory.queries``)."""
    return queries.location_by_code(code)


# --- Stock availability ------------------------------------------------------------------------


def _expired_holds(now=None):
    """Units of a stock row still counted in ``reserved`` although their hold has expired.

    The beat task releases them within a minute; until then reads add them back, so an expired
    hold stops blocking availability at its expiry time exactly.
    """
    return _row_sum(
        Reservation.objects.filter(
            variant_id=OuterRef("variant_id"),
            location_id=OuterRef("location_id"),
            status=ReservationStatus.ACTIVE,
            expires_at__lte=now or Now(),
        ),
        "quantity",
    )


def _row_sum(rows: QuerySet, field_name: str):
    """Sum of ``field_name`` over ``rows`` (correlated to the outer stock row), 0 if none."""
    total = rows.order_by().values("variant_id").annotate(total=Sum(field_name)).values("total")
    return Coalesce(Subquery(total, output_field=IntegerField()), Value(0))


def with_availability(levels: QuerySet[StockLevel], now=None) -> QuerySet[StockLevel]:
    """Annotate ``live_reserved``, ``sellable`` (remote channels) and ``sellable_counter``."""
    expired = F("expired_hold")
    return levels.annotate(expired_hold=_expired_holds(now)).annotate(
        live_reserved=F("reserved") - expired,
        sellable=sellable_expr(counter=False, expired_hold=expired),
        sellable_counter=sellable_expr(counter=True, expired_hold=expired),
    )


def variant_availability(variant_id: int, now=None) -> QuerySet[StockLevel]:
    """A variant's stock at every active location, nearest-first ordering left to the caller."""
    return with_availability(
        StockLevel.objects.filter(variant_id=variant_id, location__active=True)
        .select_related("location")
        .order_by("location__kind", "location__name"),
        now,
    )


def pooled_availability(variant_ids: list[int], now=None) -> dict[int, int]:
    """Units sellable online per variant, pooled over the locations that sell online (1 query)."""
    rows = (
        StockLevel.objects.filter(sells_online_q("location__"), variant_id__in=variant_ids)
        .values("variant_id")
        .annotate(total=Sum(sellable_expr(counter=False, expired_hold=_expired_holds(now))))
        .order_by()
    )
    result = dict.fromkeys(variant_ids, 0)
    result.update({row["variant_id"]: row["total"] for row in rows})
    return result


def pooled_availability_up_to(variant_id: int, quantity: int, now=None) -> int:
    """Units of a variant sellable online, pooled — counted only until ``quantity`` is reached.

    The result is at least ``quantity`` when that many can be sold, else the exact pooled total
    (as ``pooled_availability``). Every stock row that can sell holds at least one unit, so the
    first ``quantity`` such rows settle it: a cart line reads a handful of rows, not the
    variant's row in every store.
    """
    if quantity <= 0:
        return 0
    units = (
        with_availability(
            StockLevel.objects.filter(sells_online_q("location__"), variant_id=variant_id),
            now,
        )
        .filter(sellable__gt=0)
        .order_by()
        .values_list("sellable", flat=True)[:quantity]
    )
    return sum(units)


def stock_levels_for_user(user) -> QuerySet[StockLevel]:
    return StockLevel.objects.filter(location__in=locations_for_user(user))


def ledger_mismatches() -> QuerySet[StockLevel]:
    """Stock rows whose on_hand is not the sum of their ledger movements (one query)."""
    movements = StockMovement.objects.filter(
        variant_id=OuterRef("variant_id"), location_id=OuterRef("location_id")
    )
    return (
        StockLevel.objects.annotate(ledger_total=_row_sum(movements, "delta"))
        .exclude(on_hand=F("ledger_total"))
        .select_related("variant", "location")
        .order_by("location_id", "variant_id")
    )


def ledger_orphans():
    """Movements whose stock row is gone (the ledger says units exist nowhere recorded)."""
    return (
        StockMovement.objects.order_by()
        .filter(
            ~Exists(
                StockLevel.objects.filter(
                    variant_id=OuterRef("variant_id"), location_id=OuterRef("location_id")
                )
            )
        )
        .values("variant_id", "location_id", "variant__sku", "location__code")
        .annotate(total=Sum("delta"))
        .exclude(total=0)
    )


# --- Pickup finder ----------------------------------------------------------------------------

EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def next_open_date(opening_hours: dict, tz_name: str, earliest: datetime) -> date:
    """The first date, from ``earliest`` on (local time of the store), when the store is open.

    A store without opening hours is treated as always open.
    """
    local = earliest.astimezone(zoneinfo.ZoneInfo(tz_name))
    if not opening_hours:
        return local.date()
    now_hm = local.strftime("%H:%M")
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        ranges = opening_hours.get(WEEKDAYS[day.weekday()]) or []
        if offset == 0:
            ranges = [r for r in ranges if r[1] > now_hm]
        if ranges:
            return day
    return local.date()


@dataclass(frozen=True)
class PickupOption:
    location_id: int
    code: str
    name: str
    city: str
    address: str
    distance_km: float
    ready_today: bool
    ready_on: date
    via_transfer: bool
    opening_hours: dict = field(default_factory=dict)


def pickup_options(
    *,
    latitude: float,
    longitude: float,
    lines: dict[int, int],
    radius_km: float | None = None,
    limit: int = 10,
    now: datetime | None = None,
) -> list[PickupOption]:
    """Where can I collect these lines ({variant_id: quantity}) near a point?

    The nearest active pickup points that sell online: those with every line in stock now are
    ready today (or the store's next open day); for the others, the date a transfer from a
    warehouse holding the missing units would make them ready. Nearest first, ready today first.
    """
    now = now or timezone.now()
    if not lines:
        return []
    candidates = _nearest_points(latitude, longitude, radius_km)
    if not candidates:
        return []
    stock = _pickup_stock(lines, now)
    ready, later = [], []
    for dist, pk in candidates:
        short = {
            v: q - stock.get((pk, v), 0) for v, q in lines.items() if stock.get((pk, v), 0) < q
        }
        (later if short else ready).append((dist, pk, short))
        if len(ready) >= limit:
            break
    ready = ready[:limit]
    supply = _warehouse_supply(lines, now) if later and len(ready) < limit else {}
    # Only points a warehouse can actually supply are offered; the nearest first.
    later = [
        entry
        for entry in later
        if all(
            any(sellable >= missing for _, sellable in supply.get(variant_id, ()))
            for variant_id, missing in entry[2].items()
        )
    ][: limit - len(ready)]
    # 3. Details of the few locations we answer with.
    details = {
        loc["pk"]: loc
        for loc in Location.objects.filter(pk__in=[pk for _, pk, _ in ready + later]).values(
            "pk", "code", "name", "city", "address", "timezone", "opening_hours"
        )
    }
    options = [
        _option(
            details[pk],
            dist,
            next_open_date(details[pk]["opening_hours"], details[pk]["timezone"], now),
            now,
            False,
        )
        for dist, pk, _ in ready
    ]
    if later:
        options += _transfer_options(
            [(dist, details[pk], short) for dist, pk, short in later], supply, now
        )
    return options


def _nearest_points(latitude, longitude, radius_km) -> list[tuple[float, int]]:
    """(distance, location id) of the active pickup points that sell online, nearest first;
    only ids and coordinates (as floats) cross the wire."""
    points = Location.objects.selling_online().filter(is_pickup_point=True, latitude__isnull=False)
    if radius_km is not None:
        dlat = radius_km / 111.0
        dlon = radius_km / max(1e-6, 111.0 * math.cos(math.radians(latitude)))
        points = points.filter(
            latitude__range=(latitude - dlat, latitude + dlat),
            longitude__range=(longitude - dlon, longitude + dlon),
        )
    candidates = []
    for pk, lat, lon in points.values_list(
        "pk", Cast("latitude", FloatField()), Cast("longitude", FloatField())
    ):
        dist = distance_km(latitude, longitude, lat, lon)
        if radius_km is None or dist <= radius_km:
            candidates.append((dist, pk))
    candidates.sort()
    return candidates


def _pickup_stock(lines: dict[int, int], now) -> dict[tuple[int, int], int]:
    """Sellable units of the lines at every pickup point (one query, index on variant)."""
    return {
        (location_id, variant_id): sellable
        for location_id, variant_id, sellable in with_availability(
            StockLevel.objects.filter(
                sells_online_q("location__"),
                variant_id__in=list(lines),
                location__is_pickup_point=True,
            ),
            now,
        ).values_list("location_id", "variant_id", "sellable")
    }


def _warehouse_supply(lines, now) -> dict[int, list[tuple[int, int]]]:
    """Units each active warehouse can send, per variant of the lines (one query)."""
    supply: dict[int, list[tuple[int, int]]] = {}
    for location_id, variant_id, sellable in with_availability(
        StockLevel.objects.filter(
            variant_id__in=list(lines), location__kind=LocationKind.WAREHOUSE, location__active=True
        ),
        now,
    ).values_list("location_id", "variant_id", "sellable"):
        supply.setdefault(variant_id, []).append((location_id, sellable))
    return supply


def _option(loc, dist, ready_on, now, via_transfer) -> PickupOption:
    today = now.astimezone(zoneinfo.ZoneInfo(loc["timezone"])).date()
    return PickupOption(
        location_id=loc["pk"],
        code=loc["code"],
        name=loc["name"],
        city=loc["city"],
        address=loc["address"],
        distance_km=round(dist, 2),
        ready_today=ready_on == today,
        ready_on=ready_on,
        via_transfer=via_transfer,
        opening_hours=loc["opening_hours"],
    )


def _transfer_options(later, supply, now) -> list[PickupOption]:
    """Ready dates for pickup points that need units sent from a warehouse."""
    destinations = [loc["pk"] for _, loc, _ in later]
    routes = {
        (r.source_id, r.destination_id): r.lead_time_days
        for r in TransferRoute.objects.filter(destination_id__in=destinations)
    }
    default_lead = settings.TRANSFER_DEFAULT_LEAD_DAYS
    options = []
    for dist, loc, short in later:
        days = 0
        for variant_id, missing in short.items():
            leads = [
                routes.get((wh, loc["pk"]), default_lead)
                for wh, sellable in supply.get(variant_id, [])
                if sellable >= missing
            ]
            if not leads:
                days = None
                break
            days = max(days, min(leads))
        if days is None:
            continue
        ready_on = ready_after_transfer(loc["opening_hours"], loc["timezone"], days, now)
        options.append(_option(loc, dist, ready_on, now, True))
    options.sort(key=lambda o: (o.ready_on, o.distance_km))
    return options


def ready_after_transfer(opening_hours: dict, tz_name: str, lead_days: int, now=None) -> date:
    """The day a transfer shipped now makes units ready at a store: the store's first open day
    from the start of (today + lead days), in its time zone. The finder and orders agree on it."""
    now = now or timezone.now()
    return next_open_date(opening_hours, tz_name, _start_of_day(now, tz_name, lead_days))


def _start_of_day(now: datetime, tz_name: str, days_ahead: int) -> datetime:
    tz = zoneinfo.ZoneInfo(tz_name)
    local_day = now.astimezone(tz).date() + timedelta(days=days_ahead)
    if days_ahead == 0:
        return now
    return datetime.combine(local_day, time.min, tzinfo=tz)


# --- Replenishment ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplenishmentLine:
    destination_id: int
    destination_code: str
    source_id: int
    source_code: str
    variant_id: int
    sku: str
    quantity: int
    source_kind: str


def _draft_quantities(field_name: str):
    """Units already on draft transfers into (or out of) a stock row."""
    lines = TransferLine.objects.filter(
        transfer__status=TransferStatus.DRAFT,
        variant_id=OuterRef("variant_id"),
        **{f"transfer__{field_name}_id": OuterRef("location_id")},
    )
    return _row_sum(lines, "quantity")


def replenishment_plan(
    *, destinations: QuerySet[Location] | None = None
) -> list[ReplenishmentLine]:
    """Bring every store row below its min back to its max.

    Incoming stock (in transit and on draft transfers) counts as already there. Units come from
    warehouses first (shortest lead time, then most stock), then from stores above their max;
    nobody gives away reserved units, safety stock or, for stores, units below their own max.
    """
    stores = Location.objects.filter(kind=LocationKind.STORE, active=True)
    if destinations is not None:
        stores = stores.filter(pk__in=destinations.values("pk"))
    needs = list(
        StockLevel.objects.filter(location__in=stores, max_qty__gt=0)
        .annotate(incoming=_draft_quantities("destination"))
        .annotate(position=F("on_hand") + F("in_transit") + F("incoming"))
        .filter(position__lt=F("min_qty"))
        .select_related("location", "variant")
        .order_by("location_id", "variant_id")
    )
    if not needs:
        return []
    variant_ids = {level.variant_id for level in needs}
    supply_rows = with_availability(
        StockLevel.objects.filter(variant_id__in=variant_ids, location__active=True)
        .annotate(outgoing=_draft_quantities("source"))
        .select_related("location")
    )
    supply: dict[int, list[list]] = defaultdict(list)
    for row in supply_rows:
        if row.location.kind == LocationKind.WAREHOUSE:
            spare = row.sellable - row.outgoing
        elif row.max_qty == 0:
            spare = 0  # a store without a max keeps what it has
        else:  # a store gives only its sellable units above its own max
            spare = row.sellable - row.max_qty - row.outgoing
        if spare > 0:
            supply[row.variant_id].append([row.location, spare])
    routes = {
        (r.source_id, r.destination_id): r.lead_time_days
        for r in TransferRoute.objects.filter(destination__in=stores)
    }
    default_lead = settings.TRANSFER_DEFAULT_LEAD_DAYS

    plan = []
    for level in needs:
        wanted = level.max_qty - level.position
        sources = [s for s in supply[level.variant_id] if s[0].pk != level.location_id]
        sources.sort(
            key=lambda s: (
                s[0].kind != LocationKind.WAREHOUSE,
                routes.get((s[0].pk, level.location_id), default_lead),
                -s[1],
                s[0].pk,
            )
        )
        for source in sources:
            if wanted <= 0:
                break
            take = min(wanted, source[1])
            if take <= 0:
                continue
            source[1] -= take
            wanted -= take
            plan.append(
                ReplenishmentLine(
                    destination_id=level.location_id,
                    destination_code=level.location.code,
                    source_id=source[0].pk,
                    source_code=source[0].code,
                    variant_id=level.variant_id,
                    sku=level.variant.sku,
                    quantity=take,
                    source_kind=source[0].kind,
                )
            )
    return plan


def stock_health_by_location(locations: QuerySet[Location]):
    """Per location: units on hand, stock rows, rows below min, rows out of stock (1 query)."""
    return (
        Location.objects.filter(pk__in=locations.values("pk"), active=True)
        .annotate(
            units=Coalesce(Sum("stock_levels__on_hand"), Value(0)),
            rows=Count("stock_levels"),
            below_min=Count(
                "stock_levels",
                filter=Q(stock_levels__min_qty__gt=0)
                & Q(stock_levels__on_hand__lt=F("stock_levels__min_qty") - F("stock_levels__in_transit")),
            ),
            out_of_stock=Count(
                "stock_levels",
                filter=LessThanOrEqual(sellable_expr(counter=True, prefix="stock_levels__"), 0),
            ),
        )
        .values(
            "pk", "code", "name", "kind", "city", "latitude", "longitude",
            "units", "rows", "below_min", "out_of_stock",
        )
        .order_by("kind", "name")
    )  # fmt: skip


# --- What other apps read about stock ---------------------------------------------------------
# Orders asks these instead of querying inventory's tables (issue 12).


def active_holds(owners: str | list[str]) -> QuerySet[Reservation]:
    """The active reservations of one owner (``"order:12"``) or of several."""
    owners = [owners] if isinstance(owners, str) else list(owners)
    return Reservation.objects.filter(owner__in=owners, status=ReservationStatus.ACTIVE)


def active_hold_ids(
    owners: str | list[str], *, variant_id: int | None = None, location_id: int | None = None
) -> list[int]:
    """Ids of the active reservations of ``owners``, optionally of one variant at one place."""
    holds = active_holds(owners)
    if variant_id is not None:
        holds = holds.filter(variant_id=variant_id)
    if location_id is not None:
        holds = holds.filter(location_id=location_id)
    return list(holds.order_by("pk").values_list("pk", flat=True))


def owners_with_active_holds(prefix: str) -> set[str]:
    """Owners starting with ``prefix`` (``"transfer:"``) that still hold stock."""
    rows = Reservation.objects.filter(owner__startswith=prefix, status=ReservationStatus.ACTIVE)
    return set(rows.values_list("owner", flat=True).distinct())


def stock_for_allocation(
    variant_ids: Iterable[int], location_ids: Iterable[int]
) -> dict[tuple[int, int], tuple[int, int, int, int]]:
    """(location_id, variant_id) → (sellable online, sellable at the counter, on_hand, max) of
    the stock rows that exist; sellable by the one rule (``sellable_expr``, expired holds
    counted back, as every availability read)."""
    rows = with_availability(
        StockLevel.objects.filter(variant_id__in=variant_ids, location_id__in=location_ids)
    ).values_list("location_id", "variant_id", "sellable", "sellable_counter", "on_hand", "max_qty")
    return {(loc, var): (s, sc, oh, mx) for loc, var, s, sc, oh, mx in rows}


def locations_selling_online(*, ships_to_customers: bool | None = None) -> QuerySet[Location]:
    """Locations that may sell online now (``Location.objects.selling_online``), optionally only
    those that ship parcels to customers."""
    found = Location.objects.selling_online()
    if ships_to_customers is not None:
        found = found.filter(ships_to_customers=ships_to_customers)
    return found


def locations_by_id(ids: Iterable[int]) -> dict[int, Location]:
    return Location.objects.in_bulk(list(ids))


def received_transfer_ids(ids: Iterable[int]) -> set[int]:
    """Which of these transfers have arrived (in full or in part)."""
    received = (TransferStatus.RECEIVED, TransferStatus.PARTIALLY_RECEIVED)
    rows = Transfer.objects.filter(pk__in=list(ids), status__in=received)
    return set(rows.values_list("pk", flat=True))


# --- What a marketing message shows ----------------------------------------------------------


def variant_cards(variant_ids: Iterable[int]) -> dict[int, dict]:
    """Name (product, size, colour), price, product slug and category slug of active variants
    (1 query)."""
    rows = Variant.objects.filter(
        pk__in=list(variant_ids), active=True, product__active=True
    ).values_list(
        "pk", "product__name", "size", "colour", "price", "product__slug", "product__category__slug"
    )
    cards = {}
    for pk, name, size, colour, price, slug, category in rows:
        detail = ", ".join(part for part in (size, colour) if part)
        cards[pk] = {
            "name": f"{name} ({detail})" if detail else name,
            "price": price,
            "slug": slug,
            "category": category,
        }
    return cards


def store_stock(variant_ids: Iterable[int], now=None) -> dict[str, dict[int, int]]:
    """Units of each variant sellable at the counter of each active store, by store code; only
    positive quantities (1 query)."""
    levels = StockLevel.objects.filter(
        variant_id__in=list(variant_ids), location__active=True, location__kind=LocationKind.STORE
    )
    rows = with_availability(levels, now).filter(sellable_counter__gt=0)
    stock: dict[str, dict[int, int]] = defaultdict(dict)
    for code, variant_id, units in rows.values_list(
        "location__code", "variant_id", "sellable_counter"
    ):
        stock[code][variant_id] = units
    return dict(stock)


def active_stores() -> dict[str, Location]:
    """Active stores by code (a retailer has tens: one small query)."""
    stores = Location.objects.filter(active=True, kind=LocationKind.STORE).order_by("code")
    return {store.code: store for store in stores}
