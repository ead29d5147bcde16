"""The condition types a segment is built from, in one registry (``CONDITIONS``).

Each type validates its JSON (``clean``, raising RuleError) and compiles to a Q on Customer
(``compile``): a column through the traits' one-to-one join, or Exists / ``pk IN`` subqueries
on the lower apps' models (customers, orders, inventory), so a whole tree is one query.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.db.models import Count, Exists, F, FloatField, OuterRef, Q, Subquery
from django.db.models.functions import ASin, Cast, Cos, Power, Radians, Sin, Sqrt
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.exceptions import InvalidSegment
from campaigns.models import Segment
from campaigns.segments import fields as field_rules
from campaigns.segments.params import Field, Param
from campaigns.segments.values import (
    RuleError,
    parse_bool,
    parse_choice,
    parse_code,
    parse_decimal,
    parse_int,
    parse_list,
)
from customers.models import (
    Channel,
    Consent,
    ConsentChannel,
    ConsentPurpose,
    ConsentState,
    Customer,
    Event,
    EventType,
    Identity,
    IdentityKind,
)
from inventory.models import Category, Location
from orders.models import Order, OrderLine, OrderStatus

EARTH_RADIUS_KM = 6371.0
PURCHASE_CHANNELS = ("web", "app", "store", "marketplace", "social", "call_centre")
NOT_PURCHASED = (OrderStatus.CANCELLED,)
MAX_CHAIN = 10  # segments within segments


@dataclass
class Context:
    """What compiling needs besides the tree: the time "now" is and a reader of other
    segments' rules (for membership), with the chain of segments being compiled."""

    now: datetime
    load_rules: object  # (segment id) -> rules dict or None
    chain: tuple = field(default=())


class Condition:
    type = ""
    label = ""
    params: tuple[Param, ...] = ()

    def clean(self, rule: dict) -> dict:
        known = {"type", *(p.name for p in self.params)}
        unknown = sorted(str(key) for key in rule if key not in known)
        if unknown:
            raise RuleError(_("unknown key “%(key)s”.") % {"key": unknown[0][:40]})
        return {p.name: p.clean(rule) for p in self.params}

    def title(self, rule: dict) -> str:
        return str(self.label)

    def compile(self, values: dict, ctx: Context) -> Q:
        raise NotImplementedError

    def describe(self) -> dict:
        return {
            "type": self.type,
            "label": str(self.label),
            "params": [p.describe() for p in self.params],
        }


def _choices(items):
    return lambda: [(key, label) for key, label in items]


def _stores():
    return list(Location.objects.order_by("code").values_list("code", "name"))


def _categories():
    return list(Category.objects.order_by("slug").values_list("slug", "name"))


class FieldCondition(Condition):
    """``{"type", "field", "op", "value"}`` on one of ``fields``."""

    fields: tuple[Field, ...] = ()

    def spec(self, name) -> Field:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise RuleError(_("unknown field “%(f)s”.") % {"f": str(name)[:40]})

    def clean(self, rule: dict) -> dict:
        unknown = sorted(str(k) for k in rule if k not in ("type", "field", "op", "value"))
        if unknown:
            raise RuleError(_("unknown key “%(key)s”.") % {"key": unknown[0][:40]})
        spec = self.spec(rule.get("field"))
        op = rule.get("op")
        if op not in field_rules.operators_of(spec):
            raise RuleError(
                _("unknown operator “%(op)s” for %(field)s.")
                % {"op": str(op)[:20], "field": spec.label}
            )
        return {
            "field": spec,
            "op": op,
            "value": field_rules.parse_value(spec, op, rule.get("value")),
        }

    def title(self, rule: dict) -> str:
        try:
            return f"{self.label} · {self.spec(rule.get('field')).label}"
        except RuleError:
            return str(self.label)

    def compile(self, values: dict, ctx: Context) -> Q:
        spec = values["field"]
        if spec.build is not None:
            return spec.build(values["op"], values["value"])
        return field_rules.field_q(spec, values["op"], values["value"], ctx.now)

    def describe(self) -> dict:
        return {
            **super().describe(),
            "fields": [field_rules.describe_field(f) for f in self.fields],
        }


