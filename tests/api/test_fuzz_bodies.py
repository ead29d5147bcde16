"""Must show: whatever JSON a client posts to the storefront and event endpoints — nested, huge,
with NUL or lone surrogates, wrong types, random keys — the answer is never a 5xx, every 4xx is
in the API's error format, and a refused request writes nothing.

Bodies are encoded here with ``json.dumps(..., ensure_ascii=True)``, so NUL and lone surrogates
travel as ``\\u0000`` / ``\\ud800`` escapes, as a client would send them.
"""

import json
from decimal import Decimal

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.models import Customer, Event, Identity
from omni.models import IdempotencyKey
from orders.models import Cart, CartLine, Coupon, Order, Promotion, PromotionKind

pytestmark = pytest.mark.django_db

CARTS = "/api/v1/carts/"
LINES = "/api/v1/carts/current/lines/"
COUPON = "/api/v1/coupons/check/"
CHECKOUT = "/api/v1/checkout/"
EVENTS = "/api/v1/events/"

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the shop and the cart are shared on purpose
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# --- Strategies --------------------------------------------------------------------------------

SPECIAL = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfff",
    "\ud83d\ude00",  # a valid pair: fine
    "web",
    "store",
    "pickup",
    "ship",
    "mad",
    "wh",
    "SAVE10",
    "track",
    "page",
    "identify",
    "order_placed",
    "product_viewed",
    "g@example.com",
    "+34600111222",
    "2024-02-30T10:00:00Z",
    "2024-02-03T25:00:00+01:00",
    "2024-02-03T10:00:00+25:00",
    "2024-02-03T10:00:00",
    "2024-02-03T10:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-23:59",
    "NaN",
    "Infinity",
    "1e400",
    "9" * 5_000,
    "S" * 20_000,
]
texts = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(categories=["Cs", "Cc"]), max_size=4),  # surrogates, NUL, controls
    st.sampled_from(SPECIAL),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


def nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


raw_bodies = st.one_of(  # bytes: sent as they are
    st.integers(1, 3_000).map(lambda d: "[" * d + "]" * d),
    st.integers(1, 3_000).map(nested),
    st.sampled_from(["", "{", "nul", '{"a": NaN}', '{"a": 1}{', "\ufeff{}", '"\\ud800"']),
    st.sampled_from([1_000, 3_000_000]).map(lambda n: json.dumps({"x": "x" * n})),
).map(str.encode) | st.sampled_from([b"\xed\xa0\x80", b'{"a": "\xff"}', b"\x00"])


def mutated(valid: dict) -> st.SearchStrategy:
    """A valid body with a key or two given random values, maybe one dropped, maybe one added:
    many bodies get past the first check, so the fuzzing reaches the services."""
    keys = st.sampled_from(sorted(valid))
    return st.tuples(
        st.just({}) | st.dictionaries(keys, values, min_size=1, max_size=2),
        st.just(set()) | st.sets(keys, min_size=1, max_size=1),
        st.just({}) | st.dictionaries(texts, values, min_size=1, max_size=1),
    ).map(
        lambda t: {**t[2], **{k: v for k, v in valid.items() if k not in t[1]}, **t[0]},
    )


def bodies(valid: dict) -> st.SearchStrategy:
    return st.one_of(mutated(valid), mutated(valid), mutated(valid), values, raw_bodies)


