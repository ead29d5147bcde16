"""The stock admin: scoping by role, filters, the change form, count import, replenishment,
transfers, the read-only ledger and reservations."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from inventory import services
from inventory.models import (
    MovementKind,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
    Transfer,
    TransferLine,
    TransferStatus,
)
from inventory.services import StockLine
from omni import roles
from tests.factories import LocationFactory, UserFactory, VariantFactory
from tests.inventory.conftest import level_of, movements_of

pytestmark = pytest.mark.django_db

STOCK = "/admin/inventory/stocklevel/"
IMPORT_COUNT = f"{STOCK}import-count/"
REPLENISHMENT = f"{STOCK}replenishment/"
LEDGER = "/admin/inventory/stockmovement/"
TRANSFERS = "/admin/inventory/transfer/"
RESERVATIONS = "/admin/inventory/reservation/"


# --- Users and helpers -------------------------------------------------------------------------


@pytest.fixture
def clerk(store):
    """Store staff working at ``store`` only."""
    return UserFactory(email="clerk.sol@omni.example", role=roles.STORE_STAFF, locations=[store])


@pytest.fixture
def manager(db):
    return UserFactory(email="manager@omni.example", role=roles.STORE_MANAGER)


@pytest.fixture
def backoffice(db):
    return UserFactory(email="backoffice@omni.example", role=roles.BACKOFFICE_ADMIN)


@pytest.fixture
def marketer(store):
    """A Marketer attached to ``store`` (a Marketer's scope is the locations they work at)."""
    return UserFactory(email="marketer@omni.example", role=roles.MARKETER, locations=[store])


def as_user(client, user):
    client.force_login(user)
    return client


def change_url(obj, base=STOCK):
    return f"{base}{obj.pk}/change/"


def listed(response):
    """Primary keys of the rows on a changelist page."""
    assert response.status_code == 200, response.content[:500]
    return {obj.pk for obj in response.context["cl"].result_list}


def message_texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def stock_form(level, **overrides):
    data = {
        "safety_stock": level.safety_stock,
        "min_qty": level.min_qty,
        "max_qty": level.max_qty,
        "adjust_by": "",
        "adjust_kind": "",
        "adjust_reason": "",
        "_save": "Save",
    }
    data.update(overrides)
    return data


def form_errors(response):
    assert response.status_code == 200, response.status_code
    return response.context["adminform"].form.errors


def csv_upload(text, name="count.csv"):
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


@pytest.fixture
def two_stores(stock, store, other_store, variant):
    """One stock row of ``variant`` at each store."""
    return stock(variant, store, 10), stock(variant, other_store, 4)


# --- Scoping by role ---------------------------------------------------------------------------


def test_store_staff_see_only_their_own_locations_stock(client, clerk, two_stores):
    mine, theirs = two_stores
    as_user(client, clerk)

    assert listed(client.get(STOCK)) == {mine.pk}
    assert client.get(change_url(mine)).status_code == 200

    response = client.get(change_url(theirs))
    assert response.status_code in (302, 404)
    if response.status_code == 302:
        assert response.url == "/admin/"  # "doesn't exist" redirect, not the change form

    # The location filter offers only their own locations.
    filters = client.get(STOCK).context["cl"].filter_specs
    location_filter = next(f for f in filters if f.parameter_name == "location")
    assert [value for value, _ in location_filter.lookup_choices] == [str(mine.location_id)]


def test_store_staff_cannot_change_another_stores_row(client, clerk, two_stores):
    _mine, theirs = two_stores
    as_user(client, clerk)

    response = client.post(change_url(theirs), stock_form(theirs, adjust_by=5, adjust_reason="x"))

    assert response.status_code in (302, 404)
    theirs.refresh_from_db()
    assert theirs.on_hand == 4
    assert len(movements_of(theirs.variant, theirs.location)) == 1  # just the receipt


@pytest.mark.parametrize("role_fixture", ["manager", "backoffice"])
def test_managers_and_backoffice_admins_see_every_location(
    request, client, role_fixture, two_stores
):
    user = request.getfixturevalue(role_fixture)
    as_user(client, user)

    assert listed(client.get(STOCK)) == {level.pk for level in two_stores}
    for level in two_stores:
        assert client.get(change_url(level)).status_code == 200


def test_marketer_can_view_stock_read_only(client, marketer, two_stores):
    mine, theirs = two_stores
    as_user(client, marketer)

    assert listed(client.get(STOCK)) == {mine.pk}
    page = client.get(change_url(mine))
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert 'name="adjust_by"' not in page.content.decode()  # no input on a read-only page
    assert client.get(change_url(theirs)).status_code in (302, 404)


def test_marketer_cannot_change_stock(client, marketer, two_stores, snapshot):
    level, _ = two_stores
    as_user(client, marketer)
    before = snapshot()

    response = client.post(
        change_url(level), stock_form(level, safety_stock=3, adjust_by=5, adjust_reason="x")
    )

    assert response.status_code == 403
    assert snapshot() == before


def test_marketer_cannot_reach_import_count_or_replenishment(client, marketer, store, variant):
    as_user(client, marketer)

    assert client.get(IMPORT_COUNT).status_code == 403
    upload = csv_upload(f"location,sku,counted\n{store.code},{variant.sku},5\n")
    assert client.post(IMPORT_COUNT, {"file": upload, "reference": "c"}).status_code == 403
    assert client.get(REPLENISHMENT).status_code == 403
    assert client.post(REPLENISHMENT).status_code == 403
    assert StockMovement.objects.count() == 0
    assert Transfer.objects.count() == 0


# --- Changelist filters and query count --------------------------------------------------------


@pytest.fixture
def filter_rows(stock, store, warehouse):
    """Stock rows in every state the status filter distinguishes."""
    rows = {}

    def make(name, on_hand=0, **params):
        variant = VariantFactory(sku=f"F-{name}")
        if on_hand:
            stock(variant, store, on_hand)
        services.set_stock_parameters(variant=variant, location=store, **params)
        rows[name] = variant
        return variant

    make("empty")  # on hand 0 → out
    all_held = make("all-held", 3)  # every unit reserved → out
    services.reserve(lines=[StockLine(all_held.pk, store.pk, 3)], owner="cart:1")
    expired = make("expired-hold", 3)  # the hold expired: the units are back, not out
    services.reserve(
        lines=[StockLine(expired.pk, store.pk, 3)],
        owner="cart:2",
        expires_at=timezone.now() - timedelta(minutes=5),
    )
    make("low", 2, safety_stock=2)  # 2 sellable at the counter, safety stock 2 → low
    make("plenty", 10, safety_stock=2, min_qty=2, max_qty=12)  # fine
    make("below-min", 1, min_qty=3, max_qty=8)  # below min
    incoming = make("incoming", 1, min_qty=3, max_qty=8)  # below min, but 3 are on the way
    stock(incoming, warehouse, 5)
    transfer = services.create_transfer(source=warehouse, destination=store, lines={incoming.pk: 3})
    services.ship_transfer(transfer=transfer)
    make("no-min", 1)  # no minimum set → never below min
    return {name: level_of(v, store).pk for name, v in rows.items()}


@pytest.mark.parametrize(
    "value, expected",
    [
        ("out", {"empty", "all-held"}),
        ("low", {"low"}),
        ("below_min", {"below-min"}),
    ],
)
def test_stock_status_filter(client, backoffice, filter_rows, value, expected):
    as_user(client, backoffice)

    response = client.get(STOCK, {"stock": value})

    assert listed(response) == {filter_rows[name] for name in expected}


def test_changelist_query_count_does_not_grow_with_rows(
    client, backoffice, store, other_store, stock, django_assert_max_num_queries
):
    as_user(client, backoffice)

    def add_rows(n):
        for _ in range(n):
            variant = VariantFactory()
            stock(variant, store if variant.pk % 2 else other_store, 3)

    add_rows(5)
    with django_assert_max_num_queries(10) as few:
        assert len(listed(client.get(STOCK))) == 5
    add_rows(45)
    with django_assert_max_num_queries(10) as many:
        assert len(listed(client.get(STOCK))) == 50

    assert len(many.captured_queries) == len(few.captured_queries)


# --- The change form ---------------------------------------------------------------------------


@pytest.fixture
def clerk_level(stock, variant, store):
    stock(variant, store, 10)
    services.reserve(lines=[StockLine(variant.pk, store.pk, 4)], owner="cart:9")
    return level_of(variant, store)


def test_change_form_sets_min_max_and_safety_stock(client, clerk, clerk_level):
    as_user(client, clerk)

    response = client.post(
        change_url(clerk_level), stock_form(clerk_level, safety_stock=2, min_qty=3, max_qty=12)
    )

    assert response.status_code == 302
    clerk_level.refresh_from_db()
    assert (clerk_level.safety_stock, clerk_level.min_qty, clerk_level.max_qty) == (2, 3, 12)
    assert clerk_level.on_hand == 10
    assert len(movements_of(clerk_level.variant, clerk_level.location)) == 1  # receipt only


def test_change_form_adjustment_writes_one_movement_by_the_staff_user(client, clerk, clerk_level):
    as_user(client, clerk)
    before = StockMovement.objects.count()

    response = client.post(
        change_url(clerk_level),
        stock_form(clerk_level, adjust_by=-3, adjust_kind="write_off", adjust_reason="Torn seam"),
    )

    assert response.status_code == 302
    assert StockMovement.objects.count() == before + 1
    movement = movements_of(clerk_level.variant, clerk_level.location)[-1]
    assert movement.kind == MovementKind.WRITE_OFF
    assert (movement.delta, movement.balance) == (-3, 7)
    assert movement.reason == "Torn seam"
    assert movement.acting_user == clerk
    clerk_level.refresh_from_db()
    assert (clerk_level.on_hand, clerk_level.reserved) == (7, 4)


def test_change_form_adjustment_defaults_to_kind_adjustment(client, clerk, clerk_level):
    as_user(client, clerk)

    response = client.post(
        change_url(clerk_level), stock_form(clerk_level, adjust_by=2, adjust_reason="Found")
    )

    assert response.status_code == 302
    movement = movements_of(clerk_level.variant, clerk_level.location)[-1]
    assert (movement.kind, movement.delta, movement.acting_user) == ("adjustment", 2, clerk)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"adjust_by": 5, "adjust_reason": ""}, "adjust_reason"),
        ({"adjust_by": 5, "adjust_reason": "   "}, "adjust_reason"),
        ({"min_qty": 9, "max_qty": 4}, "max_qty"),
        ({"adjust_by": -7, "adjust_reason": "Shrinkage"}, "adjust_by"),  # 10 − 7 < 4 reserved
        ({"adjust_by": 2, "adjust_kind": "write_off", "adjust_reason": "x"}, "adjust_by"),
        ({"safety_stock": -1}, "safety_stock"),
        ({"adjust_by": 3_000_000_000, "adjust_reason": "Typo"}, "adjust_by"),  # > int range
    ],
    ids=[
        "no-reason",
        "blank-reason",
        "min-above-max",
        "below-reserved",
        "positive-write-off",
        "negative-safety",
        "huge-adjustment",
    ],
)
def test_change_form_refuses_bad_input_and_writes_nothing(
    client, clerk, clerk_level, snapshot, overrides, field
):
    as_user(client, clerk)
    before = snapshot()

    response = client.post(change_url(clerk_level), stock_form(clerk_level, **overrides))

    assert field in form_errors(response)
    assert snapshot() == before


