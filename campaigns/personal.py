"""What a campaign message shows of the shopper's own situation (the ``products`` and ``store``
of ``campaigns.content``): the items of their latest open or abandoned cart that are in stock
at their store, and that store — or, when their store lacks some of the items, the store
holding the most of them, nearest to their store first. A shopper without a cart sees up to
three best sellers of the last 30 days in stock at their store, their favourite categories
first. Their store: the home store, else the one they buy at most (traits).

Read for a whole sending batch at once (carts, stores and favourites, best sellers, product
cards, store stock: one query each, and the short list of stores), and only when one of the
campaign's templates names ``products`` or ``store``: a campaign that does not pays nothing.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings

from customers import selectors as customers_selectors
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


RECOMMENDED = 3  # products shown to a shopper without a cart


@dataclass(frozen=True)
class Catalogue:
    """What a batch's messages may show: product cards, stock per store, the stores, and the
    best sellers (those with a card, best first)."""

    cards: dict
    stock: dict
    stores: dict
    popular: list


def for_customers(customers: Iterable) -> dict[int, dict]:
    """``{customer id: {"products": [...], "store": {...}}}``, ready for ``build_context``."""
    ids = [customer.pk for customer in customers]
    carts = orders_selectors.latest_cart_lines(ids)
    places = customers_selectors.stores_and_favourites(ids)
    popular = orders_selectors.best_sellers()
    variant_ids = {variant for lines in carts.values() for variant, _quantity in lines}
    cards = inventory_selectors.variant_cards(variant_ids | set(popular))
    catalogue = Catalogue(
        cards=cards,
        stock=inventory_selectors.store_stock(cards) if cards else {},
        stores=inventory_selectors.active_stores(),
        popular=[variant for variant in popular if variant in cards],
    )
    return {pk: _personal(catalogue, *places.get(pk, ("", [])), carts.get(pk, [])) for pk in ids}


def _personal(catalogue: Catalogue, store_code: str, favourites: list, lines: list) -> dict:
    home = catalogue.stores.get(store_code)
    wanted = [variant for variant, _quantity in lines if variant in catalogue.cards]
    if not wanted:
        return {"products": _recommended(catalogue, home, favourites), "store": _store(home)}
    store = best_store(home, wanted, catalogue.stock, catalogue.stores)
    at_store = catalogue.stock.get(store.code, {}) if store else {}
    return {
        "products": [_product(catalogue.cards[v]) for v in wanted if v in at_store],
        "store": _store(store),
    }


def _recommended(catalogue: Catalogue, store, favourites: list) -> list[dict]:
    """Best sellers in stock at the shopper's store, their favourite categories first, one
    variant per product."""
    if store is None:
        return []
    at_store = catalogue.stock.get(store.code, {})
    in_stock = [variant for variant in catalogue.popular if variant in at_store]
    liked = [v for v in in_stock if catalogue.cards[v]["category"] in favourites]
    by_product: dict[str, int] = {}
    for variant in liked + in_stock:
        by_product.setdefault(catalogue.cards[variant]["slug"], variant)
    chosen = list(by_product.values())[:RECOMMENDED]
    return [_product(catalogue.cards[variant]) for variant in chosen]


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
