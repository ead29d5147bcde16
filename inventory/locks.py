"""Row locks on stock, always taken in one order: (location_id, variant_id).

Callers lock their own parent row first (cart/order, transfer), then coupons, then these.
"""

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from inventory.models import Location, Reservation, StockLevel, Transfer


def stock_levels_for_update(
    pairs: Iterable[tuple[int, int]], *, at: QuerySet[Location] | None = None
) -> dict[tuple[int, int], StockLevel]:
    """Lock the stock rows of (location_id, variant_id) pairs, in that sort order (only the
    rows at the locations ``at``, when given)."""
    pairs = sorted(set(pairs))
    if not pairs:
        return {}
    condition = Q()
    for location_id, variant_id in pairs:
        condition |= Q(location_id=location_id, variant_id=variant_id)
    if at is not None:
        condition &= Q(location__in=at)
    rows = (
        StockLevel.objects.filter(condition)
        .order_by("location_id", "variant_id")
        .select_for_update(of=("self",))
    )
    return {(row.location_id, row.variant_id): row for row in rows}


def variant_stock_for_update(variant_id: int, location_ids: Iterable[int]) -> list[StockLevel]:
    """Lock a variant's stock rows at these locations, in (location_id, variant_id) order."""
    return list(
        StockLevel.objects.filter(variant_id=variant_id, location_id__in=list(location_ids))
        .order_by("location_id", "variant_id")
        .select_for_update(of=("self",))
    )


def reservations_for_update(ids: Iterable[int]):
    return (
        Reservation.objects.filter(pk__in=list(ids)).order_by("pk").select_for_update(of=("self",))
    )


def transfer_for_update(pk: int) -> Transfer:
    return Transfer.objects.select_for_update(of=("self",)).get(pk=pk)


def transfers_for_update(ids: Iterable[int]) -> list[Transfer]:
    return list(
        Transfer.objects.filter(pk__in=list(ids)).order_by("pk").select_for_update(of=("self",))
    )
