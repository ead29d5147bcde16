"""Each condition type compiled to SQL: who is in, who is out (positive and negative rows)."""

from datetime import timedelta
from decimal import Decimal

import pytest

from campaigns import selectors
from customers.models import ConsentState, CustomerStatus
from orders.models import OrderStatus
from tests.campaigns.conftest import ids
from tests.factories import LocationFactory

pytestmark = pytest.mark.django_db


def members(*rules, op="all", now=None):
    return ids(selectors.segment_queryset({"op": op, "rules": list(rules)}, now=now))


def trait(field, op, value):
    return {"type": "trait", "field": field, "op": op, "value": value}


def profile(field, op, value):
    return {"type": "profile", "field": field, "op": op, "value": value}


def test_empty_tree_is_every_live_customer_and_never_merged_or_erased(make_customer):
    live = make_customer()
    merged = make_customer(status=CustomerStatus.MERGED)
    erased = make_customer(status=CustomerStatus.ERASED)
    assert members() == {live.pk}
    assert merged.pk not in members(trait("orders_count", ">=", 0), op="any")
    assert erased.pk not in members(profile("is_anonymous", "=", True))


@pytest.mark.parametrize(
    ("rule", "inside"),
    [
        (trait("orders_count", ">=", 3), {"loyal"}),
        (trait("orders_count", "<", 3), {"new"}),
        (trait("orders_count", "=", 1), {"new"}),
        (trait("orders_count", "!=", 1), {"loyal", "none"}),
        (trait("orders_count", "between", [1, 4]), {"new", "loyal"}),
        (trait("orders_count", "in", [4, 7]), {"loyal"}),
        (trait("revenue", ">", "100.00"), {"loyal"}),
        (trait("revenue", "<=", 20), {"new"}),
        (trait("average_order_value", ">=", 25.5), {"loyal"}),
        (trait("recency_score", "=", 5), {"loyal"}),
        (trait("recency_score", "is_set", True), {"loyal", "new"}),
        (trait("recency_score", "is_set", False), {"none"}),
        (trait("preferred_channel", "=", "store"), {"loyal"}),
        (trait("preferred_channel", "in", ["web", "app"]), {"new"}),
        (trait("preferred_store", "is_set", True), {"loyal"}),
        (trait("preferred_store", "is_set", False), {"new", "none"}),
        (trait("favourite_categories", "in", ["shoes", "bags"]), {"loyal"}),
        (trait("favourite_categories", "is_set", True), {"loyal"}),
        (trait("last_order_at", "in_last_days", 30), {"loyal"}),
        (trait("last_order_at", "not_in_last_days", 30), {"new", "none"}),
        (trait("first_order_at", "<", "2025-01-01"), {"loyal"}),
        (trait("first_order_at", "between", ["2025-06-01", "2025-06-30"]), {"new"}),
        (trait("last_seen_at", "is_set", False), {"none"}),
    ],
)
def test_traits(make_customer, now, rule, inside):
    people = {
        "loyal": make_customer(
            traits={
                "orders_count": 4,
                "revenue": Decimal("400.00"),
                "average_order_value": Decimal("100.00"),
                "recency_score": 5,
                "frequency_score": 5,
                "monetary_score": 5,
                "first_order_at": now.replace(year=2024),
                "last_order_at": now - timedelta(days=2),
                "last_seen_at": now,
                "preferred_channel": "store",
                "preferred_store": "mad",
                "favourite_categories": ["shoes", "dresses"],
            }
        ),
        "new": make_customer(
            traits={
                "orders_count": 1,
                "revenue": Decimal("20.00"),
                "average_order_value": Decimal("20.00"),
                "recency_score": 2,
                "first_order_at": now.replace(year=2025, month=6, day=15),
                "last_order_at": now - timedelta(days=90),
                "last_seen_at": now,
                "preferred_channel": "web",
            }
        ),
        "none": make_customer(),  # no traits row at all
    }
    expected = {people[name].pk for name in inside}
    assert members(rule) == expected


def test_profile_fields(make_customer, now):
    LocationFactory(code="lis", country="PT")
    LocationFactory(code="mad", country="ES")
    es = make_customer(
        preferred_language="es", home_store="mad", email="a@x.es", is_anonymous=False
    )
    en = make_customer(preferred_language="en", home_store="lis", phone="+34600000000")
    bare = make_customer(preferred_language="en", birth_date="1990-05-01")
    assert members(profile("language", "=", "es")) == {es.pk}
    assert members(profile("language", "!=", "es")) == {en.pk, bare.pk}
    assert members(profile("country", "=", "pt")) == {en.pk}
    assert members(profile("country", "!=", "PT")) == {es.pk, bare.pk}
    assert members(profile("country", "is_set", False)) == {bare.pk}
    assert members(profile("home_store", "in", ["mad", "lis"])) == {es.pk, en.pk}
    assert members(profile("home_store", "is_set", False)) == {bare.pk}
    assert members(profile("has_email", "=", True)) == {es.pk}
    assert members(profile("has_phone", "=", False)) == {es.pk, bare.pk}
    assert members(profile("is_anonymous", "=", False)) == {es.pk}
    assert members(profile("birth_date", "<", "2000-01-01")) == {bare.pk}
    assert members(profile("created_at", "in_last_days", 1)) == {es.pk, en.pk, bare.pk}
    assert (
        members(profile("created_at", ">", (now + timedelta(days=2)).date().isoformat())) == set()
    )


