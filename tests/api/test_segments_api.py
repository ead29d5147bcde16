"""Segments API: list, detail, live count and preview of an unsaved tree, for holders of
campaigns.view_segment only; bad trees are a 400 with the API's error body, never a 500."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns import services
from customers.models import Customer, CustomerStatus, CustomerTraits
from omni import roles
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LOYAL = {"op": "all", "rules": [{"type": "trait", "field": "orders_count", "op": ">=", "value": 3}]}


@pytest.fixture
def marketer_api(api):
    api.force_authenticate(UserFactory(role=roles.MARKETER))
    return api


@pytest.fixture
def loyal(db):
    customers = []
    for n, status in ((5, CustomerStatus.LIVE), (3, CustomerStatus.LIVE), (9, CustomerStatus.MERGED), (1, CustomerStatus.LIVE)):  # fmt: skip
        customer = Customer.objects.create(first_name=f"C{n}", status=status)
        CustomerTraits.objects.create(customer=customer, orders_count=n)
        customers.append(customer)
    return services.save_segment(name="Loyal", rules=LOYAL, acting_user=None)


def test_list_detail_and_count(marketer_api, loyal):
    listing = marketer_api.get("/api/v1/segments/")
    assert listing.status_code == 200
    assert [s["name"] for s in listing.json()["results"]] == ["Loyal"]
    detail = marketer_api.get(f"/api/v1/segments/{loyal.pk}/").json()
    assert detail["rules"] == LOYAL and detail["id"] == loyal.pk
    count = marketer_api.get(f"/api/v1/segments/{loyal.pk}/count/")
    assert count.json() == {"id": loyal.pk, "count": 2}  # the merged profile is not counted


@pytest.mark.parametrize("pk", ["999999", "9" * 40])
def test_unknown_segment_is_404(marketer_api, pk):
    for url in (f"/api/v1/segments/{pk}/", f"/api/v1/segments/{pk}/count/"):
        response = marketer_api.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "segment_not_found"


def test_preview_counts_and_samples_an_unsaved_tree(marketer_api, loyal):
    response = marketer_api.post("/api/v1/segments/preview/", {"rules": LOYAL, "sample": 1})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert len(body["sample"]) == 1 and body["sample"][0]["name"] in ("C5", "C3")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rules": {"op": "all", "rules": [{"type": "trait", "field": "orders_count", "op": ">=", "value": "3"}]}}, "rules"),
        ({"rules": {"op": "all", "rules": [{"type": "consent", "channel": 5}]}}, "rules"),
        ({"rules": {"op": "all", "rules": [{"type": "nope"}]}}, "rules"),
        ({"rules": "everyone"}, "rules"),
        ({"rules": []}, "rules"),
        ({}, "rules"),
        ({"rules": LOYAL, "sample": 1000}, "sample"),
        ({"rules": LOYAL, "sample": "ten"}, "sample"),
    ],
)  # fmt: skip
def test_bad_trees_are_400_with_the_error_body(marketer_api, body, field):
    response = marketer_api.post("/api/v1/segments/preview/", body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert field in error["fields"] and error["message"]


def test_wrong_type_names_the_condition(marketer_api):
    rules = {"op": "any", "rules": [{"type": "consent", "channel": "email"}, {"type": "trait", "field": "revenue", "op": ">", "value": "lots"}]}  # fmt: skip
    error = marketer_api.post("/api/v1/segments/preview/", {"rules": rules}).json()["error"]
    assert error["code"] == "invalid_segment"
    assert error["message"].startswith("Condition 2 (Trait · Lifetime value): ")


def test_deep_nesting_is_refused(marketer_api):
    deep = {"type": "consent", "channel": "email"}
    for _ in range(8):
        deep = {"op": "all", "rules": [deep]}
    response = marketer_api.post("/api/v1/segments/preview/", {"rules": deep})
    assert response.status_code == 400
    assert "nest at most 5 deep" in response.json()["error"]["message"]
    for _ in range(100):  # past the parser's own bound
        deep = {"op": "all", "rules": [deep]}
    response = marketer_api.post("/api/v1/segments/preview/", {"rules": deep})
    assert response.status_code == 400


@pytest.mark.parametrize("text", ["mad\\u0000", "\\ud800"])
def test_nul_bytes_and_lone_surrogates_are_400(marketer_api, text):
    rules = '{"op": "all", "rules": [{"type": "store", "stores": ["TEXT"]}]}'.replace("TEXT", text)
    body = '{"rules": ' + rules + "}"
    response = marketer_api.post("/api/v1/segments/preview/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_a_form_body_is_refused(marketer_api):
    response = marketer_api.post(
        "/api/v1/segments/preview/", {"rules": json.dumps(LOYAL)}, format="multipart"
    )
    assert response.status_code == 415


@pytest.mark.parametrize("role", [None, roles.STORE_STAFF, roles.STORE_MANAGER])
def test_others_are_denied(api, loyal, role):
    if role is not None:
        api.force_authenticate(UserFactory(role=role))
    for response in (
        api.get("/api/v1/segments/"),
        api.get(f"/api/v1/segments/{loyal.pk}/"),
        api.get(f"/api/v1/segments/{loyal.pk}/count/"),
        api.post("/api/v1/segments/preview/", {"rules": LOYAL}),
    ):
        assert response.status_code in (401, 403)
        assert "error" in response.json()


# --- Fuzz: whatever tree a client posts, a 200 or a 400 in the error format ----------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["email", "orders_count", "revenue", "cart_updated", "2026-01-01", "mad", ">=", "between", "in", "is_set"]),
)  # fmt: skip
KEYS = st.sampled_from(
    ["type", "field", "op", "value", "rules", "channel", "event", "within", "unit", "count",
     "count_op", "none_since", "codes", "stores", "store", "km", "segment", "which", "what"]
)  # fmt: skip
TYPES = st.sampled_from(
    ["trait", "profile", "consent", "event", "purchase", "purchase_channel", "store", "distance", "segment"]
)  # fmt: skip
CONDITION = st.fixed_dictionaries(
    {"type": TYPES}, optional={"field": st.sampled_from(["orders_count", "revenue", "last_order_at", "language", "country", "has_email", "favourite_categories"]), "op": st.sampled_from(["=", "!=", "<", ">=", "between", "in", "is_set", "in_last_days", "x"])}
).flatmap(
    lambda base: st.dictionaries(KEYS, st.one_of(SCALARS, st.lists(SCALARS, max_size=3)), max_size=4).map(lambda extra: {**extra, **base})
)  # fmt: skip
TREES = st.recursive(
    CONDITION,
    lambda children: st.fixed_dictionaries(
        {"op": st.sampled_from(["all", "any", "none"]), "rules": st.lists(children, max_size=4)}
    ),
    max_leaves=12,
)


@FUZZ
@given(rules=st.one_of(TREES, SCALARS, st.lists(SCALARS, max_size=3)))
def test_fuzzed_trees_never_fail_the_server(marketer_api, rules):
    response = marketer_api.post(
        "/api/v1/segments/preview/",
        json.dumps({"rules": rules}, ensure_ascii=True),
        content_type="application/json",
    )
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert response.json()["error"]["message"]
