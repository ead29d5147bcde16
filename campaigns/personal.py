"""What a campaign message shows of the shopper's own situation (the ``products`` and ``store``
of ``campaigns.content``): the items of their latest open or abandoned cart that are in stock
at their store, and that store — or, when their home store lacks some of the items, the store
holding the most of them, nearest to their home store first.

Read for a whole sending batch at once (carts, product cards, store stock: one query each, and
the short list of stores), and only when one of the campaign's templates names ``products`` or
``store``; a campaign that does not use them pays nothing.
"""

import re
from collections.abc import Iterable

from django.conf import settings

from inventory import selectors as inventory_selectors
from inventory.models import Location
from orders import selectors as orders_selectors

USES = re.compile(r"\b(products|store)\b")


def needed(variants: Iterable) -> bool:
    """Does any template of these variants name ``products`` or ``store``?"""
    for variant in variants:
        for parts in (variant.content or {}).values():
            sources = parts.values() if isinstance(parts, dict) else ()
            if any(isinstance(source, str) and USES.search(source) for source in sources):
                return True
    return False


def for_customers(customers: Iterable) -> dict[int, dict]:
    """``{customer id: {"products": [...], "store": {...}}}``, ready for ``build_context``."""
    customers = list(customers)
    carts = orders_selectors.latest_cart_lines([c.pk for c in customers])
    variant_ids = {variant for lines in carts.values() for variant, _quantity in lines}
    cards = inventory_selectors.variant_cards(variant_ids) if variant_ids else {}
    stock = inventory_selectors.store_stock(cards) if cards else {}
    stores = inventory_selectors.active_stores()
    return {
        c.pk: _personal(stores.get(c.home_store), carts.get(c.pk, []), cards, stock, stores)
        for c in customers
    }


def _personal(home, lines, cards, stock, stores) -> dict:
    wanted = [variant for variant, _quantity in lines if variant in cards]
    store = best_store(home, wanted, stock, stores)
    at_store = stock.get(store.code, {}) if store else {}
    return {
        "products": [_product(cards[v]) for v in wanted if v in at_store],
        "store": _store(store),
    }


def best_store(home: Location | None, wanted: list[int], stock: dict, stores: dict):
    """The home store when it holds every wanted item (or nothing is wanted), else the store
    holding the most of them, the nearest to the home store among equals; the home store
    when no store holds any."""
    if not wanted:
        return home

    def held(store) -> int:
        return sum(1 for variant in wanted if variant in stock.get(store.code, {}))

    if home is not None and held(home) == len(wanted):
        return home
    holding = [store for store in stores.values() if held(store)]
    if not holding:
        return home
    return max(holding, key=lambda store: (held(store), -_distance(home, store)))


def _distance(home, store) -> float:
    points = (home and home.latitude, home and home.longitude, store.latitude, store.longitude)
    if any(p is None for p in points):
        return 0.0
    return inventory_selectors.distance_km(*map(float, points))


def _product(card: dict) -> dict:
    template = settings.CAMPAIGN_PRODUCT_URL
    return {
        "name": card["name"],
        "price": card["price"],
        "url": template.format(slug=card["slug"]) if template else "",
        "image": "",
    }


def _store(store) -> dict:
    if store is None:
        return {}
    place = " ".join(part for part in (store.postal_code, store.city) if part)
    return {"name": store.name, "address": ", ".join(p for p in (store.address, place) if p)}