def test_consent_latest_row_wins(make_customer, add_consent):
    granted = make_customer()
    add_consent(granted, "email", ConsentState.WITHDRAWN, ago=timedelta(days=9))
    add_consent(granted, "email", ConsentState.GRANTED, ago=timedelta(days=1))
    withdrawn = make_customer()
    add_consent(withdrawn, "email", ConsentState.GRANTED, ago=timedelta(days=9))
    add_consent(withdrawn, "email", ConsentState.WITHDRAWN, ago=timedelta(days=1))
    same_time = make_customer()  # same timestamp: the later row (by id) wins
    add_consent(same_time, "email", ConsentState.GRANTED, ago=timedelta(days=1))
    add_consent(same_time, "email", ConsentState.WITHDRAWN, ago=timedelta(days=1))
    pending = make_customer()
    add_consent(pending, "email", ConsentState.PENDING)
    sms_only = make_customer()
    add_consent(sms_only, "sms")
    other_purpose = make_customer()
    add_consent(other_purpose, "email", purpose="profiling")
    consent = {"type": "consent", "channel": "email"}
    assert members(consent) == {granted.pk}
    assert members({**consent, "granted": False}) == {
        withdrawn.pk,
        same_time.pk,
        pending.pk,
        sms_only.pk,
        other_purpose.pk,
    }
    assert members({**consent, "purpose": "profiling"}) == {other_purpose.pk}
    assert members({"type": "consent", "channel": "sms"}) == {sms_only.pk}


def test_events_in_window_with_counts(make_customer, add_event):
    twice = make_customer()
    add_event(twice, "page_viewed", ago=timedelta(hours=1))
    add_event(twice, "page_viewed", ago=timedelta(hours=5))
    once = make_customer()
    add_event(once, "page_viewed", ago=timedelta(hours=2))
    add_event(once, "page_viewed", ago=timedelta(days=3))  # outside a 24 h window
    never = make_customer()
    add_event(never, "cart_updated")
    viewed = {"type": "event", "event": "page_viewed", "within": 24, "unit": "hours"}
    assert members(viewed) == {twice.pk, once.pk}
    assert members({**viewed, "count": 2}) == {twice.pk}
    assert members({**viewed, "count_op": "=", "count": 1}) == {once.pk}
    assert members({**viewed, "count_op": "=", "count": 0}) == {never.pk}
    assert members({**viewed, "count_op": "<=", "count": 1}) == {once.pk, never.pk}
    assert members({**viewed, "within": 7, "unit": "days", "count": 2}) == {twice.pk, once.pk}
    assert members({**viewed, "count": 0}) == {twice.pk, once.pk, never.pk}


def test_cart_updated_and_no_order_since(make_customer, add_event):
    abandoned = make_customer()
    add_event(abandoned, "order_placed", ago=timedelta(hours=10))
    add_event(abandoned, "cart_updated", ago=timedelta(hours=3))
    bought = make_customer()
    add_event(bought, "cart_updated", ago=timedelta(hours=3))
    add_event(bought, "order_placed", ago=timedelta(hours=1))
    stale = make_customer()
    add_event(stale, "cart_updated", ago=timedelta(days=3))
    rule = {
        "type": "event",
        "event": "cart_updated",
        "within": 24,
        "unit": "hours",
        "none_since": "order_placed",
    }
    assert members(rule) == {abandoned.pk}


def test_purchases_of_a_category_or_product_in_a_window(make_customer, add_order, catalogue):
    boots = make_customer()
    add_order(boots, catalogue.boot, catalogue.store, ago=timedelta(days=5))
    old_boots = make_customer()
    add_order(old_boots, catalogue.boot, catalogue.store, ago=timedelta(days=400))
    cancelled = make_customer()
    add_order(cancelled, catalogue.boot, catalogue.store, status=OrderStatus.CANCELLED)
    shirt = make_customer()
    add_order(shirt, catalogue.shirt, catalogue.store)
    shoes = {"type": "purchase", "what": "category", "codes": ["shoes"]}  # boots' parent
    assert members(shoes) == {boots.pk, old_boots.pk}
    assert members({**shoes, "within_days": 30}) == {boots.pk}
    assert members({"type": "purchase", "what": "product", "codes": ["shirt-y"]}) == {shirt.pk}
    assert members({**shoes, "codes": ["nothing"]}) == set()


