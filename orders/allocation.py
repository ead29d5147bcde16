"""Allocation: which locations give an order's units, and the holds and transfers for them.

- pickup at store S (``allocate_pickup``): what S can sell is held at S; the rest comes by
  transfer from the nearest warehouses first, then from other stores, and the order waits for
  it (``request_transfers``);
- ship to an address (``route_shipment``): fewest shipments first, then warehouses before
  stores (unless a store holds more than its maximum), then nearest to the address; only
  locations that ship to customers;
- counter (``allocate_counter``): the store's own stock, safety stock included, sold on the spot.

Stock comes from inventory's selectors and services only (``stock_for_allocation``,
``reserve``, ``create_transfer``, …): orders never reads inventory's tables.
"""

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _

from inventory import selectors as stock_selectors
from inventory import services as stock
from inventory.models import Location, LocationKind, Reservation, Transfer, Variant
from inventory.selectors import distance_km, ready_after_transfer, stock_for_allocation
from orders.exceptions import NotEnoughToSell
from orders.models import Order


@dataclass(frozen=True)
class Item:
    """A line to order: a variant, units and the unit price charged (VAT included)."""

    variant: Variant
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class Allocation:
    variant_id: int
    location_id: int
    quantity: int
    via_transfer: bool = False


@dataclass(frozen=True)
class PendingTransfer:
    """A transfer requested for a pickup order and the day the order can be ready."""

    transfer: Transfer
    promise: date


def wanted_units(items: list[Item]) -> dict[int, int]:
    """Units wanted per variant id (lines of one variant added up)."""
    wanted: dict[int, int] = defaultdict(int)
    for item in items:
        wanted[item.variant.pk] += item.quantity
    return dict(wanted)


def at_store(items: list[Item], store_id: int) -> list[Allocation]:
    """Every unit from one store, in variant order (the usual pickup and counter sale)."""
    return [Allocation(v, store_id, q) for v, q in sorted(wanted_units(items).items())]


def _stock(variant_ids, locations) -> dict[tuple[int, int], tuple[int, int, int, int]]:
    """(location_id, variant_id) → (sellable online, sellable at the counter, on_hand, max)."""
    return stock_for_allocation(variant_ids, [loc.pk for loc in locations])


def _coords(location: Location) -> tuple[float, float] | None:
    if location.latitude is None:
        return None
    return float(location.latitude), float(location.longitude)


def _distance(a, b) -> float:
    return distance_km(*a, *b) if a and b else math.inf


def _short(items: list[Item], wanted: dict[int, int]) -> NotEnoughToSell:
    variant_id = next(v for v, q in wanted.items() if q > 0)
    sku = next(i.variant.sku for i in items if i.variant.pk == variant_id)
    return NotEnoughToSell(
        _("Not enough units of %(sku)s can be sold now.") % {"sku": sku},
        fields={"lines": [sku]},
    )


def allocate_pickup(items: list[Item], store: Location) -> list[Allocation]:
    """Hold at the store what it can sell; the rest by transfer (warehouses first, nearest)."""
    wanted = wanted_units(items)
    here_only = _stock(list(wanted), [store])
    if all(here_only.get((store.pk, v), (0,))[0] >= q for v, q in wanted.items()):
        return at_store(items, store.pk)  # the usual case
    sources = list(stock_selectors.locations_selling_online().exclude(pk=store.pk))
    here = _coords(store)
    sources.sort(
        key=lambda loc: (loc.kind != LocationKind.WAREHOUSE, _distance(here, _coords(loc)))
    )
    levels = _stock(list(wanted), [store, *sources])
    allocations = []
    for variant_id, quantity in sorted(wanted.items()):
        take = min(quantity, levels.get((store.pk, variant_id), (0,))[0])
        if take:
            allocations.append(Allocation(variant_id, store.pk, take))
            wanted[variant_id] -= take
        for source in sources:
            if not wanted[variant_id]:
                break
            take = min(wanted[variant_id], levels.get((source.pk, variant_id), (0,))[0])
            if take:
                allocations.append(Allocation(variant_id, source.pk, take, via_transfer=True))
                wanted[variant_id] -= take
    if any(wanted.values()):
        raise _short(items, wanted)
    return allocations


