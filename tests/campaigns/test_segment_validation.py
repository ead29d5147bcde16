"""A bad rule tree is refused with messages naming the condition by position and label; the
service writes nothing then. Memberships may not loop."""

import pytest

from campaigns import selectors, services
from campaigns.exceptions import InvalidSegment
from campaigns.models import Segment
from campaigns.segments import MAX_CONDITIONS, catalogue, validate_rules

pytestmark = pytest.mark.django_db


def problems(rules, **kwargs) -> list[str]:
    with pytest.raises(InvalidSegment) as caught:
        validate_rules(rules, **kwargs)
    return caught.value.fields["rules"]


def tree(*rules, op="all"):
    return {"op": op, "rules": list(rules)}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"type": "trait", "field": "orders_count", "op": ">=", "value": "three"}, "Condition 1 (Trait · Number of orders): needs a whole number"),
        ({"type": "trait", "field": "orders_count", "op": ">=", "value": True}, "needs a whole number"),
        ({"type": "trait", "field": "orders_count", "op": ">=", "value": 10**12}, "must be between 0 and"),
        ({"type": "trait", "field": "orders_count", "op": ">=", "value": -1}, "must be between 0 and"),
        ({"type": "trait", "field": "recency_score", "op": "=", "value": 6}, "must be between 0 and 5"),
        ({"type": "trait", "field": "revenue", "op": ">", "value": "1e999"}, "needs a number with up to 10 digits"),
        ({"type": "trait", "field": "revenue", "op": ">", "value": float("nan")}, "needs a number with up to 10 digits"),
        ({"type": "trait", "field": "revenue", "op": "between", "value": [10, 5]}, "smaller value first"),
        ({"type": "trait", "field": "revenue", "op": "between", "value": 5}, "needs two values"),
        ({"type": "trait", "field": "last_order_at", "op": "<", "value": "yesterday"}, "needs a date"),
        ({"type": "trait", "field": "last_order_at", "op": "<", "value": "0001-01-01"}, "between the years"),
        ({"type": "trait", "field": "last_order_at", "op": "in_last_days", "value": 0}, "must be between 1"),
        ({"type": "trait", "field": "last_order_at", "op": "=", "value": "2026-01-01"}, "unknown operator “=”"),
        ({"type": "trait", "field": "height", "op": "=", "value": 1}, "Condition 1 (Trait): unknown field “height”"),
        ({"type": "trait", "field": "orders_count", "op": "~", "value": 1}, "unknown operator “~”"),
        ({"type": "trait", "field": "orders_count", "op": "in", "value": []}, "needs a list of values"),
        ({"type": "trait", "field": "orders_count", "op": "in", "value": list(range(101))}, "at most 100 values"),
        ({"type": "trait", "field": "orders_count", "op": "is_set", "value": "yes"}, "needs yes or no"),
        ({"type": "trait", "field": "preferred_channel", "op": "=", "value": "fax"}, "must be one of"),
        ({"type": "trait", "field": "orders_count", "op": "=", "value": 1, "extra": 1}, "unknown key “extra”"),
        ({"type": "profile", "field": "language", "op": "=", "value": "klingon"}, "Condition 1 (Profile · Language): must be one of"),
        ({"type": "profile", "field": "country", "op": "=", "value": "ESP"}, "two-letter country code"),
        ({"type": "profile", "field": "home_store", "op": "=", "value": "mad\x00"}, "Null characters"),
        ({"type": "profile", "field": "home_store", "op": "=", "value": "\ud800"}, "Null characters"),
        ({"type": "consent", "channel": "telegram"}, "Condition 1 (Consent): Channel: must be one of"),
        ({"type": "consent"}, "“Channel” is missing"),
        ({"type": "consent", "channel": "email", "granted": "no"}, "needs yes or no"),
        ({"type": "event", "event": "cart_updated", "within": "24"}, "In the last: needs a whole number"),
        ({"type": "event", "event": "cart_updated", "unit": "weeks"}, "Unit: must be one of"),
        ({"type": "event", "event": "cart_updated", "count_op": ">"}, "Times: must be one of"),
        ({"type": "event", "event": "teleported"}, "Event: must be one of"),
        ({"type": "purchase", "codes": "shoes"}, "needs a list of values"),
        ({"type": "purchase", "codes": ["shoes; drop table"]}, "needs a code"),
        ({"type": "purchase_channel", "channels": ["fax"]}, "must be one of"),
        ({"type": "store", "stores": [1]}, "needs text"),
        ({"type": "distance", "store": "mad", "km": "far"}, "Within (km): needs a number"),
        ({"type": "segment", "segment": "7"}, "Segment: needs a whole number"),
        ({"type": "segment", "segment": 999999}, "there is no segment #999999"),
        ({"type": "lottery"}, "Condition 1: unknown condition type “lottery”"),
        ("orders_count > 3", "Condition 1: unknown condition type “orders_count > 3”"),
        (None, "unknown condition type nothing"),
    ],
)  # fmt: skip
def test_wrong_values_name_the_condition(rule, expected):
    messages = problems(tree(rule))
    assert len(messages) == 1
    assert expected in messages[0]