def test_purchase_channel(make_customer, add_order, catalogue):
    web = make_customer()
    add_order(web, catalogue.shirt, catalogue.store, channel="web")
    store = make_customer()
    add_order(store, catalogue.shirt, catalogue.store, channel="store", ago=timedelta(days=60))
    make_customer()
    rule = {"type": "purchase_channel", "channels": ["store", "marketplace"]}
    assert members(rule) == {store.pk}
    assert members({**rule, "within_days": 30}) == set()
    assert members({**rule, "channels": ["web", "store"]}) == {web.pk, store.pk}


def test_home_or_preferred_store(make_customer):
    home = make_customer(home_store="mad")
    preferred = make_customer(traits={"preferred_store": "mad"})
    elsewhere = make_customer(home_store="bcn", traits={"preferred_store": "bcn"})
    rule = {"type": "store", "stores": ["mad", "sev"]}
    assert members(rule) == {home.pk, preferred.pk}
    assert members({**rule, "which": "home"}) == {home.pk}
    assert members({**rule, "which": "preferred"}) == {preferred.pk}
    assert members({**rule, "stores": ["bcn"]}) == {elsewhere.pk}


def test_distance_to_a_store(make_customer):
    LocationFactory(code="sol", latitude=Decimal("40.4169"), longitude=Decimal("-3.7035"))
    LocationFactory(code="get", latitude=Decimal("40.3057"), longitude=Decimal("-3.7329"))
    LocationFactory(code="bcn", latitude=Decimal("41.3874"), longitude=Decimal("2.1686"))
    LocationFactory(code="nowhere", latitude=None, longitude=None)
    madrid = make_customer(home_store="sol")
    getafe = make_customer(traits={"preferred_store": "get"})  # ~12.6 km from Sol
    barcelona = make_customer(home_store="bcn")
    unknown = make_customer(home_store="nowhere")
    rule = {"type": "distance", "store": "sol", "km": 15}
    assert members(rule) == {madrid.pk, getafe.pk}
    assert members({**rule, "km": 10}) == {madrid.pk}
    assert members({**rule, "km": "600"}) == {madrid.pk, getafe.pk, barcelona.pk}
    assert unknown.pk not in members({**rule, "km": 20000})
    assert members({**rule, "store": "nowhere", "km": 20000}) == set()


def test_membership_of_another_segment(make_customer, make_segment):
    loyal = make_customer(traits={"orders_count": 5})
    make_customer(traits={"orders_count": 1})
    segment = make_segment({"op": "all", "rules": [trait("orders_count", ">=", 3)]})
    assert members({"type": "segment", "segment": segment.pk}) == {loyal.pk}
    everyone_else = members({"type": "segment", "segment": segment.pk, "member": False})
    assert loyal.pk not in everyone_else and len(everyone_else) == 1


def test_nesting_all_and_any(make_customer, add_consent):
    a = make_customer(preferred_language="es", traits={"orders_count": 5})
    b = make_customer(preferred_language="en", traits={"orders_count": 5})
    c = make_customer(preferred_language="en", traits={"orders_count": 0})
    add_consent(b, "sms")
    add_consent(c, "sms")
    tree = [
        trait("orders_count", ">=", 1),
        {
            "op": "any",
            "rules": [
                profile("language", "=", "es"),
                {"op": "all", "rules": [{"type": "consent", "channel": "sms"}]},
            ],
        },
    ]
    assert members(*tree) == {a.pk, b.pk}
    assert members(*tree, op="any") == {a.pk, b.pk, c.pk}
    assert members(profile("language", "=", "en"), {"type": "consent", "channel": "sms"}) == {
        b.pk,
        c.pk,
    }
    deepest = {"op": "any", "rules": [{"op": "all", "rules": tree}]}  # 5 levels with the top
    assert members(deepest) == {a.pk, b.pk}


def test_the_count_is_one_query_and_no_python_loop(
    make_customer, add_event, add_consent, django_assert_max_num_queries
):
    for n in range(5):
        customer = make_customer(traits={"orders_count": n})
        add_consent(customer, "email")
        add_event(customer, "cart_updated")
    rules = {
        "op": "all",
        "rules": [
            trait("orders_count", ">=", 2),
            {"type": "consent", "channel": "email"},
            {"type": "event", "event": "cart_updated", "within": 1, "unit": "days"},
            {
                "op": "any",
                "rules": [profile("has_email", "=", False), profile("language", "=", "es")],
            },
        ],
    }
    with django_assert_max_num_queries(1):
        assert selectors.count_segment(rules) == 3
    with django_assert_max_num_queries(1):
        assert len(selectors.sample_segment(rules, 2)) == 2