class TraitCondition(FieldCondition):
    type = "trait"
    label = gettext_lazy("Trait")
    fields = (
        Field("recency_score", gettext_lazy("RFM recency (1–5)"), "int", "traits__recency_score", maximum=5),
        Field("frequency_score", gettext_lazy("RFM frequency (1–5)"), "int", "traits__frequency_score", maximum=5),
        Field("monetary_score", gettext_lazy("RFM monetary (1–5)"), "int", "traits__monetary_score", maximum=5),
        Field("revenue", gettext_lazy("Lifetime value"), "decimal", "traits__revenue"),
        Field("orders_count", gettext_lazy("Number of orders"), "int", "traits__orders_count"),
        Field("average_order_value", gettext_lazy("Average order value"), "decimal", "traits__average_order_value"),
        Field("first_order_at", gettext_lazy("First order"), "moment", "traits__first_order_at"),
        Field("last_order_at", gettext_lazy("Last order"), "moment", "traits__last_order_at"),
        Field("last_seen_at", gettext_lazy("Last seen"), "moment", "traits__last_seen_at"),
        Field("preferred_channel", gettext_lazy("Preferred channel"), "choice", "traits__preferred_channel", choices=_choices(Channel.choices)),
        Field("preferred_store", gettext_lazy("Preferred store"), "code", "traits__preferred_store", choices=_stores),
        Field("favourite_categories", gettext_lazy("Favourite categories"), "tags", "traits__favourite_categories", choices=_categories),
    )  # fmt: skip


def _has_identity(kind: str, op: str, value: bool) -> Q:
    exists = Exists(Identity.objects.filter(customer=OuterRef("pk"), kind=kind))
    return Q(exists) if value else ~Q(exists)


def _country(op: str, value) -> Q:
    countries = value if op == "in" else [value]
    if op == "is_set":
        q = Q(home_store__in=Location.objects.values("code"))
        return q if value else ~q
    q = Q(home_store__in=Location.objects.filter(country__in=countries).values("code"))
    return ~q if op == "!=" else q


class ProfileCondition(FieldCondition):
    type = "profile"
    label = gettext_lazy("Profile")
    fields = (
        Field("language", gettext_lazy("Language"), "choice", "preferred_language", choices=lambda: [(c, _(n)) for c, n in Customer._meta.get_field("preferred_language").choices], operators=("=", "!=", "in")),
        Field("country", gettext_lazy("Country (of the home store)"), "country", build=_country, operators=("=", "!=", "in", "is_set")),
        Field("home_store", gettext_lazy("Home store"), "code", "home_store", choices=_stores),
        Field("created_at", gettext_lazy("Customer since"), "moment", "created_at"),
        Field("birth_date", gettext_lazy("Birth date"), "day", "birth_date"),
        Field("has_email", gettext_lazy("Has an e-mail"), "bool", build=partial(_has_identity, IdentityKind.EMAIL)),
        Field("has_phone", gettext_lazy("Has a phone"), "bool", build=partial(_has_identity, IdentityKind.PHONE)),
        Field("is_anonymous", gettext_lazy("Anonymous (device only)"), "bool", "is_anonymous"),
    )  # fmt: skip


class ConsentCondition(Condition):
    type = "consent"
    label = gettext_lazy("Consent")
    params = (
        Param("channel", gettext_lazy("Channel"), "choice", partial(parse_choice, choices=ConsentChannel.choices), _choices(ConsentChannel.choices)),
        Param("purpose", gettext_lazy("Purpose"), "choice", partial(parse_choice, choices=ConsentPurpose.choices), _choices(ConsentPurpose.choices), default="marketing"),
        Param("granted", gettext_lazy("Granted now"), "bool", parse_bool, default=True),
    )  # fmt: skip

    def compile(self, values: dict, ctx: Context) -> Q:
        """Granted now: the latest evidence row for the channel × purpose says granted (the
        table is append-only; a later row, by time then id, overrides)."""
        scope = {"channel": values["channel"], "purpose": values["purpose"]}
        later = Consent.objects.filter(customer=OuterRef("customer"), **scope).filter(
            Q(created_at__gt=OuterRef("created_at"))
            | Q(created_at=OuterRef("created_at"), pk__gt=OuterRef("pk"))
        )
        current = Consent.objects.filter(
            customer=OuterRef("pk"), state=ConsentState.GRANTED, **scope
        ).filter(~Exists(later))
        return Q(Exists(current)) if values["granted"] else ~Q(Exists(current))


COUNT_OPS = ((">=", "≥"), ("<=", "≤"), ("=", "="))
UNITS = (("hours", gettext_lazy("hours")), ("days", gettext_lazy("days")))


