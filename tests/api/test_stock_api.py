"""Stock API: public availability and pickup finder; staff receipts and adjustments (idempotent)."""

import threading
import zoneinfo
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from inventory import services
from inventory.models import MovementKind, StockMovement, TransferRoute
from inventory.services import StockLine
from omni import roles
from omni.models import IdempotencyKey
from tests.factories import LocationFactory, UserFactory, VariantFactory
from tests.inventory.conftest import level_of, take_snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]

RECEIPTS = "/api/v1/stock/receipts/"
ADJUSTMENTS = "/api/v1/stock/adjustments/"
AVAILABILITY = "/api/v1/availability/"
PICKUP = "/api/v1/pickup-options/"
ORIGIN = (40.416775, -3.703790)  # Puerta del Sol
KM_PER_DEGREE_LAT = 111.1951


@pytest.fixture
def store(db):
    return LocationFactory(code="sol", name="Sol", is_pickup_point=True, sells_online=True)


@pytest.fixture
def other_store(db):
    return LocationFactory(code="gran-via", name="Gran Vía", is_pickup_point=True)


@pytest.fixture
def warehouse(db):
    return LocationFactory(code="wh-central", warehouse=True)


@pytest.fixture
def variant(db):
    return VariantFactory(sku="TEE-BLK-M")


@pytest.fixture
def clerk(store):
    return UserFactory(email="clerk@omni.example", role=roles.STORE_STAFF, locations=[store])


def receive(variant, location, quantity):
    services.receive_stock(variant=variant, location=location, quantity=quantity)
    return level_of(variant, location)