def test_positions_of_nested_conditions_and_every_problem_listed():
    rules = tree(
        {"type": "consent", "channel": "email"},
        tree(
            {"type": "trait", "field": "orders_count", "op": ">=", "value": 1},
            {"type": "trait", "field": "revenue", "op": ">=", "value": "lots"},
            op="any",
        ),
        {"type": "consent", "channel": "fax"},
    )
    messages = problems(rules)
    assert messages[0].startswith("Condition 2.2 (Trait · Lifetime value):")
    assert messages[1].startswith("Condition 3 (Consent):")


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([], "needs “op” and “rules”"),
        ({"op": "all"}, "needs “op” and “rules”"),
        ({"op": "most", "rules": []}, "“op” must be “all” or “any”"),
        ({"op": "all", "rules": {}}, "“op” must be “all” or “any” and “rules” a list"),
        ({"op": "all", "rules": [], "name": "x"}, "“op” must be “all” or “any”"),
        (tree(tree()), "Group 1: is empty"),
    ],
)
def test_bad_groups(rules, expected):
    assert expected in problems(rules)[0]


def test_depth_and_size_are_bounded():
    rule = {"type": "consent", "channel": "email"}
    deep = tree(rule)
    for _ in range(4):
        deep = tree(deep)
    validate_rules(deep)  # five levels
    assert "nest at most 5 deep" in problems(tree(deep))[0]
    very_deep = rule
    for _ in range(5000):  # no RecursionError: the walk stops at the bound
        very_deep = tree(very_deep)
    assert "nest at most 5 deep" in problems(very_deep)[0]
    validate_rules(tree(*[rule] * MAX_CONDITIONS))
    assert problems(tree(*[rule] * (MAX_CONDITIONS + 1))) == [
        f"A segment takes at most {MAX_CONDITIONS} conditions."
    ]


def test_errors_are_capped():
    assert len(problems(tree(*[{"type": "x"}] * 50))) == 20


def test_membership_cycles_are_refused(make_segment):
    a = make_segment(tree({"type": "consent", "channel": "email"}), name="A")
    b = make_segment(tree({"type": "segment", "segment": a.pk}), name="B")
    c = make_segment(tree({"type": "segment", "segment": b.pk}), name="C")
    # A may not name C (C → B → A), nor itself
    assert (
        "would contain this segment"
        in problems(tree({"type": "segment", "segment": c.pk}), segment_id=a.pk)[0]
    )
    assert (
        "would contain this segment"
        in problems(tree({"type": "segment", "segment": a.pk}), segment_id=a.pk)[0]
    )
    with pytest.raises(InvalidSegment):
        services.save_segment(
            segment=a, name="A", rules=tree({"type": "segment", "segment": c.pk}), acting_user=None
        )
    a.refresh_from_db()
    assert a.rules == tree({"type": "consent", "channel": "email"})
    # a loop written behind the validator's back is still refused when compiling
    Segment.objects.filter(pk=a.pk).update(rules=tree({"type": "segment", "segment": c.pk}))
    with pytest.raises(InvalidSegment, match="would contain itself"):
        selectors.count_saved_segment(c)


def test_save_segment_validates_and_records_who(marketer):
    rules = tree({"type": "consent", "channel": "sms"})
    segment = services.save_segment(name="  SMS  ", rules=rules, acting_user=marketer)
    assert (segment.name, segment.created_by, segment.updated_by) == ("SMS", marketer, marketer)
    with pytest.raises(InvalidSegment) as caught:
        services.save_segment(
            segment=segment, name="SMS", rules=tree({"type": "x"}), acting_user=None
        )
    assert caught.value.fields["rules"]
    for name in ("", "x" * 201, "a\x00b", 12):
        with pytest.raises(InvalidSegment) as caught:
            services.save_segment(name=name, rules=rules, acting_user=marketer)
        assert "name" in caught.value.fields
    assert Segment.objects.count() == 1


def test_catalogue_describes_every_condition_type():
    types = {entry["type"]: entry for entry in catalogue()}
    assert set(types) == {"trait", "profile", "consent", "event", "purchase", "purchase_channel", "store", "distance", "segment"}  # fmt: skip
    fields = {f["name"]: f for f in types["trait"]["fields"]}
    assert fields["orders_count"]["kind"] == "int"
    assert ["between", "between"] in fields["revenue"]["operators"]
    assert types["consent"]["params"][0]["choices"][0] == ["email", "E-mail"]