# --- Stock-count import ------------------------------------------------------------------------


@pytest.fixture
def count_setup(stock, store, other_store, variant, other_variant):
    stock(variant, store, 10)
    stock(other_variant, store, 2)
    stock(variant, other_store, 6)
    return store, variant, other_variant


def test_import_count_applies_count_movements_and_redirects(client, clerk, count_setup):
    store, variant, other_variant = count_setup
    as_user(client, clerk)
    text = (
        "Location,SKU,Counted\n"
        f"{store.code},{variant.sku},7\n"
        f"{store.code},{other_variant.sku},2\n"  # no variance → no movement
    )

    response = client.post(IMPORT_COUNT, {"file": csv_upload(text), "reference": "count-nov"})

    assert response.status_code == 302
    assert response.url == STOCK
    movement = movements_of(variant, store)[-1]
    assert movement.kind == MovementKind.COUNT
    assert (movement.delta, movement.balance, movement.reference) == (-3, 7, "count-nov")
    assert movement.acting_user == clerk
    assert level_of(variant, store).on_hand == 7
    assert len(movements_of(other_variant, store)) == 1
    assert StockMovement.objects.filter(kind=MovementKind.COUNT).count() == 1
    assert any("1 row(s) changed" in m for m in message_texts(response))


BAD_ROWS = {
    "unknown-sku": "{store},NO-SUCH-SKU,3",
    "unknown-location": "nowhere,{sku},3",
    "someone-elses-location": "{other},{sku},3",
    "non-numeric": "{store},{other_sku},three",
    "decimal": "{store},{other_sku},2.5",
    "negative": "{store},{other_sku},-1",
    "duplicate": "{store},{sku},8",  # the good first row names the same (location, sku)
    "too-large": "{store},{other_sku},3000000000",  # beyond the database integer range
}