def error_of(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


def variant_url(pk):
    return f"/api/v1/variants/{pk}/availability/"


# --- Availability of one variant ---------------------------------------------------------------


def test_variant_availability_per_location_and_pooled(api, variant, store, other_store, warehouse):
    receive(variant, store, 10)
    services.set_stock_parameters(variant=variant, location=store, safety_stock=2)
    services.reserve(lines=[StockLine(variant.pk, store.pk, 3)], owner="cart:1")  # active
    receive(variant, warehouse, 20)
    services.reserve(  # expired: no longer counts although the beat task has not run
        lines=[StockLine(variant.pk, warehouse.pk, 4)],
        owner="cart:2",
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    receive(variant, other_store, 5)
    services.reserve(lines=[StockLine(variant.pk, other_store.pk, 1)], owner="cart:4")
    other_store.sells_online = False  # sells at the counter only: not pooled
    other_store.save()
    closed = LocationFactory(code="closed", active=False)
    receive(variant, closed, 50)

    response = api.get(variant_url(variant.pk))

    assert response.status_code == 200
    body = response.json()
    assert (body["variant"], body["sku"]) == (variant.pk, "TEE-BLK-M")
    rows = {row["location"]: row for row in body["locations"]}
    assert set(rows) == {"sol", "gran-via", "wh-central"}
    assert rows["sol"]["sellable"] == 5  # 10 − 3 reserved − 2 safety stock
    assert rows["wh-central"]["sellable"] == 20  # the expired hold gives its 4 back
    assert rows["gran-via"]["sellable"] == 4
    assert rows["gran-via"]["sells_online"] is False
    assert body["pooled"] == 25  # sol + warehouse; not gran-via (offline), not closed
    assert rows["sol"]["kind"] == "store" and rows["wh-central"]["kind"] == "warehouse"


def test_variant_availability_counts_in_transit_separately(api, variant, store, warehouse):
    receive(variant, warehouse, 10)
    transfer = services.create_transfer(source=warehouse, destination=store, lines={variant.pk: 4})
    services.ship_transfer(transfer=transfer)

    rows = {r["location"]: r for r in api.get(variant_url(variant.pk)).json()["locations"]}

    assert (rows["sol"]["sellable"], rows["sol"]["in_transit"]) == (0, 4)
    assert rows["wh-central"]["sellable"] == 6


def test_variant_availability_unknown_or_inactive_variant_is_404(api, variant):
    error = error_of(api.get(variant_url(variant.pk + 1000)), 404)
    assert error["code"] == "not_found"

    variant.active = False
    variant.save()
    assert error_of(api.get(variant_url(variant.pk)), 404)["code"] == "not_found"


# --- Pooled availability -----------------------------------------------------------------------


def test_pooled_availability_by_id_and_sku(api, variant, store, warehouse):
    other = VariantFactory(sku="TEE-BLK-L")
    nothing = VariantFactory(sku="TEE-BLK-S")
    receive(variant, store, 10)
    services.set_stock_parameters(variant=variant, location=store, safety_stock=1)
    services.reserve(lines=[StockLine(variant.pk, store.pk, 2)], owner="cart:1")
    receive(variant, warehouse, 3)
    offline = LocationFactory(code="outlet", sells_online=False)
    receive(variant, offline, 100)
    receive(other, warehouse, 6)

    response = api.get(AVAILABILITY, {"variant": [variant.pk, nothing.pk], "sku": ["TEE-BLK-L"]})

    assert response.status_code == 200
    got = {row["sku"]: (row["variant"], row["available"]) for row in response.json()}
    assert got == {
        "TEE-BLK-M": (variant.pk, 10),  # (10 − 2 − 1) + 3; the outlet does not sell online
        "TEE-BLK-L": (other.pk, 6),
        "TEE-BLK-S": (nothing.pk, 0),
    }


@pytest.mark.parametrize(
    "params, field",
    [
        ({}, "variant"),
        ({"variant": "abc"}, "variant"),
        ({"variant": ["1", "2.5"]}, "variant"),
        ({"variant": [str(i) for i in range(1, 52)]}, "variant"),  # 51
        ({"variant": [str(i) for i in range(1, 31)], "sku": [f"S{i}" for i in range(21)]}, None),
    ],
    ids=["none", "not-integer", "decimal", "51-ids", "51-mixed"],
)
def test_pooled_availability_bad_queries(api, params, field):
    error = error_of(api.get(AVAILABILITY, params), 400)

    assert error["code"] == "invalid"
    if field:
        assert field in error["fields"]


def test_pooled_availability_accepts_exactly_50(api, variant):
    ids = [variant.pk] + [variant.pk + 10_000 + i for i in range(49)]

    response = api.get(AVAILABILITY, {"variant": ids})

    assert response.status_code == 200
    assert response.json() == [{"variant": variant.pk, "sku": variant.sku, "available": 0}]


# --- Pickup finder -----------------------------------------------------------------------------


def pickup_store(code, km_north, **kwargs):
    lat = Decimal(str(round(ORIGIN[0] + km_north / KM_PER_DEGREE_LAT, 6)))
    kwargs.setdefault("is_pickup_point", True)
    kwargs.setdefault("opening_hours", {})  # always open: "today" does not depend on the clock
    return LocationFactory(
        code=code, name=code.title(), latitude=lat, longitude=Decimal(str(ORIGIN[1])), **kwargs
    )


def madrid_today():
    return timezone.localdate(timezone=zoneinfo.ZoneInfo("Europe/Madrid"))


@pytest.fixture
def finder(settings):
    settings.TRANSFER_DEFAULT_LEAD_DAYS = 2
    v1, v2 = VariantFactory(sku="P-1"), VariantFactory(sku="P-2")
    wh = LocationFactory(code="wh", warehouse=True, latitude=None, longitude=None)
    receive(v2, wh, 10)
    far = pickup_store("far", 3.0)  # every line
    receive(v1, far, 2)
    receive(v2, far, 2)
    near = pickup_store("near", 1.0)  # every line
    receive(v1, near, 1)
    receive(v2, near, 5)
    lacking = pickup_store("lacking", 2.0)  # v2 short: the warehouse sends it in 3 days
    receive(v1, lacking, 4)
    TransferRoute.objects.create(source=wh, destination=lacking, lead_time_days=3)
    hopeless = pickup_store("hopeless", 0.5)  # v1 short and no warehouse holds v1
    receive(v2, hopeless, 5)
    not_pickup = pickup_store("not-pickup", 0.2, is_pickup_point=False)
    receive(v1, not_pickup, 5)
    receive(v2, not_pickup, 5)
    return {"v1": v1, "v2": v2}


def pickup_body(**overrides):
    body = {
        "latitude": ORIGIN[0],
        "longitude": ORIGIN[1],
        "lines": [{"sku": "P-1", "quantity": 1}, {"sku": "P-2", "quantity": 2}],
    }
    body.update(overrides)
    return body


def test_pickup_options_nearest_first_then_via_transfer(api, finder):
    response = api.post(PICKUP, pickup_body(), format="json")

    assert response.status_code == 200
    options = response.json()
    assert [o["location"] for o in options] == ["near", "far", "lacking"]
    near, far, lacking = options
    assert near["distance_km"] == pytest.approx(1.0, abs=0.01)
    assert far["distance_km"] == pytest.approx(3.0, abs=0.01)
    assert lacking["distance_km"] == pytest.approx(2.0, abs=0.01)
    today = madrid_today()
    for option in (near, far):
        assert option["ready_today"] is True
        assert option["via_transfer"] is False
        assert option["ready_on"] == today.isoformat()
    assert lacking["via_transfer"] is True
    assert lacking["ready_today"] is False
    assert lacking["ready_on"] == (today + timedelta(days=3)).isoformat()  # route lead time


def test_pickup_options_merges_lines_and_respects_radius_and_limit(api, finder):
    # 2 + 1 of P-1 = 3: only "far" (2) is short now, "lacking" (4) still lacks P-2.
    lines = [{"sku": "P-1", "quantity": 2}, {"sku": "P-1", "quantity": 1}]

    options = api.post(PICKUP, pickup_body(lines=lines), format="json").json()
    assert [o["location"] for o in options] == ["lacking"]

    near_only = api.post(PICKUP, pickup_body(radius_km=1.5), format="json").json()
    assert [o["location"] for o in near_only] == ["near"]

    one = api.post(PICKUP, pickup_body(limit=1), format="json").json()
    assert [o["location"] for o in one] == ["near"]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"latitude": None}, "latitude"),
        ({"latitude": 200}, "latitude"),
        ({"longitude": -181}, "longitude"),
        ({"lines": []}, "lines"),
        ({"lines": [{"sku": "NO-SUCH", "quantity": 1}]}, "lines"),
        ({"lines": [{"sku": "P-1", "quantity": 0}]}, "lines"),
        ({"lines": [{"sku": "P-1", "quantity": -2}]}, "lines"),
        ({"lines": [{"sku": "P-1"}]}, "lines"),
        ({"radius_km": 0}, "radius_km"),
    ],
    ids=[
        "missing-latitude",
        "latitude-200",
        "longitude-181",
        "empty-lines",
        "unknown-sku",
        "quantity-0",
        "negative-quantity",
        "no-quantity",
        "radius-0",
    ],
)
def test_pickup_options_bad_input(api, finder, change, field):
    body = pickup_body(**change)
    body = {k: v for k, v in body.items() if v is not None}

    error = error_of(api.post(PICKUP, body, format="json"), 400)

    assert error["code"] == "invalid"
    assert field in error["fields"]