class EventCondition(Condition):
    """``event`` happened ``count_op count`` times in the last ``within unit``; with
    ``none_since``: and no event of that type after the latest of them."""

    type = "event"
    label = gettext_lazy("Event in a time window")
    params = (
        Param("event", gettext_lazy("Event"), "choice", partial(parse_choice, choices=EventType.choices), _choices(EventType.choices)),
        Param("within", gettext_lazy("In the last"), "int", partial(parse_int, minimum=1, maximum=100_000), default=30),
        Param("unit", gettext_lazy("Unit"), "choice", partial(parse_choice, choices=UNITS), _choices(UNITS), default="days"),
        Param("count_op", gettext_lazy("Times"), "choice", partial(parse_choice, choices=COUNT_OPS), _choices(COUNT_OPS), default=">="),
        Param("count", gettext_lazy("Count"), "int", partial(parse_int, minimum=0, maximum=100_000), default=1),
        Param("none_since", gettext_lazy("And no … since"), "choice", partial(parse_choice, choices=EventType.choices), _choices(EventType.choices), required=False),
    )  # fmt: skip

    def title(self, rule: dict) -> str:
        labels = dict(EventType.choices)
        event = rule.get("event")
        known = type(event) is str and event in labels
        return f"{self.label} · {labels[event]}" if known else str(self.label)

    def compile(self, values: dict, ctx: Context) -> Q:
        since = ctx.now - timedelta(**{values["unit"]: values["within"]})
        events = Event.objects.filter(type=values["event"], occurred_at__gte=since)
        q = _count_q(events, values["count_op"], values["count"])
        if values["none_since"]:
            later = Event.objects.filter(
                customer=OuterRef("customer"),
                type=values["none_since"],
                occurred_at__gt=OuterRef("occurred_at"),
            )
            q &= Q(Exists(events.filter(customer=OuterRef("pk")).filter(~Exists(later))))
        return q


def _count_q(events, op: str, n: int) -> Q:
    """Customers with ``op n`` of these events: ``pk IN`` one grouped scan of the window."""

    def having(**lookup):
        grouped = events.order_by().values("customer").annotate(n=Count("pk"))
        return Q(pk__in=grouped.filter(**lookup).values("customer"))

    if op == ">=":
        return (
            Q() if n == 0 else Q(pk__in=events.values("customer")) if n == 1 else having(n__gte=n)
        )
    if op == "<=":
        return ~having(n__gt=n)
    return ~Q(pk__in=events.values("customer")) if n == 0 else having(n=n)


WHAT = (("category", gettext_lazy("Category")), ("product", gettext_lazy("Product")))


def _codes(value):
    return parse_list(value, parse_code)


def _window(values: dict, ctx: Context, prefix: str) -> Q:
    days = values.get("within_days")
    return Q(**{f"{prefix}created_at__gte": ctx.now - timedelta(days=days)}) if days else Q()


WITHIN_DAYS = Param("within_days", gettext_lazy("In the last … days (empty: ever)"), "int", partial(parse_int, minimum=1, maximum=36_500), required=False)  # fmt: skip


class PurchaseCondition(Condition):
    """Bought a product of these categories (or their subcategories) or these products."""

    type = "purchase"
    label = gettext_lazy("Purchased")
    params = (
        Param("what", gettext_lazy("What"), "choice", partial(parse_choice, choices=WHAT), _choices(WHAT), default="category"),
        Param("codes", gettext_lazy("Codes (slugs)"), "codes", _codes, help=gettext_lazy("Category or product codes, separated by commas.")),
        WITHIN_DAYS,
    )  # fmt: skip

    def compile(self, values: dict, ctx: Context) -> Q:
        codes = values["codes"]
        if values["what"] == "product":
            products = Q(variant__product__slug__in=codes)
        else:
            products = Q(variant__product__category__slug__in=codes) | Q(
                variant__product__category__parent__slug__in=codes
            )
        lines = OrderLine.objects.filter(products, _window(values, ctx, "order__")).exclude(
            order__status__in=NOT_PURCHASED
        )
        return Q(pk__in=lines.values("order__customer"))


class PurchaseChannelCondition(Condition):
    type = "purchase_channel"
    label = gettext_lazy("Bought through")
    params = (
        Param("channels", gettext_lazy("Channels"), "choices", lambda v: parse_list(v, partial(parse_choice, choices=[(c, c) for c in PURCHASE_CHANNELS])), _choices([(c, label) for c, label in Channel.choices if c in PURCHASE_CHANNELS])),
        WITHIN_DAYS,
    )  # fmt: skip

    def compile(self, values: dict, ctx: Context) -> Q:
        orders = Order.objects.filter(channel__in=values["channels"]).filter(
            _window(values, ctx, "")
        )
        return Q(pk__in=orders.exclude(status__in=NOT_PURCHASED).values("customer"))