@pytest.mark.parametrize("bad", list(BAD_ROWS), ids=list(BAD_ROWS))
def test_import_count_with_one_bad_row_applies_nothing(
    client, clerk, count_setup, other_store, snapshot, bad
):
    store, variant, other_variant = count_setup
    as_user(client, clerk)
    fmt = {"store": store.code, "other": other_store.code, "sku": variant.sku}
    fmt["other_sku"] = other_variant.sku
    text = (
        "location,sku,counted\n"
        f"{store.code},{variant.sku},1\n"  # line 2: good
        + BAD_ROWS[bad].format(**fmt)
        + "\n"  # line 3: bad
    )
    before = snapshot()

    response = client.post(IMPORT_COUNT, {"file": csv_upload(text), "reference": "c1"})

    assert response.status_code == 200
    assert [line for line, _ in response.context["report"]] == [3]
    assert response.context["form"].non_field_errors()
    content = response.content.decode()
    assert 'id="import-report"' in content
    assert "<td>3</td>" in content
    assert snapshot() == before
    assert level_of(variant, store).on_hand == 10  # the good row was not applied either


def test_import_count_reports_every_bad_line(client, clerk, count_setup, other_store, snapshot):
    store, variant, other_variant = count_setup
    services.reserve(lines=[StockLine(variant.pk, store.pk, 5)], owner="cart:1")
    as_user(client, clerk)
    text = (
        "location,sku,counted\n"
        f"{store.code},{other_variant.sku},1\n"  # 2 good
        f"{store.code},NOPE,1\n"  # 3 unknown sku
        f"{other_store.code},{variant.sku},1\n"  # 4 not theirs
        f"{store.code},{variant.sku},x\n"  # 5 not a number
        f"{store.code},{variant.sku},3\n"  # 6 below the 5 reserved
        f"{store.code},{other_variant.sku},1\n"  # 7 duplicate of line 2
    )
    before = snapshot()

    response = client.post(IMPORT_COUNT, {"file": csv_upload(text), "reference": "c2"})

    assert response.status_code == 200
    report = dict(response.context["report"])
    assert sorted(report) == [3, 4, 5, 6, 7]
    assert "NOPE" in str(report[3])
    assert other_store.code in str(report[4])
    assert "reserved" in str(report[6])
    assert snapshot() == before


