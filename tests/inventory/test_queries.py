"""inventory.queries: each fast function against its ORM reference twin."""

import itertools
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext

from inventory import queries
from inventory.models import Reservation, StockLevel
from tests.factories import LocationFactory, VariantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]


def _shape(found):
    return {
        pk: (v.sku, v.price, v.product.pk, v.product.name, v.product.category.pk)
        for pk, v in found.items()
    }


def test_variants_for_checkout_loads_product_and_category(django_assert_num_queries):
    a, b = VariantFactory(), VariantFactory()
    with django_assert_num_queries(1 if not queries.fast_sql.enabled() else 0):
        found = queries.variants_for_checkout([b.pk, a.pk, 10**9])
        assert [v.product.category.name for v in found.values()]
    assert list(found) == [a.pk, b.pk]
    assert found[a.pk].product.category == a.product.category


def test_variants_for_checkout_twins_agree(settings):
    ids = [VariantFactory().pk for _ in range(3)]
    settings.OMNI_FAST_SQL = True
    fast = _shape(queries.variants_for_checkout(ids))
    settings.OMNI_FAST_SQL = False
    assert _shape(queries.variants_for_checkout(ids)) == fast
    assert queries.variants_for_checkout([]) == {}


# --- Holding stock: reserve_one and reserve_batch -------------------------------------------------

EXPIRES = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def shelves():
    """Three locations (selling online, counter only, closed) × two variants, each stock row
    with 5 on hand, 2 reserved and a safety stock of 2: 1 unit sellable online, 3 at the
    counter. The second variant has no row at the closed location."""
    online = LocationFactory(code="online")
    counter_only = LocationFactory(code="counter-only", sells_online=False)
    closed = LocationFactory(code="closed", active=False)
    v1, v2 = VariantFactory(), VariantFactory()
    for location, variant in itertools.product([online, counter_only, closed], [v1, v2]):
        if (location, variant) != (closed, v2):
            StockLevel.objects.create(
                variant=variant, location=location, on_hand=5, reserved=2, safety_stock=2
            )
    return {"online": online, "counter": counter_only, "closed": closed, "v1": v1, "v2": v2}


HOLD_FIELDS = ("variant_id", "location_id", "quantity", "status", "owner", "channel", "expires_at")
STORED_FIELDS = (*HOLD_FIELDS, "created_at", "closed_at")


def _state(stamps: dict) -> tuple:
    """The stock rows and the holds, without what differs between two runs (ids, clocks): of
    ``updated_at`` only whether it moved since ``stamps`` (each path stamps the rows it changes
    with its own statement's time)."""
    levels = tuple(
        (pk, on_hand, reserved, updated_at > stamps[pk])
        for pk, on_hand, reserved, updated_at in StockLevel.objects.order_by("pk").values_list(
            "pk", "on_hand", "reserved", "updated_at"
        )
    )
    holds = tuple(
        Reservation.objects.order_by("location_id", "variant_id").values_list(*HOLD_FIELDS)
    )
    return levels, holds


def _holds(result):
    """A function's answer as comparable data; each returned hold must be the row written."""
    if result is None:
        return None
    for hold in result:
        stored = Reservation.objects.get(pk=hold.pk)
        assert [getattr(stored, f) for f in STORED_FIELDS] == [
            getattr(hold, f) for f in STORED_FIELDS
        ]
    return [tuple(getattr(hold, f) for f in HOLD_FIELDS) for hold in result]


def _both_ways(settings, call):
    """``call()`` on the SQL path, then on the ORM twin from the same database state: the state
    before, then the two (answer, state after) pairs."""
    stamps = dict(StockLevel.objects.values_list("pk", "updated_at"))
    outcomes = []
    for fast in (True, False):
        settings.OMNI_FAST_SQL = fast
        with transaction.atomic():
            outcomes.append((_holds(call()), _state(stamps)))
            transaction.set_rollback(True)
    return _state(stamps), *outcomes


ONE_LINE_CASES = [
    # (location, variant, units, counter, held?)
    ("online", "v1", 1, False, True),
    ("online", "v1", 2, False, False),  # the safety stock is not for remote channels
    ("online", "v1", 3, True, True),  # the counter takes it
    ("online", "v1", 4, True, False),
    ("counter", "v1", 1, False, False),  # does not sell online
    ("counter", "v1", 3, True, True),
    ("closed", "v1", 1, True, False),  # inactive: no channel
    ("closed", "v2", 1, True, False),  # no stock row
]


