"""Demo promotions with coupons and ~40 orders in every state, made through the order services.

Each demo order has a stable key: the idempotency key of ``place_order`` (``seed-demo:NN``) or the
marketplace's order number for imported orders. A rerun skips the orders that exist, so nothing is
created twice; promotions are updated in place (their use counters are left alone).

Customers, stores and products are picked with a fixed random seed from the demo data of the apps
seeded before (inventory, customers), so the same database gets the same orders. Stock moves only
through the services (reserve, consume, transfers, write-offs, returns): the ledger stays exact.

Pickup orders are marked ready in the past (``mark_ready(now=...)``) to show an order due today,
one overdue at the desk and two expired by ``expire_uncollected``.
"""

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from customers.models import Customer, CustomerStatus, IdentityKind
from inventory import services as stock
from inventory.models import Location, LocationKind, StockLevel, Variant
from inventory.selectors import with_availability
from omni import messaging
from omni.roles import BACKOFFICE_ADMIN, STORE_STAFF
from orders import services
from orders.models import (
    Coupon,
    Fulfilment,
    LineState,
    Order,
    OrderStatus,
    Promotion,
    PromotionKind,
    Return,
    ReturnCondition,
)

SEED = 5  # the orders' own seed: the shared ctx.rng depends on what earlier apps drew this run
KEY_PREFIX = "seed-demo:"
STAFF_STORE = "mad-granvia"  # the demo store staff member's store (inventory.demo)
RETURNS_WAREHOUSE = "wh-getafe"

# name, kind, value, min basket, channels, uses per customer, days (start, end) from now,
# codes [(code, single use)]
PROMOTIONS = [
    ("Bienvenida 10 %", PromotionKind.PERCENTAGE, "10", "0", [], 1, (-60, None),
     [("BIENVENIDA10", False)]),
    ("Cheque regalo 5 €", PromotionKind.FIXED_AMOUNT, "5", "25", [], None, (-30, 335),
     [("REGALO5-7K2M", True), ("REGALO5-Q9TX", True), ("REGALO5-W4HP", True)]),
    ("Envío gratis online", PromotionKind.FREE_SHIPPING, "0", "0", ["web", "app"], None,
     (-14, 45), [("ENVIOGRATIS", False)]),
    ("Rebajas de verano 25 %", PromotionKind.PERCENTAGE, "25", "0", [], None, (-120, -30),
     [("VERANO25", False)]),
]  # fmt: skip

# A printed flyer: a batch of single-use codes of this promotion (seeded once).
FLYER_PROMOTION = "Cheque regalo 5 €"
FLYER_CODES = 200

# street, postal code, city, latitude, longitude
ADDRESSES = [
    ("Calle de Alcalá 120, 3º B", "28009", "Madrid", "40.4230", "-3.6760"),
    ("Carrer de Mallorca 210, 2n 1a", "08036", "Barcelona", "41.3905", "2.1560"),
    ("Avenida de Blasco Ibáñez 30", "46010", "Valencia", "39.4746", "-0.3600"),
    ("Paseo de la Independencia 22", "50004", "Zaragoza", "41.6488", "-0.8891"),
    ("Calle Uría 15, 4º", "33003", "Oviedo", "43.3623", "-5.8489"),
    ("Avenida de la Constitución 8", "41001", "Sevilla", "37.3891", "-5.9945"),
    ("Calle Recogidas 20", "18005", "Granada", "37.1710", "-3.6030"),
    ("Calle de Castelar 4", "35007", "Las Palmas de Gran Canaria", "28.1400", "-15.4300"),
]


@dataclass(frozen=True)
class Scenario:
    """One demo order: how it is placed and what happens to it afterwards.

    ``kind``: pickup | awaiting | counter | ship | import. ``then``: the steps after placing,
    in order: short_pick, ship_transfer, ready (with ``ready_days_ago``), collect,
    collect_identity, expire, cancel_shopper, cancel_staff, mark_shipped, return_store,
    return_post (received), return_announced (by post, not received yet).
    """

    key: str
    kind: str
    store: str = ""
    channel: str = "web"
    lines: int = 1
    quantity: int = 1
    coupon: str = ""
    pay_at_pickup: bool = False
    then: tuple[str, ...] = ()
    ready_days_ago: float = 0.1
    damaged: bool = False
    below: str = ""  # lines priced below this (e.g. under free shipping, to show a coupon's effect)
    reference: str = ""  # imported orders: the marketplace's order number


# Kinds: pickup from the store's shelf, pickup awaiting a transfer, counter, parcel, imported.
P, A, C, S, X = "pickup", "awaiting", "counter", "ship", "import"