ADDRESS = {"name": "Ana", "line1": "Calle 1", "postal_code": "28013", "city": "M", "country": "ES"}
CART = {"anonymous_id": "device-1", "channel": "web"}
LINE = {"sku": "SHIRT", "quantity": 1, "channel": "web"}
COUPON_CHECK = {"code": "SAVE10", "fulfilment": "pickup"}
PICKUP = {"fulfilment": "pickup", "location": "mad", "email": "g@example.com", "coupon": "SAVE10"}
SHIP = {
    "fulfilment": "ship",
    "shipping_address": ADDRESS,
    "phone": "+34600111222",
    "latitude": 40.4,
    "longitude": -3.7,
    "pay_at_pickup": False,
}
ADDRESSES = mutated(ADDRESS)
TRACK = {
    "type": "track",
    "event": "order_placed",
    "anonymous_id": "device-1",
    "channel": "web",
    "timestamp": "2024-02-03T10:00:00Z",
    "properties": {"total": "10.00", "store": "mad"},
    "traits": {"first_name": "Ana", "preferred_language": "es"},
}
TIMESTAMPS = [
    "2024-02-30T10:00:00Z",
    "2024-02-03T25:00:00+01:00",
    "2024-02-03T10:00:00+25:00",
    "2024-02-03T10:00:00+23:59",
    "2024-02-03T10:00:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-23:59",
    "2024-02-03",
    "10:00",
]
TOTALS = [
    "1e30",
    "-1e30",
    "1E+999999",
    "0.005",
    "-0",
    "NaN",
    "sNaN",
    "Infinity",
    10**30,
    1e308,
    True,
]
odd_tracks = st.tuples(mutated(TRACK), st.sampled_from(TIMESTAMPS), st.sampled_from(TOTALS)).map(
    lambda t: {**t[0], "timestamp": t[1], "properties": {"total": t[2]}}
)
EVENTS_BATCH = st.one_of(
    st.fixed_dictionaries(
        {
            "batch": st.lists(
                st.one_of(
                    mutated(TRACK),
                    odd_tracks,
                    mutated({**TRACK, "type": "identify", "message_id": "m-1", "push_token": "p"}),
                    mutated({"type": "page", "anonymous_id": "device-2", "properties": {}}),
                ),
                max_size=5,
            )
            | st.lists(values, max_size=3)
        }
    ),
    bodies({"batch": []}),
)
headers = st.one_of(st.none(), texts)

# --- Checks ------------------------------------------------------------------------------------


def written():
    return (
        Cart.objects.count(),
        CartLine.objects.count(),
        Order.objects.count(),
        IdempotencyKey.objects.count(),
        Customer.objects.count(),
        Identity.objects.count(),
        Event.objects.count(),
    )


def post(api, path, body, **headers):
    """Post ``body`` (raw bytes, or JSON encoded with escapes); assert a clean answer."""
    cache.clear()  # the throttles count requests in the cache
    text = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=True)
    before = written()
    response = api.post(path, text, content_type="application/json", **headers)
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"code", "message", "fields"}, error
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["fields"], dict)
        assert written() == before, "a refused request wrote something"
    return response


def with_headers(token, key=None) -> dict:
    found = {}
    if token is not None:
        found["HTTP_X_CART_TOKEN"] = token
    if key is not None:
        found["HTTP_IDEMPOTENCY_KEY"] = key
    return found


def new_cart(api, shop) -> str:
    """An anonymous cart with a shirt in it (its token)."""
    token = api.post(CARTS, CART, format="json").json()["token"]
    api.post(LINES, {"sku": shop.shirt.sku, "quantity": 1}, HTTP_X_CART_TOKEN=token)
    return token


@pytest.fixture
def cart(api, shop):
    Coupon.objects.create(
        promotion=Promotion.objects.create(
            name="10 %", kind=PromotionKind.PERCENTAGE, value=Decimal("10")
        ),
        code="SAVE10",
    )
    return new_cart(api, shop)


# --- Properties ---------------------------------------------------------------------------------


@FUZZ
@given(body=bodies(CART))
def test_cart_create_never_fails_badly(api, shop, body):
    post(api, CARTS, body)


@FUZZ
@given(body=bodies(LINE), token=headers, use_cart=st.booleans())
def test_cart_lines_never_fail_badly(api, shop, cart, body, token, use_cart):
    if isinstance(body, dict) and body.get("sku") == "SHIRT":
        body["sku"] = shop.shirt.sku
    post(api, LINES, body, **with_headers(cart if use_cart else token))


@FUZZ
@given(body=bodies(COUPON_CHECK), token=headers, use_cart=st.booleans())
def test_coupon_check_never_fails_badly(api, shop, cart, body, token, use_cart):
    post(api, COUPON, body, **with_headers(cart if use_cart else token))


CHECKOUTS = st.one_of(
    bodies(PICKUP),
    bodies(SHIP),
    ADDRESSES.map(lambda address: {**SHIP, "shipping_address": address}),
)


@FUZZ
@given(body=CHECKOUTS, token=headers, use_cart=st.booleans(), key=headers)
def test_checkout_never_fails_badly(api, shop, cart, body, token, use_cart, key):
    token = new_cart(api, shop) if use_cart else token  # a fresh cart: checkouts may succeed
    post(api, CHECKOUT, body, **with_headers(token, key))


@FUZZ
@given(body=EVENTS_BATCH)
def test_event_batch_never_fails_badly(api, body):
    response = post(api, EVENTS, body)
    if response.status_code == 200:
        for result in response.json():
            assert result["status"] in ("created", "duplicate", "identified", "error")
            if result["status"] == "error":
                assert set(result["error"]) == {"code", "message", "fields"}