@pytest.mark.parametrize(("where", "which", "units", "counter", "held"), ONE_LINE_CASES)
def test_reserve_one_twins_agree(settings, shelves, where, which, units, counter, held):
    def call():
        hold = queries.reserve_one(
            location_id=shelves[where].pk,
            variant_id=shelves[which].pk,
            quantity=units,
            owner="cart:7",
            channel="counter" if counter else "online",
            expires_at=EXPIRES,
            counter=counter,
        )
        return None if hold is None else [hold]

    before, (fast, fast_state), (orm, orm_state) = _both_ways(settings, call)

    assert fast == orm
    assert fast_state == orm_state
    assert (fast is not None) == held
    assert (fast_state == before) == (not held)  # refused: nothing written
    if held:
        assert fast == [
            (shelves[which].pk, shelves[where].pk, units, "active", "cart:7", fast[0][5], EXPIRES)
        ]
        level = StockLevel.objects.get(location=shelves[where], variant=shelves[which])
        assert (level.pk, 5, 2 + units, True) in fast_state[0]


BATCH_CASES = [
    # ({(location, variant): units}, counter, held?)
    ({("online", "v1"): 1, ("online", "v2"): 1}, False, True),
    ({("online", "v2"): 1, ("online", "v1"): 2}, False, False),  # one line short: none held
    ({("online", "v1"): 3, ("counter", "v2"): 3, ("counter", "v1"): 1}, True, True),
    ({("online", "v1"): 1, ("counter", "v1"): 1}, False, False),  # counter-only location
    ({("online", "v1"): 1, ("closed", "v2"): 1}, True, False),  # no row
    ({("online", "v1"): 1, ("closed", "v1"): 1}, True, False),  # inactive location
]


@pytest.mark.parametrize(("wanted", "counter", "held"), BATCH_CASES)
def test_reserve_batch_twins_agree(settings, shelves, wanted, counter, held):
    lines = {(shelves[loc].pk, shelves[var].pk): q for (loc, var), q in wanted.items()}

    def call():
        return queries.reserve_batch(
            lines=lines,
            owner="order:A1",
            channel="counter" if counter else "online",
            expires_at=None,
            counter=counter,
        )

    before, (fast, fast_state), (orm, orm_state) = _both_ways(settings, call)

    assert fast == orm
    assert fast_state == orm_state
    assert (fast is not None) == held
    assert (fast_state == before) == (not held)
    if held:  # in (location, variant) order, one hold per line
        assert [(loc, var, q) for var, loc, q, *_ in fast] == [
            (loc, var, q) for (loc, var), q in sorted(lines.items())
        ]


def test_reserve_batch_orm_twin_locks_in_location_variant_order(settings, shelves):
    """The twin takes the stock rows' locks as the statement does: one SELECT … FOR UPDATE of
    the stock rows in (location_id, variant_id) order, at the locations that may sell."""
    settings.OMNI_FAST_SQL = False
    lines = {
        (shelves["online"].pk, shelves["v2"].pk): 1,
        (shelves["online"].pk, shelves["v1"].pk): 1,
    }
    with CaptureQueriesContext(connection) as queries_run:
        assert queries.reserve_batch(
            lines=lines, owner="cart:9", channel="online", expires_at=None, counter=False
        )
    [locking] = [q["sql"] for q in queries_run.captured_queries if "FOR UPDATE" in q["sql"]]
    assert (
        'ORDER BY "inventory_stocklevel"."location_id" ASC, "inventory_stocklevel"."variant_id"'
        in locking
    )


# --- location_by_code ------------------------------------------------------------------------------


def test_location_by_code_twins_agree(settings):
    LocationFactory(code="sol", opening_hours={"mon": [["10:00", "14:00"]]})
    LocationFactory(code="old", active=False, latitude=None, longitude=None)
    answers = {}
    for fast in (True, False):
        settings.OMNI_FAST_SQL = fast
        answers[fast] = {
            code: None if (loc := queries.location_by_code(code)) is None else model_to_dict(loc)
            for code in ("sol", "old", "nowhere", "")
        }
    assert answers[True] == answers[False]
    assert answers[True]["nowhere"] is None
    assert answers[True]["old"]["active"] is False
    assert answers[True]["sol"]["opening_hours"] == {"mon": [["10:00", "14:00"]]}