WHICH = (
    ("home", gettext_lazy("Home store")),
    ("preferred", gettext_lazy("Preferred store")),
    ("either", gettext_lazy("Home or preferred store")),
)
STORE_PATHS = {"home": ("home_store",), "preferred": ("traits__preferred_store",)}
STORE_PATHS["either"] = STORE_PATHS["home"] + STORE_PATHS["preferred"]


def _store_q(which: str, codes) -> Q:
    q = Q()
    for path in STORE_PATHS[which]:
        q |= Q(**{f"{path}__in": codes})
    return q


class StoreCondition(Condition):
    type = "store"
    label = gettext_lazy("Store is one of")
    params = (
        Param("which", gettext_lazy("Which"), "choice", partial(parse_choice, choices=WHICH), _choices(WHICH), default="either"),
        Param("stores", gettext_lazy("Stores"), "choices", _codes, _stores),
    )  # fmt: skip

    def compile(self, values: dict, ctx: Context) -> Q:
        return _store_q(values["which"], values["stores"])


def _distance_km(lat, lon, lat0, lon0):
    """Great-circle distance (haversine) in km between two pairs of coordinate expressions."""
    lat, lon, lat0, lon0 = (Cast(e, FloatField()) for e in (lat, lon, lat0, lon0))
    half_dlat = Radians(lat - lat0) / 2
    half_dlon = Radians(lon - lon0) / 2
    a = Power(Sin(half_dlat), 2) + Cos(Radians(lat)) * Cos(Radians(lat0)) * Power(Sin(half_dlon), 2)
    return 2 * EARTH_RADIUS_KM * ASin(Sqrt(a))


class DistanceCondition(Condition):
    """The customer's home (or preferred) store lies within ``km`` of ``store``. Customers have
    no coordinates of their own: their store's stand for where they live. Stores without
    coordinates are never near."""

    type = "distance"
    label = gettext_lazy("Near a store")
    params = (
        Param("store", gettext_lazy("Store"), "choice", parse_code, _stores),
        Param("km", gettext_lazy("Within (km)"), "decimal", parse_decimal),
        Param("which", gettext_lazy("Measured from"), "choice", partial(parse_choice, choices=WHICH), _choices(WHICH), default="either"),
    )  # fmt: skip

    def compile(self, values: dict, ctx: Context) -> Q:
        target = Location.objects.filter(code=values["store"]).order_by()
        lat0 = Subquery(target.values("latitude")[:1])
        lon0 = Subquery(target.values("longitude")[:1])
        near = (
            Location.objects.filter(latitude__isnull=False, longitude__isnull=False)
            .annotate(km=_distance_km(F("latitude"), F("longitude"), lat0, lon0))
            .filter(km__lte=float(values["km"]))
        )
        return _store_q(values["which"], near.values("code"))


def _segments():
    return list(Segment.objects.order_by("name", "pk").values_list("pk", "name"))


class MembershipCondition(Condition):
    type = "segment"
    label = gettext_lazy("Member of segment")
    params = (
        Param(
            "segment",
            gettext_lazy("Segment"),
            "segment",
            partial(parse_int, minimum=1, maximum=2**62),
            _segments,
        ),
        Param("member", gettext_lazy("Is a member"), "bool", parse_bool, default=True),
    )

    def compile(self, values: dict, ctx: Context) -> Q:
        from campaigns.segments.tree import compile_tree  # the tree compiles conditions

        pk = values["segment"]
        if pk in ctx.chain:
            raise RuleError(_("segment #%(pk)s would contain itself.") % {"pk": pk})
        if len(ctx.chain) >= MAX_CHAIN:
            raise RuleError(_("segments nest in each other too deeply."))
        rules = ctx.load_rules(pk)
        if rules is None:
            raise RuleError(_("there is no segment #%(pk)s.") % {"pk": pk})
        try:
            inner = compile_tree(rules, Context(ctx.now, ctx.load_rules, (*ctx.chain, pk)))
        except InvalidSegment as exc:
            raise RuleError(
                _("segment #%(pk)s: %(problem)s") % {"pk": pk, "problem": exc.message}
            ) from None
        q = Q(pk__in=Customer.objects.filter(inner).values("pk"))
        return q if values["member"] else ~q


CONDITIONS: dict[str, Condition] = {
    c.type: c
    for c in (
        TraitCondition(),
        ProfileCondition(),
        ConsentCondition(),
        EventCondition(),
        PurchaseCondition(),
        PurchaseChannelCondition(),
        StoreCondition(),
        DistanceCondition(),
        MembershipCondition(),
    )
}