# --- Receipts and adjustments: who may write -----------------------------------------------------


def receipt(**overrides):
    body = {"location": "sol", "sku": "TEE-BLK-M", "quantity": 5, "reference": "PO-1"}
    body.update(overrides)
    return body


def adjustment(**overrides):
    body = {"location": "sol", "sku": "TEE-BLK-M", "delta": -2, "reason": "Damaged in store"}
    body.update(overrides)
    return body


@pytest.mark.parametrize("url, body", [(RECEIPTS, receipt()), (ADJUSTMENTS, adjustment())])
def test_anonymous_cannot_write_stock(api, store, variant, url, body):
    before = take_snapshot()

    response = api.post(url, body, format="json")

    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] in ("not_authenticated", "permission_denied")
    assert take_snapshot() == before


@pytest.mark.parametrize("url, body", [(RECEIPTS, receipt()), (ADJUSTMENTS, adjustment())])
def test_marketer_cannot_write_stock(api, store, variant, url, body):
    api.force_authenticate(UserFactory(role=roles.MARKETER))
    before = take_snapshot()

    error = error_of(api.post(url, body, format="json"), 403)

    assert error["code"] == "permission_denied"
    assert take_snapshot() == before


@pytest.mark.parametrize(
    "url, body",
    [(RECEIPTS, receipt(location="gran-via")), (ADJUSTMENTS, adjustment(location="gran-via"))],
)
def test_store_staff_cannot_write_at_another_store(
    api, clerk, store, other_store, variant, url, body
):
    receive(variant, other_store, 10)
    api.force_authenticate(clerk)
    before = take_snapshot()

    error = error_of(api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1"), 403)

    assert error["code"] == "permission_denied"
    assert take_snapshot() == before
    assert IdempotencyKey.objects.count() == 0


# --- Receipts and adjustments: writes ------------------------------------------------------------


def test_receipt_writes_one_movement_and_returns_the_balance(api, clerk, store, variant):
    receive(variant, store, 3)
    api.force_authenticate(clerk)

    response = api.post(RECEIPTS, receipt(reason="Supplier delivery"), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "receipt"
    assert (body["sku"], body["location"]) == ("TEE-BLK-M", "sol")
    assert (body["delta"], body["balance"]) == (5, 8)
    assert (body["reference"], body["reason"]) == ("PO-1", "Supplier delivery")
    movement = StockMovement.objects.get(pk=body["id"])
    assert movement.acting_user == clerk
    assert level_of(variant, store).on_hand == 8


def test_adjustment_writes_one_movement_and_returns_the_balance(api, clerk, store, variant):
    receive(variant, store, 10)
    api.force_authenticate(clerk)

    response = api.post(ADJUSTMENTS, adjustment(kind="write_off", delta=-4), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["delta"], body["balance"]) == ("write_off", -4, 6)
    assert body["reason"] == "Damaged in store"
    assert StockMovement.objects.get(pk=body["id"]).acting_user == clerk
    assert level_of(variant, store).on_hand == 6


@pytest.mark.parametrize("role", [roles.STORE_MANAGER, roles.BACKOFFICE_ADMIN])
def test_managers_write_at_any_location(api, role, store, other_store, variant):
    api.force_authenticate(UserFactory(role=role))

    response = api.post(RECEIPTS, receipt(location="gran-via"), format="json")

    assert response.status_code == 201
    assert level_of(variant, other_store).on_hand == 5


@pytest.mark.parametrize(
    "url, body",
    [(RECEIPTS, receipt()), (ADJUSTMENTS, adjustment(delta=3, kind="return"))],
    ids=["receipt", "adjustment"],
)
def test_retry_with_the_same_key_replays_and_writes_once(api, clerk, store, variant, url, body):
    receive(variant, store, 10)
    api.force_authenticate(clerk)
    movements = StockMovement.objects.count()

    first = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="till-7-0001")
    second = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="till-7-0001")

    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert StockMovement.objects.count() == movements + 1
    assert level_of(variant, store).on_hand == 10 + first.json()["delta"]

    # A new key is a new write.
    third = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="till-7-0002")
    assert third.status_code == 201
    assert third.json()["id"] != first.json()["id"]
    assert StockMovement.objects.count() == movements + 2