def test_import_count_report_names_the_physical_line(client, clerk, count_setup, snapshot):
    """A blank line or a quoted field spanning lines must not shift the reported line numbers."""
    store, variant, other_variant = count_setup
    as_user(client, clerk)
    text = (
        "location,sku,counted\n"  # 1
        f"{store.code},{variant.sku},1\n"  # 2
        "\n"  # 3 (blank, skipped by the CSV reader)
        f"{store.code},NOPE,2\n"  # 4 bad
        f'{store.code},"{other_variant.sku}\nX",2\n'  # 5-6 bad: a quoted sku spanning 2 lines
        f"{store.code},ZZZ,2\n"  # 7 bad
    )
    before = snapshot()

    response = client.post(IMPORT_COUNT, {"file": csv_upload(text), "reference": "c4"})

    assert response.status_code == 200
    assert snapshot() == before
    lines = [line for line, _ in response.context["report"]]
    assert lines[0] == 4
    assert lines[-1] == 7


@pytest.mark.parametrize(
    "text",
    [
        "{store},{sku},3\n",  # no header row
        "where,what,how_many\n{store},{sku},3\n",  # wrong header
        "location,sku,counted\n",  # header only
    ],
    ids=["no-header", "wrong-header", "no-rows"],
)
def test_import_count_refuses_a_file_without_header_or_rows(
    client, clerk, count_setup, snapshot, text
):
    store, variant, _ = count_setup
    as_user(client, clerk)
    before = snapshot()

    upload = csv_upload(text.format(store=store.code, sku=variant.sku))
    response = client.post(IMPORT_COUNT, {"file": upload, "reference": "c3"})

    assert response.status_code == 200
    assert "file" in response.context["form"].errors
    assert snapshot() == before