def allocate_counter(items: list[Item], store: Location) -> list[Allocation]:
    """The store's own units, safety stock included (NotEnoughToSell if a line is short)."""
    wanted = wanted_units(items)
    levels = _stock(list(wanted), [store])
    for variant_id, quantity in wanted.items():
        if levels.get((store.pk, variant_id), (0, 0))[1] < quantity:
            raise _short(items, {variant_id: quantity})
    return at_store(items, store.pk)


def route_shipment(
    items: list[Item], point: tuple[float, float] | None
) -> tuple[list[Allocation], str]:
    """Fulfilling locations for a parcel and the reason for the choice."""
    wanted = wanted_units(items)
    candidates = list(stock_selectors.locations_selling_online(ships_to_customers=True))
    levels = _stock(list(wanted), candidates)

    def over_max(loc) -> bool:
        return loc.kind == LocationKind.STORE and any(
            levels.get((loc.pk, v), (0, 0, 0, 0))[3] > 0
            and levels[(loc.pk, v)][2] > levels[(loc.pk, v)][3]
            for v in wanted
        )

    def rank(loc):
        preferred = loc.kind == LocationKind.WAREHOUSE or over_max(loc)
        return (not preferred, _distance(point, _coords(loc)), loc.pk)

    def can_give(loc, remaining) -> int:
        return sum(min(q, levels.get((loc.pk, v), (0,))[0]) for v, q in remaining.items())

    remaining = dict(wanted)
    chosen: list[Location] = []
    allocations: list[Allocation] = []
    while any(remaining.values()):
        best = min(
            (loc for loc in candidates if loc not in chosen and can_give(loc, remaining)),
            key=lambda loc: (-can_give(loc, remaining), *rank(loc)),
            default=None,
        )
        if best is None:
            raise _short(items, remaining)
        chosen.append(best)
        for variant_id, quantity in sorted(remaining.items()):
            take = min(quantity, levels.get((best.pk, variant_id), (0,))[0])
            if take:
                allocations.append(Allocation(variant_id, best.pk, take))
                remaining[variant_id] -= take
    return allocations, _routing_reason(chosen, point, over_max)


def _routing_reason(chosen: list[Location], point, over_max) -> str:
    reasons = []
    for loc in chosen:
        kind = _("store over its maximum") if over_max(loc) else loc.get_kind_display().lower()
        dist = _distance(point, _coords(loc))
        where = f", {dist:.0f} km" if dist != math.inf else ""
        reasons.append(f"{loc.name} ({kind}{where})")
    if len(chosen) == 1:
        return _("One parcel from %(where)s.") % {"where": reasons[0]}
    return _("No single location holds every line: %(n)s parcels, from %(where)s.") % {
        "n": len(chosen),
        "where": "; ".join(reasons),
    }


def reserve(order: Order, allocations: list[Allocation], *, counter: bool) -> list[Reservation]:
    """Hold the allocated units for the order: every line or none (InsufficientStock)."""
    return stock.reserve(
        lines=[stock.StockLine(a.variant_id, a.location_id, a.quantity) for a in allocations],
        owner=order.owner,
        channel=stock.COUNTER if counter else stock.ONLINE,
    )


def request_transfers(
    order: Order, allocations: list[Allocation], new_holds: list[Reservation], acting_user
) -> dict[int, PendingTransfer]:
    """One transfer per source location for the units coming to the pickup store, holding the
    units ``new_holds`` reserved there; source location id → PendingTransfer."""
    per_source: dict[int, dict[int, int]] = defaultdict(dict)
    for a in allocations:
        if a.via_transfer:
            per_source[a.location_id][a.variant_id] = a.quantity
    if not per_source:
        return {}
    holds = defaultdict(list)
    for hold in new_holds:
        holds[hold.location_id].append(hold.pk)
    result = {}
    now = timezone.now()
    store = order.location
    sources = stock_selectors.locations_by_id(per_source)
    for source_id, lines in sorted(per_source.items()):
        transfer = stock.create_transfer(
            source=sources[source_id],
            destination=order.location,
            lines=lines,
            reference=f"order:{order.number}",
            note=_("For pickup order %(number)s.") % {"number": order.number},
            acting_user=acting_user,
        )
        stock.hold_for_transfer(transfer=transfer, reservation_ids=holds[source_id])
        days = stock.lead_time_days(source_id, order.location_id)
        # The same promise the pickup finder shows: the store's first open day on or after the
        # arrival, in the store's time zone.
        promise = ready_after_transfer(store.opening_hours, store.timezone, days, now)
        result[source_id] = PendingTransfer(transfer, promise)
    return result