SCENARIOS = [
    # Placed, to pick at the store.
    Scenario("01", P, "mad-granvia", lines=2),
    Scenario("02", P, "mad-granvia", channel="app", pay_at_pickup=True),
    Scenario("03", P, "mad-serrano", coupon="BIENVENIDA10", lines=2),
    Scenario("04", P, "bcn-passeig"),
    Scenario("05", P, "vlc-colon", channel="app"),
    Scenario("06", P, "agp-larios", lines=2, then=("short_pick",)),
    # Waiting for units from a warehouse.
    Scenario("07", A, "mad-granvia", lines=2),
    Scenario("08", A, "svq-sierpes", channel="app"),
    Scenario("09", A, "bio-moyua", pay_at_pickup=True),
    Scenario("10", A, "lpa-triana"),
    Scenario("11", A, "mad-granvia", then=("ship_transfer",)),
    # Ready at the desk: just now, due today, due tomorrow, overdue.
    Scenario("12", P, "mad-granvia", then=("ready",), ready_days_ago=0.1),
    Scenario("13", P, "mad-granvia", pay_at_pickup=True, then=("ready",), ready_days_ago=7),
    Scenario("14", P, "mad-granvia", lines=2, then=("ready",), ready_days_ago=8),
    Scenario("15", P, "bcn-passeig", channel="app", then=("ready",), ready_days_ago=6),
    Scenario("16", P, "vlc-colon", then=("ready",), ready_days_ago=1),
    Scenario("17", P, "lpa-triana", then=("ready",), ready_days_ago=2),
    # Collected (some returned since).
    Scenario("18", P, "mad-granvia", lines=2, then=("ready", "collect", "return_store"),
             ready_days_ago=3),
    Scenario("19", P, "mad-granvia", pay_at_pickup=True, then=("ready", "collect_identity"),
             ready_days_ago=2),
    Scenario("20", P, "mad-serrano", then=("ready", "collect"), ready_days_ago=4),
    Scenario("21", P, "bcn-passeig", channel="app", then=("ready", "collect"), ready_days_ago=1),
    Scenario("22", P, "agp-larios", then=("ready", "collect"), ready_days_ago=5),
    # Not collected in time.
    Scenario("23", P, "mad-serrano", then=("ready", "expire"), ready_days_ago=12),
    Scenario("24", P, "svq-sierpes", pay_at_pickup=True, then=("ready", "expire"),
             ready_days_ago=13),
    # Cancelled.
    Scenario("25", P, "bio-moyua", then=("cancel_shopper",)),
    Scenario("26", A, "vlc-colon", channel="app", then=("cancel_shopper",)),
    Scenario("27", P, "mad-granvia", then=("ready", "cancel_staff"), ready_days_ago=1),
    Scenario("28", S, channel="web", then=("cancel_staff",)),
    # Parcels: to ship and shipped.
    Scenario("29", S, channel="web", lines=2),
    Scenario("30", S, channel="app", coupon="ENVIOGRATIS", below="40"),
    Scenario("31", S, channel="web", then=("mark_shipped",)),
    Scenario("32", S, channel="web", coupon="BIENVENIDA10", lines=2, then=("mark_shipped",)),
    Scenario("33", S, channel="app", coupon="ENVIOGRATIS", below="30",
             then=("mark_shipped", "return_post"), damaged=True),
    Scenario("34", S, channel="web", lines=2, then=("mark_shipped", "return_announced")),
    # Sold at the counter.
    Scenario("35", C, "mad-granvia", channel="store", lines=2),
    Scenario("36", C, "bcn-passeig", channel="store", coupon="REGALO5-7K2M", lines=2),
    Scenario("37", C, "vlc-colon", channel="store", then=("return_store",)),
    Scenario("38", C, "agp-larios", channel="store", quantity=2),
    # Imported from a marketplace and a social shop.
    Scenario("39", X, channel="marketplace", reference="402-5518734-2209116"),
    Scenario("40", X, channel="marketplace", reference="402-7730291-5561408", lines=2,
             then=("mark_shipped",)),
    Scenario("41", X, channel="social", reference="IG-20418", then=("mark_shipped",)),
    Scenario("42", X, channel="marketplace", reference="402-1187265-9043327"),
]  # fmt: skip


class SilentBackend:
    """A messaging backend that drops every message (the demo's own orders only)."""

    def send(self, message) -> None:
        pass