# --- Replenishment -----------------------------------------------------------------------------


def test_replenishment_lists_the_plan_and_creates_draft_transfers_once(
    client, clerk, stock, store, other_store, warehouse, variant
):
    stock(variant, store, 1)
    services.set_stock_parameters(variant=variant, location=store, min_qty=3, max_qty=10)
    stock(variant, warehouse, 50)
    # Another store below its min: not the clerk's, so not in their plan.
    stock(variant, other_store, 1)
    services.set_stock_parameters(variant=variant, location=other_store, min_qty=5, max_qty=6)
    as_user(client, clerk)

    page = client.get(REPLENISHMENT)

    assert page.status_code == 200
    assert page.context["line_count"] == 1
    assert page.context["total_units"] == 9
    [(store_code, [line])] = page.context["by_store"]
    assert store_code == store.code
    assert (line.source_id, line.variant_id, line.quantity) == (warehouse.pk, variant.pk, 9)
    assert variant.sku in page.content.decode()

    response = client.post(REPLENISHMENT)

    assert response.status_code == 302
    assert response.url == TRANSFERS
    transfer = Transfer.objects.get()
    assert (transfer.source, transfer.destination, transfer.status) == (
        warehouse,
        store,
        TransferStatus.DRAFT,
    )
    assert transfer.created_by == clerk
    assert list(transfer.lines.values_list("variant_id", "quantity")) == [(variant.pk, 9)]

    # The draft counts as incoming: a second POST creates nothing more.
    again = client.post(REPLENISHMENT)
    assert again.status_code == 302
    assert Transfer.objects.count() == 1
    assert TransferLine.objects.count() == 1
    assert client.get(REPLENISHMENT).context["line_count"] == 0


# --- Transfers ---------------------------------------------------------------------------------