def test_same_key_with_a_different_body_is_422(api, clerk, store, variant):
    api.force_authenticate(clerk)
    assert api.post(RECEIPTS, receipt(), format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    before = take_snapshot()

    response = api.post(RECEIPTS, receipt(quantity=6), format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert error_of(response, 422)["code"] == "idempotency_key_reused"
    assert take_snapshot() == before
    assert level_of(variant, store).on_hand == 5


def test_keys_are_per_user(api, clerk, store, variant):
    colleague = UserFactory(role=roles.STORE_STAFF, locations=[store])
    api.force_authenticate(clerk)
    first = api.post(RECEIPTS, receipt(), format="json", HTTP_IDEMPOTENCY_KEY="shared")
    api.force_authenticate(colleague)
    second = api.post(RECEIPTS, receipt(), format="json", HTTP_IDEMPOTENCY_KEY="shared")

    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second
    assert level_of(variant, store).on_hand == 10


@pytest.mark.parametrize(
    "key", ["x" * 300, "   ", "bad\nkey"], ids=["300-chars", "blank", "newline"]
)
def test_bad_idempotency_key_is_400_and_writes_nothing(api, clerk, store, variant, key):
    api.force_authenticate(clerk)
    before = take_snapshot()

    response = api.post(RECEIPTS, receipt(), format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert error_of(response, 400)["code"] == "invalid_idempotency_key"
    assert take_snapshot() == before
    assert IdempotencyKey.objects.count() == 0


@pytest.mark.parametrize(
    "url, body, field",
    [
        (RECEIPTS, receipt(quantity=0), "quantity"),
        (RECEIPTS, receipt(quantity=-3), "quantity"),
        (RECEIPTS, receipt(quantity=1.5), "quantity"),
        (RECEIPTS, receipt(quantity="many"), "quantity"),
        (RECEIPTS, receipt(sku="NO-SUCH-SKU"), "sku"),
        (RECEIPTS, receipt(location="nowhere"), "location"),
        (ADJUSTMENTS, adjustment(delta=0), "delta"),
        (ADJUSTMENTS, adjustment(sku="NO-SUCH-SKU"), "sku"),
        (ADJUSTMENTS, adjustment(location="nowhere"), "location"),
        (ADJUSTMENTS, adjustment(reason=""), "reason"),
        (ADJUSTMENTS, adjustment(kind="count"), "kind"),
    ],
    ids=[
        "receipt-qty-0",
        "receipt-qty-negative",
        "receipt-qty-fraction",
        "receipt-qty-text",
        "receipt-unknown-sku",
        "receipt-unknown-location",
        "adjust-delta-0",
        "adjust-unknown-sku",
        "adjust-unknown-location",
        "adjust-no-reason",
        "adjust-kind-count",
    ],
)
def test_bad_write_is_400_and_writes_nothing(api, clerk, store, variant, url, body, field):
    receive(variant, store, 10)
    api.force_authenticate(clerk)
    before = take_snapshot()

    response = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="bad-1")

    error = error_of(response, 400)
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert take_snapshot() == before
    assert IdempotencyKey.objects.count() == 0


@pytest.mark.parametrize(
    "body", [adjustment(kind="write_off", delta=3), adjustment(kind="return", delta=-3)]
)
def test_adjustment_sign_must_match_its_kind(api, clerk, store, variant, body):
    receive(variant, store, 10)
    api.force_authenticate(clerk)
    before = take_snapshot()

    error = error_of(api.post(ADJUSTMENTS, body, format="json"), 400)

    assert error["code"] == "invalid_quantity"
    assert take_snapshot() == before


def test_adjustment_below_reserved_is_409_and_writes_nothing(api, clerk, store, variant):
    receive(variant, store, 10)
    services.reserve(lines=[StockLine(variant.pk, store.pk, 6)], owner="order:1")
    api.force_authenticate(clerk)
    before = take_snapshot()

    response = api.post(
        ADJUSTMENTS, adjustment(delta=-5), format="json", HTTP_IDEMPOTENCY_KEY="adj-1"
    )

    error = error_of(response, 409)
    assert error["code"] == "insufficient_stock"
    assert take_snapshot() == before
    assert IdempotencyKey.objects.count() == 0  # a retry after the hold is gone may succeed
    services.release_owner(owner="order:1")
    retry = api.post(ADJUSTMENTS, adjustment(delta=-5), format="json", HTTP_IDEMPOTENCY_KEY="adj-1")
    assert retry.status_code == 201
    assert retry.json()["balance"] == 5


# --- Concurrent retries --------------------------------------------------------------------------


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_write_once(roles):  # roles: permissions exist
    store = LocationFactory(code="sol-race")
    variant = VariantFactory(sku="RACE-1")
    # Direct permission, not a role Group: flushes between transactional tests drop the Groups.
    user = UserFactory(is_staff=True, locations=[store])
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="inventory", codename="change_stocklevel")
    )
    body = {"location": store.code, "sku": variant.sku, "quantity": 3}
    count = 8
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(i):
        try:
            client = APIClient()
            client.force_authenticate(user)
            barrier.wait(timeout=30)
            response = client.post(RECEIPTS, body, format="json", HTTP_IDEMPOTENCY_KEY="race-key")
            results[i] = (
                response.status_code,
                response.json(),
                response.headers.get("Idempotent-Replayed"),
            )
        except Exception as exc:  # reported below
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads)

    assert all(isinstance(r, tuple) for r in results), results
    assert {status for status, _, _ in results} == {201}
    bodies = {r[1]["id"] for r in results}
    assert len(bodies) == 1
    assert sorted(r[2] or "" for r in results) == [""] + ["true"] * (count - 1)
    assert StockMovement.objects.filter(kind=MovementKind.RECEIPT).count() == 1
    assert level_of(variant, store).on_hand == 3
    assert IdempotencyKey.objects.count() == 1