def seed(ctx) -> None:
    # The demo's shoppers are made up: the messages their orders send after commit (pickup
    # codes, expiry notices) go nowhere instead of filling the console. Commit callbacks run in
    # the order they were registered, so those of these orders run between the two below.
    quiet = override_settings(
        MESSAGING_BACKENDS=dict.fromkeys(messaging.CHANNELS, "orders.demo.SilentBackend")
    )
    transaction.on_commit(quiet.enable)
    try:
        _seed(ctx)
    finally:
        transaction.on_commit(quiet.disable)


def _seed(ctx) -> None:
    promotions = _seed_promotions()
    created = _Seeder(ctx).run()
    orders = Order.objects.filter(idempotency_key__startswith=KEY_PREFIX) | Order.objects.filter(
        external_reference__in=[s.reference for s in SCENARIOS if s.reference]
    )
    by_status = Counter(orders.values_list("status", flat=True))
    statuses = ", ".join(f"{by_status[s]} {s}" for s in OrderStatus.values if by_status[s])
    returns = Return.objects.filter(order__in=orders).count()
    if created:
        ctx.say(f"  {promotions} promotions, {created} new orders ({statuses}), {returns} returns")
    else:
        ctx.say(f"  {promotions} promotions, {sum(by_status.values())} orders exist (unchanged)")


def _seed_promotions() -> int:
    now = timezone.now()
    for name, kind, value, min_basket, channels, per_customer, (start, end), codes in PROMOTIONS:
        fields = {
            "name": name,
            "kind": kind,
            "value": Decimal(value),
            "min_basket": Decimal(min_basket),
            "channels": channels,
            "max_uses_per_customer": per_customer,
            "starts_at": now + timedelta(days=start),
            "ends_at": now + timedelta(days=end) if end is not None else None,
            "active": True,
        }
        coupon = Coupon.objects.filter(code=codes[0][0]).select_related("promotion").first()
        if coupon is None:
            promotion = Promotion.objects.create(**fields)
        else:
            promotion = coupon.promotion
            for attr, field_value in fields.items():
                setattr(promotion, attr, field_value)
            promotion.save(update_fields=list(fields))
        for code, single_use in codes:
            Coupon.objects.get_or_create(
                code=code, defaults={"promotion": promotion, "single_use": single_use}
            )
        if name == FLYER_PROMOTION and not promotion.batches.exists():
            services.issue_coupon_batch(promotion=promotion, quantity=FLYER_CODES, prefix="FLYER")
    return len(PROMOTIONS)