def transfer_add_form(source, destination, lines, reference="R-1"):
    data = {
        "source": source.pk,
        "destination": destination.pk,
        "reference": reference,
        "note": "",
        "lines-TOTAL_FORMS": str(len(lines)),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for i, (variant, quantity) in enumerate(lines):
        data[f"lines-{i}-variant"] = variant.pk
        data[f"lines-{i}-quantity"] = quantity
    return data


def test_transfer_create_ship_and_receive_short(
    client, backoffice, clerk, stock, store, warehouse, variant, other_variant, snapshot
):
    stock(variant, warehouse, 20)
    stock(other_variant, warehouse, 5)
    as_user(client, backoffice)

    # 1. A draft with two inline lines.
    response = client.post(
        f"{TRANSFERS}add/",
        transfer_add_form(warehouse, store, [(variant, 5), (other_variant, 2)]),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    transfer = Transfer.objects.get()
    assert (transfer.status, transfer.created_by) == (TransferStatus.DRAFT, backoffice)
    assert sorted(transfer.lines.values_list("variant_id", "quantity")) == sorted(
        [(variant.pk, 5), (other_variant.pk, 2)]
    )
    assert StockMovement.objects.filter(kind=MovementKind.TRANSFER_OUT).count() == 0

    # 2. Ship it with the changelist action.
    response = client.post(
        TRANSFERS, {"action": "ship_selected", "_selected_action": [transfer.pk], "index": 0}
    )
    assert response.status_code == 302
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.SHIPPED
    assert transfer.expected_on is not None
    out = StockMovement.objects.filter(kind=MovementKind.TRANSFER_OUT, location=warehouse)
    assert sorted(out.values_list("variant_id", "delta")) == sorted(
        [(variant.pk, -5), (other_variant.pk, -2)]
    )
    assert level_of(variant, warehouse).on_hand == 15
    arriving = level_of(variant, store)
    assert (arriving.on_hand, arriving.in_transit) == (0, 5)
    assert level_of(other_variant, store).in_transit == 2

    # 3. The store receives it, one unit of ``variant`` short.
    client.force_login(clerk)
    receive_url = f"{TRANSFERS}{transfer.pk}/receive/"
    assert client.get(receive_url).status_code == 200
    lines = {line.variant_id: line for line in transfer.lines.all()}
    response = client.post(
        receive_url,
        {f"line_{lines[variant.pk].pk}": 3, f"line_{lines[other_variant.pk].pk}": 2},
    )
    assert response.status_code == 302
    assert response.url == change_url(transfer, TRANSFERS)
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.PARTIALLY_RECEIVED
    level = level_of(variant, store)
    assert (level.on_hand, level.in_transit) == (3, 0)
    assert level_of(other_variant, store).on_hand == 2
    movement = movements_of(variant, store)[-1]
    assert (movement.kind, movement.delta, movement.acting_user) == ("transfer_in", 3, clerk)
    lines[variant.pk].refresh_from_db()
    assert lines[variant.pk].received_qty == 3

    # 4. The discrepancy shows on the change page.
    page = client.get(change_url(transfer, TRANSFERS))
    assert page.status_code == 200
    cells = re.findall(
        r'class="field-discrepancy_display">\s*<p>([^<]*)</p>', page.content.decode()
    )
    assert cells == ["-2", ""]  # lines in pk order: 3 of 5 received, 2 of 2 received

    # 5. Receiving again is refused with an error, nothing written.
    before = snapshot()
    response = client.post(
        receive_url,
        {f"line_{lines[variant.pk].pk}": 5, f"line_{lines[other_variant.pk].pk}": 2},
    )
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert errors and "only a shipped transfer can be received" in errors[0]
    assert snapshot() == before


@pytest.mark.parametrize("quantity", [-1, 3_000_000_000], ids=["negative", "beyond-int-range"])
def test_receive_view_refuses_an_impossible_quantity(
    client, backoffice, stock, store, warehouse, variant, snapshot, quantity
):
    stock(variant, warehouse, 5)
    transfer = services.create_transfer(source=warehouse, destination=store, lines={variant.pk: 5})
    services.ship_transfer(transfer=transfer)
    line = transfer.lines.get()
    as_user(client, backoffice)
    before = snapshot()

    response = client.post(f"{TRANSFERS}{transfer.pk}/receive/", {f"line_{line.pk}": quantity})

    assert response.status_code == 200
    assert f"line_{line.pk}" in response.context["form"].errors
    assert snapshot() == before


def test_ship_action_without_enough_stock_shows_an_error(
    client, backoffice, stock, store, warehouse, variant, snapshot
):
    stock(variant, warehouse, 2)
    transfer = services.create_transfer(source=warehouse, destination=store, lines={variant.pk: 5})
    as_user(client, backoffice)
    before = snapshot()

    response = client.post(
        TRANSFERS, {"action": "ship_selected", "_selected_action": [transfer.pk], "index": 0}
    )

    assert response.status_code == 302
    assert any(str(transfer) in m for m in message_texts(response))
    assert snapshot() == before


def test_store_staff_cannot_see_transfers_between_two_other_stores(
    client, clerk, stock, store, other_store, warehouse, variant
):
    third = LocationFactory(code="third")
    stock(variant, other_store, 5)
    stock(variant, warehouse, 5)
    foreign = services.create_transfer(source=other_store, destination=third, lines={variant.pk: 1})
    services.ship_transfer(transfer=foreign)
    own = services.create_transfer(source=warehouse, destination=store, lines={variant.pk: 1})
    as_user(client, clerk)

    assert listed(client.get(TRANSFERS)) == {own.pk}
    assert client.get(change_url(foreign, TRANSFERS)).status_code in (302, 404)
    assert client.get(f"{TRANSFERS}{foreign.pk}/receive/").status_code == 404
    assert client.post(f"{TRANSFERS}{foreign.pk}/receive/", {}).status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == TransferStatus.SHIPPED


def test_store_staff_cannot_ship_stock_out_of_another_store(
    client, clerk, stock, store, other_store, variant, snapshot
):
    """Store staff change only their own locations' stock: shipping writes the source's ledger."""
    stock(variant, other_store, 5)
    pull = services.create_transfer(source=other_store, destination=store, lines={variant.pk: 5})
    as_user(client, clerk)
    assert listed(client.get(TRANSFERS)) == {pull.pk}  # they may see it: it comes to them
    before = snapshot()

    response = client.post(
        TRANSFERS, {"action": "ship_selected", "_selected_action": [pull.pk], "index": 0}
    )

    assert response.status_code in (302, 403)
    assert snapshot() == before
    pull.refresh_from_db()
    assert pull.status == TransferStatus.DRAFT
    assert level_of(variant, other_store).on_hand == 5


def test_store_staff_cannot_receive_into_another_store(
    client, clerk, stock, store, other_store, variant, snapshot
):
    """The sending store's staff must not book the arrival at the other store."""
    stock(variant, store, 5)
    push = services.create_transfer(source=store, destination=other_store, lines={variant.pk: 5})
    services.ship_transfer(transfer=push)
    line = push.lines.get()
    as_user(client, clerk)
    before = snapshot()

    response = client.post(f"{TRANSFERS}{push.pk}/receive/", {f"line_{line.pk}": 5})
    client.post(
        TRANSFERS,
        {"action": "receive_selected_in_full", "_selected_action": [push.pk], "index": 0},
    )

    assert response.status_code in (403, 404)
    assert snapshot() == before
    push.refresh_from_db()
    assert push.status == TransferStatus.SHIPPED


# --- The ledger is read-only -------------------------------------------------------------------


def test_ledger_is_read_only(client, backoffice, stock, store, variant):
    stock(variant, store, 5)
    movement = StockMovement.objects.get()
    as_user(client, backoffice)

    changelist = client.get(LEDGER)
    assert listed(changelist) == {movement.pk}
    assert changelist.context["has_add_permission"] is False
    assert client.get(f"{LEDGER}add/").status_code == 403
    assert client.post(f"{LEDGER}add/", {"delta": 3}).status_code == 403

    page = client.get(change_url(movement, LEDGER))
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert page.context["has_delete_permission"] is False
    response = client.post(
        change_url(movement, LEDGER), {"delta": 99, "balance": 99, "kind": "receipt"}
    )
    assert response.status_code == 403

    assert client.get(f"{LEDGER}{movement.pk}/delete/").status_code == 403
    assert client.post(f"{LEDGER}{movement.pk}/delete/", {"post": "yes"}).status_code == 403
    ledger_admin = changelist.context["cl"].model_admin
    assert "delete_selected" not in ledger_admin.get_actions(changelist.wsgi_request)
    client.post(
        LEDGER, {"action": "delete_selected", "_selected_action": [movement.pk], "post": "yes"}
    )
    assert StockMovement.objects.filter(pk=movement.pk).exists()
    movement.refresh_from_db()
    assert (movement.delta, movement.balance) == (5, 5)


def test_store_staff_see_only_their_own_ledger(client, clerk, stock, store, other_store, variant):
    stock(variant, store, 5)
    stock(variant, other_store, 5)
    as_user(client, clerk)

    rows = listed(client.get(LEDGER))

    assert rows == set(StockMovement.objects.filter(location=store).values_list("pk", flat=True))
    assert len(rows) == 1


# --- Reservations ------------------------------------------------------------------------------


def test_release_selected_gives_units_back(client, manager, stock, store, variant):
    stock(variant, store, 5)
    [held] = services.reserve(lines=[StockLine(variant.pk, store.pk, 3)], owner="cart:7")
    [kept] = services.reserve(lines=[StockLine(variant.pk, store.pk, 1)], owner="cart:8")
    assert level_of(variant, store).reserved == 4
    as_user(client, manager)

    response = client.post(
        RESERVATIONS, {"action": "release_selected", "_selected_action": [held.pk], "index": 0}
    )

    assert response.status_code == 302
    held.refresh_from_db()
    kept.refresh_from_db()
    assert held.status == ReservationStatus.RELEASED
    assert held.closed_at is not None
    assert kept.status == ReservationStatus.ACTIVE
    level = level_of(variant, store)
    assert (level.on_hand, level.reserved) == (5, 1)
    assert any("1 reservation(s) released" in m for m in message_texts(response))

    # Releasing it again gives nothing more back.
    client.post(
        RESERVATIONS, {"action": "release_selected", "_selected_action": [held.pk], "index": 0}
    )
    assert level_of(variant, store).reserved == 1


def test_store_staff_cannot_release_reservations(client, clerk, stock, store, variant):
    stock(variant, store, 5)
    [held] = services.reserve(lines=[StockLine(variant.pk, store.pk, 3)], owner="cart:7")
    as_user(client, clerk)

    changelist = client.get(RESERVATIONS)
    assert listed(changelist) == {held.pk}
    client.post(
        RESERVATIONS, {"action": "release_selected", "_selected_action": [held.pk], "index": 0}
    )

    held.refresh_from_db()
    assert held.status == ReservationStatus.ACTIVE
    assert StockLevel.objects.get(variant=variant, location=store).reserved == 3
    assert Reservation.objects.filter(status=ReservationStatus.ACTIVE).count() == 1