@dataclass
class _Stock:
    """What each location can sell, read once; every variant is used by one order at most, so
    the figures stay true while the demo orders take stock."""

    rng: random.Random
    stores: dict[str, Location]
    warehouses: list[Location]
    online: dict[int, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    counter: dict[int, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    prices: dict[int, Decimal] = field(default_factory=dict)
    used: set[int] = field(default_factory=set)

    def load(self) -> None:
        locations = [*self.stores.values(), *self.warehouses]
        rows = with_availability(
            StockLevel.objects.filter(
                location__in=locations, variant__active=True, variant__product__active=True
            )
        ).values_list("location_id", "variant_id", "sellable", "sellable_counter", "variant__price")
        for location_id, variant_id, sellable, sellable_counter, price in rows:
            self.online[location_id][variant_id] = sellable
            self.counter[location_id][variant_id] = sellable_counter
            self.prices[variant_id] = price

    def _take(self, candidates, n: int, below: str = "") -> list[int]:
        candidates = sorted(set(candidates) - self.used)
        if below:
            candidates = [v for v in candidates if self.prices[v] < Decimal(below)]
        if len(candidates) < n:
            raise RuntimeError("Not enough demo stock left for the demo orders.")
        picked = self.rng.sample(candidates, n)
        self.used.update(picked)
        return picked

    def _in_a_warehouse(self, quantity: int) -> set[int]:
        return {v for wh in self.warehouses for v, s in self.online[wh.pk].items() if s >= quantity}

    def on_shelf(self, store: Location, n: int, quantity: int) -> list[int]:
        return self._take((v for v, s in self.online[store.pk].items() if s >= quantity), n)

    def at_counter(self, store: Location, n: int, quantity: int) -> list[int]:
        return self._take((v for v, s in self.counter[store.pk].items() if s >= quantity), n)

    def missing_at(self, store: Location, n: int, quantity: int) -> list[int]:
        here = self.online[store.pk]
        return self._take((v for v in self._in_a_warehouse(quantity) if not here.get(v)), n)

    def for_parcels(self, n: int, quantity: int, below: str = "") -> list[int]:
        return self._take(self._in_a_warehouse(quantity), n, below)


class _Seeder:
    def __init__(self, ctx):
        self.rng = random.Random(SEED)
        self.now = timezone.now()
        users = ctx.data.get("users", {})
        self.staff = users.get(STORE_STAFF)
        self.admin = users.get(BACKOFFICE_ADMIN)
        locations = Location.objects.filter(active=True).in_bulk(field_name="code")
        self.stores = {c: loc for c, loc in locations.items() if loc.kind == LocationKind.STORE}
        self.returns_warehouse = locations.get(RETURNS_WAREHOUSE)
        warehouses = [loc for loc in locations.values() if loc.kind == LocationKind.WAREHOUSE]
        self.stock = _Stock(self.rng, self.stores, sorted(warehouses, key=lambda loc: loc.pk))
        self.customers: list[Customer] = []
        self.expire = False
        self.codes: dict[int, str] = {}

    def run(self) -> int:
        keys = set(
            Order.objects.filter(idempotency_key__startswith=KEY_PREFIX).values_list(
                "idempotency_key", flat=True
            )
        )
        references = set(
            Order.objects.filter(
                external_reference__in=[s.reference for s in SCENARIOS if s.reference]
            ).values_list("external_reference", flat=True)
        )
        todo = [
            s
            for s in SCENARIOS
            if KEY_PREFIX + s.key not in keys and (not s.reference or s.reference not in references)
        ]
        if not todo:
            return 0
        self.stock.load()
        self.customers = self._customers(len(SCENARIOS))
        for number, scenario in enumerate(SCENARIOS):
            if scenario in todo:  # customers by position: the same person on every run
                self._play(scenario, self.customers[number])
        if self.expire:
            # Past the hold of the orders marked ready 12+ days ago, not of the overdue one.
            services.expire_uncollected(now=self.now - timedelta(days=3))
        return len(todo)

    # --- Picks --------------------------------------------------------------------------------

    def _customers(self, n: int) -> list[Customer]:
        """Known demo customers (an e-mail each), a fixed sample."""
        emails = [f"cliente{k:04d}@example.com" for k in self.rng.sample(range(1, 2001), n)]
        found = dict(
            Customer.objects.filter(
                status=CustomerStatus.LIVE,
                identities__kind=IdentityKind.EMAIL,
                identities__value__in=emails,
            ).values_list("identities__value", "pk")
        )
        ids = [found[e] for e in emails if e in found]
        if len(ids) < n:  # other demo data: any known, live customers
            ids += list(
                Customer.objects.filter(status=CustomerStatus.LIVE, is_anonymous=False)
                .exclude(pk__in=ids)
                .order_by("pk")
                .values_list("pk", flat=True)[: n - len(ids)]
            )
        customers = Customer.objects.in_bulk(ids)
        return [customers[pk] for pk in ids]

    def _variants(self, ids: list[int]) -> list[Variant]:
        variants = Variant.objects.select_related("product__category").in_bulk(ids)
        return [variants[pk] for pk in ids]

    def _address(self, customer: Customer) -> tuple[dict, str, str]:
        street, postal_code, city, lat, lon = self.rng.choice(ADDRESSES)
        name = f"{customer.first_name} {customer.last_name}".strip() or "Cliente Omni"
        phone = f"+346{self.rng.randrange(10**7, 10**8)}"
        address = {
            "name": name,
            "line1": street,
            "postal_code": postal_code,
            "city": city,
            "country": "ES",
            "phone": phone,
        }
        return address, lat, lon

    def _user_at(self, store: Location | None):
        return self.staff if store is not None and store.code == STAFF_STORE else self.admin

    # --- One order ------------------------------------------------------------------------------

    def _play(self, s: Scenario, customer: Customer) -> None:
        store = self.stores.get(s.store)
        order = self._import(s, customer) if s.kind == X else self._place(s, customer, store)
        for step in s.then:
            order = getattr(self, f"_{step}")(order, s)

    def _place(self, s: Scenario, customer: Customer, store: Location | None) -> Order:
        if s.kind == P:
            ids = self.stock.on_shelf(store, s.lines, s.quantity)
        elif s.kind == A:  # one line not at the store (comes by transfer), the others there
            ids = self.stock.missing_at(store, 1, s.quantity)
            ids += self.stock.on_shelf(store, s.lines - 1, s.quantity)
        elif s.kind == C:
            ids = self.stock.at_counter(store, s.lines, s.quantity)
        else:
            ids = self.stock.for_parcels(s.lines, s.quantity, s.below)
        cart = services.open_cart(customer=customer, channel=s.channel)
        for line in list(cart.lines.select_related("variant__product")):  # a fresh basket
            services.set_line_quantity(
                cart=cart, variant=line.variant, quantity=0, channel=s.channel
            )
        for variant in self._variants(ids):
            services.add_to_cart(cart=cart, variant=variant, quantity=s.quantity, channel=s.channel)
        address, lat, lon = self._address(customer) if s.kind == S else ({}, None, None)
        fulfilment = {P: Fulfilment.PICKUP, A: Fulfilment.PICKUP, C: Fulfilment.COUNTER}.get(
            s.kind, Fulfilment.SHIP
        )
        return services.place_order(
            cart=cart,
            fulfilment=fulfilment,
            location=store,
            shipping_address=address,
            latitude=lat,
            longitude=lon,
            coupon_code=s.coupon,
            pay_at_pickup=s.pay_at_pickup,
            channel=s.channel,
            idempotency_key=KEY_PREFIX + s.key,
            acting_user=self._user_at(store) if s.kind == C else None,
        )

    def _import(self, s: Scenario, customer: Customer) -> Order:
        variants = self._variants(self.stock.for_parcels(s.lines, s.quantity))
        address, lat, lon = self._address(customer)
        email = customer.identities.filter(kind=IdentityKind.EMAIL).values_list("value", flat=True)
        buyer = [(IdentityKind.MARKETPLACE, f"{s.channel}:{s.reference}".lower())]
        buyer += [(IdentityKind.EMAIL, value) for value in email[:1]]
        order, _created = services.import_external_order(
            channel=s.channel,
            external_reference=s.reference,
            buyer=buyer,
            lines=[(v, s.quantity, v.price) for v in variants],
            shipping_address=address,
            latitude=lat,
            longitude=lon,
            acting_user=self.admin,
        )
        return order

    # --- What happens next ----------------------------------------------------------------------

    def _short_pick(self, order: Order, s: Scenario) -> Order:
        line = order.lines.filter(state=LineState.ALLOCATED).order_by("pk").first()
        return services.short_pick(
            order=order,
            line=line,
            missing=1,
            resolution="refund",
            acting_user=self._user_at(order.location),
        )

    def _ship_transfer(self, order: Order, s: Scenario) -> Order:
        for line in order.lines.filter(transfer__isnull=False).select_related("transfer"):
            stock.ship_transfer(transfer=line.transfer, acting_user=self.admin)
        return order

    def _ready(self, order: Order, s: Scenario) -> Order:
        self.codes[order.pk] = services.mark_ready(
            order=order,
            acting_user=self._user_at(order.location),
            now=self.now - timedelta(days=s.ready_days_ago),
        )
        return order

    def _collect(self, order: Order, s: Scenario) -> Order:
        return services.collect(
            order=order, code=self.codes[order.pk], acting_user=self._user_at(order.location)
        )

    def _collect_identity(self, order: Order, s: Scenario) -> Order:
        return services.collect(
            order=order, identity_checked=True, acting_user=self._user_at(order.location)
        )

    def _expire(self, order: Order, s: Scenario) -> Order:
        self.expire = True
        return order

    def _cancel_shopper(self, order: Order, s: Scenario) -> Order:
        return services.cancel_order(
            order=order, by_shopper=True, reason="Ya no lo necesito.", acting_user=None
        )

    def _cancel_staff(self, order: Order, s: Scenario) -> Order:
        return services.cancel_order(
            order=order,
            reason="Cancelado a petición del cliente por teléfono.",
            acting_user=self._user_at(order.location),
        )

    def _mark_shipped(self, order: Order, s: Scenario) -> Order:
        return services.mark_shipped(order=order, acting_user=self.admin)

    def _return(self, order: Order, s: Scenario, *, location, by_post, receive) -> Order:
        line = order.lines.filter(state=LineState.FULFILLED).order_by("pk").first()
        condition = ReturnCondition.DAMAGED if s.damaged else ReturnCondition.RESELLABLE
        services.create_return(
            order=order,
            lines={line.pk: 1},
            location=location,
            by_post=by_post,
            conditions={line.pk: condition} if receive else None,
            acting_user=self._user_at(location),
        )
        return order

    def _return_store(self, order: Order, s: Scenario) -> Order:
        return self._return(order, s, location=order.location, by_post=False, receive=True)

    def _return_post(self, order: Order, s: Scenario) -> Order:
        return self._return(order, s, location=self.returns_warehouse, by_post=True, receive=True)

    def _return_announced(self, order: Order, s: Scenario) -> Order:
        return self._return(order, s, location=self.returns_warehouse, by_post=True, receive=False)
