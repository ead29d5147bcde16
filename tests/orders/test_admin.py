"""The order admin at the store: scoping, the read-only change page and its action buttons, the
pickup desk, returns at the counter, counter sales from the customer 360, the returns list."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from customers import services as customer_services
from inventory import services as stock
from inventory.models import MovementKind, StockLevel, StockMovement
from omni import roles
from orders import services
from orders.models import (
    Coupon,
    CouponRedemption,
    Fulfilment,
    LineState,
    Order,
    OrderStatus,
    PaymentState,
    Promotion,
    PromotionKind,
    Refund,
    Return,
)
from orders.staff.common import time_left
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ORDERS = "/admin/orders/order/"
DESK = f"{ORDERS}desk/"
RETURNS = "/admin/orders/return/"


# --- Users and helpers -------------------------------------------------------------------------


@pytest.fixture
def clerk(shop):
    """Store staff at Madrid only."""
    return UserFactory(
        email="clerk.mad@omni.example", role=roles.STORE_STAFF, locations=[shop.madrid]
    )


@pytest.fixture
def island_clerk(shop):
    """Store staff at Las Palmas only."""
    return UserFactory(
        email="clerk.lpa@omni.example", role=roles.STORE_STAFF, locations=[shop.canarias]
    )


@pytest.fixture
def backoffice(db):
    return UserFactory(email="backoffice@omni.example", role=roles.BACKOFFICE_ADMIN)


@pytest.fixture
def marketer(shop):
    return UserFactory(email="mkt@omni.example", role=roles.MARKETER, locations=[shop.madrid])


def shopper(email="ana@example.com"):
    return customer_services.identify(identifiers=[("email", email)], source="web")


def pickup_order(shop, *, store=None, variant=None, quantity=1, email="ana@example.com", **kw):
    store = store or shop.madrid
    customer = shopper(email)
    cart = services.open_cart(customer=customer, channel="web")
    services.add_to_cart(cart=cart, variant=variant or shop.shirt, quantity=quantity, channel="web")
    return services.place_order(cart=cart, fulfilment="pickup", location=store, **kw)


def ready_order(shop, **kw) -> tuple[Order, str]:
    order = pickup_order(shop, **kw)
    code = services.mark_ready(order=order)
    order.refresh_from_db()
    return order, code


def collected_order(shop, **kw) -> Order:
    order, code = ready_order(shop, **kw)
    services.collect(order=order, code=code)
    order.refresh_from_db()
    return order


def ship_order(shop, email="ship@example.com"):
    cart = services.open_cart(customer=shopper(email), channel="web")
    services.add_to_cart(cart=cart, variant=shop.jeans, quantity=1, channel="web")
    return services.place_order(
        cart=cart,
        fulfilment="ship",
        shipping_address={
            "name": "Ana",
            "line1": "Calle Luna 3",
            "postal_code": "28004",
            "city": "Madrid",
            "country": "ES",
        },
    )


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def as_user(client, user):
    client.force_login(user)
    return client


def change_url(order):
    return f"{ORDERS}{order.pk}/change/"


def listed(response):
    assert response.status_code == 200, response.content[:500]
    return {obj.pk for obj in response.context["cl"].result_list}


def message_texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def on_hand(variant, location):
    return StockLevel.objects.get(variant=variant, location=location).on_hand


# --- Scoping -----------------------------------------------------------------------------------


def test_store_staff_see_only_their_stores_orders_also_by_url(client, shop, clerk):
    mine = pickup_order(shop)
    stock.receive_stock(variant=shop.shirt, location=shop.canarias, quantity=3)
    theirs, _code = ready_order(shop, store=shop.canarias, email="luis@example.com")
    as_user(client, clerk)

    assert listed(client.get(ORDERS)) == {mine.pk}
    assert client.get(change_url(mine)).status_code == 200
    # Another store's order does not exist for this clerk: not the page, not its buttons.
    assert client.get(change_url(theirs)).status_code == 404
    assert client.get(f"{ORDERS}{theirs.pk}/collect/").status_code == 404
    assert (
        client.post(f"{ORDERS}{theirs.pk}/collect/", {"identity_checked": "on"}).status_code == 404
    )
    assert client.post(f"{ORDERS}{theirs.pk}/cancel/", {"reason": "x"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == OrderStatus.READY
    assert client.get(f"{ORDERS}999999/change/").status_code == 404


def test_back_office_sees_every_order(client, shop, backoffice):
    mine = pickup_order(shop)
    parcel = ship_order(shop)
    as_user(client, backoffice)

    assert listed(client.get(ORDERS)) == {mine.pk, parcel.pk}


def test_changelist_filters_and_search(client, shop, clerk):
    first = pickup_order(shop, email="ana@example.com")
    second = pickup_order(shop, email="luis@example.com")
    services.mark_ready(order=second)
    as_user(client, clerk)

    assert listed(client.get(ORDERS, {"status__exact": "ready"})) == {second.pk}
    assert listed(client.get(ORDERS, {"fulfilment__exact": "pickup"})) == {first.pk, second.pk}
    assert listed(client.get(ORDERS, {"channel__exact": "web"})) == {first.pk, second.pk}
    assert listed(client.get(ORDERS, {"payment_state__exact": "paid"})) == {first.pk, second.pk}
    assert listed(client.get(ORDERS, {"q": first.number.lower()})) == {first.pk}
    assert listed(client.get(ORDERS, {"q": " LUIS@example.com "})) == {second.pk}
    assert listed(client.get(ORDERS, {"q": "nobody@example.com"})) == set()


def test_changelist_query_count_does_not_grow_with_rows(
    client, shop, clerk, django_assert_max_num_queries
):
    stock.receive_stock(variant=shop.shirt, location=shop.madrid, quantity=30)
    for n in range(2):
        pickup_order(shop, email=f"a{n}@example.com")
    as_user(client, clerk)

    with django_assert_max_num_queries(12) as few:
        assert len(listed(client.get(ORDERS))) == 2
    for n in range(12):
        pickup_order(shop, email=f"b{n}@example.com")
    with django_assert_max_num_queries(12) as many:
        assert len(listed(client.get(ORDERS))) == 14
    assert len(many.captured_queries) == len(few.captured_queries)


# --- The change page and its buttons -----------------------------------------------------------


def test_change_page_is_read_only_and_shows_lines_and_history(client, shop, clerk):
    order = pickup_order(shop, quantity=2)
    as_user(client, clerk)

    page = client.get(change_url(order))

    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    html = page.content.decode()
    assert 'name="_save"' not in html
    assert 'id="mark-ready"' in html and 'id="cancel"' in html
    assert shop.shirt.sku in html and "Tienda Gran Vía" in html
    assert "Placed" in html and order.routing_reason in html
    # Saving the change form is refused: every change goes through a button.
    response = client.post(change_url(order), {"status": "collected"})
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == OrderStatus.PLACED


def test_mark_ready_shows_the_pickup_code_once(client, shop, clerk):
    order = pickup_order(shop)
    as_user(client, clerk)

    response = client.post(f"{ORDERS}{order.pk}/ready/")

    assert response.status_code == 302 and response.url == change_url(order)
    (text,) = message_texts(response)
    code = re.search(r"Pickup code: (\d{6})", text).group(1)
    order.refresh_from_db()
    assert order.status == OrderStatus.READY
    event = order.history.last()
    assert (event.status, event.acting_user) == ("ready", clerk)
    # The message shows the code on the next page, once; the order page never shows it.
    assert code in client.get(change_url(order)).content.decode()
    page = client.get(change_url(order))
    assert code not in page.content.decode()
    assert "left" in page.context["time_left"]
    services.collect(order=order, code=code)
    order.refresh_from_db()
    assert order.status == OrderStatus.COLLECTED


def test_mark_ready_needs_a_post(client, shop, clerk):
    order = pickup_order(shop)
    as_user(client, clerk)

    assert client.get(f"{ORDERS}{order.pk}/ready/").status_code == 405
    order.refresh_from_db()
    assert order.status == OrderStatus.PLACED


def test_a_domain_error_becomes_a_message_not_a_500(client, shop, clerk):
    order = pickup_order(shop, variant=shop.jeans)  # jeans come from the warehouse
    assert order.status == OrderStatus.AWAITING_TRANSFER
    as_user(client, clerk)

    response = client.post(f"{ORDERS}{order.pk}/ready/")

    assert response.status_code == 302
    (text,) = message_texts(response)
    assert order.number in text and "Awaiting transfer" in text
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_TRANSFER


def test_collect_with_a_wrong_code_is_a_form_error(client, shop, clerk):
    order, code = ready_order(shop)
    as_user(client, clerk)
    url = f"{ORDERS}{order.pk}/collect/"

    response = client.post(url, {"code": wrong(code)})

    assert response.status_code == 200
    assert response.context["form"].errors["code"] == ["The pickup code does not match."]
    order.refresh_from_db()
    assert (order.status, order.code_attempts) == (OrderStatus.READY, 1)

    response = client.post(url, {"code": code})

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.COLLECTED
    assert order.history.last().acting_user == clerk


def test_collect_needs_a_code_or_the_identity_box(client, shop, clerk):
    order, _code = ready_order(shop)
    as_user(client, clerk)

    response = client.post(f"{ORDERS}{order.pk}/collect/", {"code": "  "})

    assert response.status_code == 200
    assert "code" in response.context["form"].errors
    order.refresh_from_db()
    assert (order.status, order.code_attempts) == (OrderStatus.READY, 0)


def test_locked_code_shows_a_message_and_identity_check_still_hands_over(
    client, shop, clerk, settings
):
    order, code = ready_order(shop)
    as_user(client, clerk)
    url = f"{ORDERS}{order.pk}/collect/"
    for _ in range(settings.PICKUP_CODE_MAX_ATTEMPTS):
        client.post(url, {"code": wrong(code)})

    response = client.post(url, {"code": code})

    assert response.status_code == 200
    assert any("Too many wrong codes" in text for text in message_texts(response))
    order.refresh_from_db()
    assert order.status == OrderStatus.READY

    response = client.post(url, {"identity_checked": "on"})

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.COLLECTED
    assert order.history.last().note == "Identity checked at the desk."


def test_cancel_with_a_reason(client, shop, clerk):
    order = pickup_order(shop)
    as_user(client, clerk)
    url = f"{ORDERS}{order.pk}/cancel/"

    response = client.post(url, {"reason": "  "})
    assert response.status_code == 200 and "reason" in response.context["form"].errors

    response = client.post(url, {"reason": "Shopper phoned: no longer needed"})

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.payment_state == PaymentState.REFUNDED
    event = order.history.last()
    assert (event.note, event.acting_user) == ("Shopper phoned: no longer needed", clerk)
    level = StockLevel.objects.get(variant=shop.shirt, location=shop.madrid)
    assert level.reserved == 0


def test_short_pick_refunds_the_missing_units(client, shop, clerk):
    order = pickup_order(shop, quantity=2)
    line = order.lines.get()
    as_user(client, clerk)
    url = f"{ORDERS}{order.pk}/lines/{line.pk}/short-pick/"

    response = client.post(url, {"missing": 3, "resolution": "refund"})
    assert response.status_code == 200 and "missing" in response.context["form"].errors

    response = client.post(url, {"missing": 1, "resolution": "refund"})

    assert response.status_code == 302
    states = sorted(order.lines.values_list("quantity", "state"))
    assert states == [(1, LineState.ALLOCATED), (1, LineState.REFUNDED)]
    assert Refund.objects.get(order=order).amount == Decimal("19.99")
    assert on_hand(shop.shirt, shop.madrid) == 4  # the missing unit is written off
    assert StockMovement.objects.filter(kind=MovementKind.WRITE_OFF, delta=-1).exists()


def test_short_pick_of_another_orders_line_is_404(client, shop, clerk):
    order = pickup_order(shop)
    other = pickup_order(shop, email="luis@example.com")
    as_user(client, clerk)

    response = client.get(f"{ORDERS}{order.pk}/lines/{other.lines.get().pk}/short-pick/")

    assert response.status_code == 404


def test_warehouse_staff_mark_a_parcel_shipped(client, shop, clerk):
    parcel = ship_order(shop)
    packer = UserFactory(role=roles.STORE_STAFF, locations=[shop.warehouse])
    as_user(client, clerk)
    assert client.post(f"{ORDERS}{parcel.pk}/ship/").status_code == 404  # not Madrid's parcel

    as_user(client, packer)
    page = client.get(change_url(parcel))
    assert 'id="mark-shipped"' in page.content.decode()
    response = client.post(f"{ORDERS}{parcel.pk}/ship/")

    assert response.status_code == 302
    parcel.refresh_from_db()
    assert parcel.status == OrderStatus.SHIPPED
    assert on_hand(shop.jeans, shop.warehouse) == 9


def test_ship_selected_action(client, shop, backoffice):
    parcel = ship_order(shop)
    pickup = pickup_order(shop)
    as_user(client, backoffice)

    response = client.post(
        ORDERS, {"action": "ship_selected", "_selected_action": [parcel.pk, pickup.pk]}
    )

    assert response.status_code == 302
    parcel.refresh_from_db()
    pickup.refresh_from_db()
    assert (parcel.status, pickup.status) == (OrderStatus.SHIPPED, OrderStatus.PLACED)
    texts = message_texts(response)
    assert any(pickup.number in t for t in texts) and "1 order shipped." in texts


def test_marketer_sees_orders_but_has_no_buttons(client, shop, marketer):
    order = pickup_order(shop)
    as_user(client, marketer)

    page = client.get(change_url(order))

    assert page.status_code == 200
    assert 'id="mark-ready"' not in page.content.decode()
    assert client.post(f"{ORDERS}{order.pk}/ready/").status_code == 403
    assert client.get(f"{ORDERS}{order.pk}/cancel/").status_code == 403
    order.refresh_from_db()
    assert order.status == OrderStatus.PLACED


# --- The pickup desk ---------------------------------------------------------------------------


def test_desk_shows_the_stores_queues(client, shop, clerk):
    stock.receive_stock(variant=shop.shirt, location=shop.madrid, quantity=10)
    to_pick = pickup_order(shop, email="a@example.com")
    ready, _code = ready_order(shop, email="b@example.com")
    overdue = pickup_order(shop, email="c@example.com")
    services.mark_ready(order=overdue, now=timezone.now() - timedelta(days=30))
    awaiting = pickup_order(shop, variant=shop.jeans, email="d@example.com")
    stock.receive_stock(variant=shop.shirt, location=shop.canarias, quantity=3)
    elsewhere = pickup_order(shop, store=shop.canarias, email="e@example.com")
    as_user(client, clerk)

    page = client.get(DESK)

    assert page.status_code == 200
    queues = {name: [o.pk for o in q["rows"]] for name, q in page.context["queues"].items()}
    assert queues == {
        "to_pick": [to_pick.pk],
        "ready": [ready.pk],
        "overdue": [overdue.pk],
        "awaiting": [awaiting.pk],
    }
    html = page.content.decode()
    assert elsewhere.number not in html
    assert re.search(r"\d+ days? \d+ h left", html)
    assert f'<tr class="overdue" id="order-{overdue.number}">' in html
    assert "overdue by" in html
    assert "Promised for" in html
    assert html.count('class="primary mark-ready"') == 1


def test_desk_mark_ready_returns_to_the_desk(client, shop, clerk):
    order = pickup_order(shop)
    as_user(client, clerk)
    desk = f"{DESK}?location={shop.madrid.code}"

    response = client.post(f"{ORDERS}{order.pk}/ready/", {"next": desk})

    assert response.status_code == 302 and response.url == desk
    order.refresh_from_db()
    assert order.status == OrderStatus.READY
    # An outside address is not followed.
    other = pickup_order(shop, email="luis@example.com")
    response = client.post(f"{ORDERS}{other.pk}/ready/", {"next": "https://evil.example/"})
    assert response.url == change_url(other)


def test_desk_code_box_collects_the_stores_ready_order(client, shop, clerk):
    order, code = ready_order(shop)
    as_user(client, clerk)

    response = client.post(DESK, {"number": order.number, "code": wrong(code)})
    assert response.status_code == 200
    assert response.context["form"].errors["code"] == ["The pickup code does not match."]

    response = client.post(DESK, {"number": "OMNOTHING", "code": code})
    assert response.status_code == 200 and "number" in response.context["form"].errors

    response = client.post(DESK, {"number": f" {order.number.lower()} ", "code": code})

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.COLLECTED
    assert order.history.last().acting_user == clerk


def test_desk_code_box_does_not_reach_another_stores_order(client, shop, clerk):
    stock.receive_stock(variant=shop.shirt, location=shop.canarias, quantity=3)
    theirs, code = ready_order(shop, store=shop.canarias)
    as_user(client, clerk)

    response = client.post(DESK, {"number": theirs.number, "code": code})

    assert response.status_code == 200 and "number" in response.context["form"].errors
    theirs.refresh_from_db()
    assert theirs.status == OrderStatus.READY
    assert client.get(f"{DESK}?location={shop.canarias.code}").status_code == 404


def test_desk_store_picker_for_staff_of_several_stores(client, shop):
    both = UserFactory(role=roles.STORE_STAFF, locations=[shop.madrid, shop.canarias])
    order = pickup_order(shop)
    as_user(client, both)

    page = client.get(DESK)
    assert page.context["store"] is None and 'id="store-picker"' in page.content.decode()
    assert client.post(DESK, {"number": order.number, "code": "1"}).status_code == 403

    page = client.get(DESK, {"location": shop.madrid.code})
    assert [o.pk for o in page.context["queues"]["to_pick"]["rows"]] == [order.pk]


def test_desk_is_linked_from_the_dashboard_and_the_changelist(client, shop, clerk):
    pickup_order(shop)
    as_user(client, clerk)

    index = client.get("/admin/")
    html = index.content.decode()
    assert 'id="panel-pickup-desk"' in html and f'href="{DESK}"' in html
    panel = next(p for p in index.context["panels"] if p["id"] == "pickup-desk")
    assert (panel["to_pick"], panel["ready"], panel["overdue"], panel["awaiting"]) == (1, 0, 0, 0)
    assert f'href="{DESK}"' in client.get(ORDERS).content.decode()


def test_time_left_reads_like_a_person_would_say_it():
    now = timezone.now()
    assert time_left(now + timedelta(days=2, hours=3, minutes=5), now) == "2 days 3 h left"
    assert time_left(now + timedelta(days=1, minutes=5), now) == "1 day 0 h left"
    assert time_left(now + timedelta(hours=5, minutes=10), now) == "5 h 10 min left"
    assert time_left(now - timedelta(hours=2, minutes=1), now) == "overdue by 2 h 1 min"


# --- Returns at the counter --------------------------------------------------------------------


def return_form(order, location, **lines):
    """``lines``: {"<line pk>": (units, condition)}."""
    data = {"location": location.pk}
    for line in order.lines.all():
        units, condition = lines.get(str(line.pk), (0, "resellable"))
        data[f"qty_{line.pk}"] = units
        data[f"condition_{line.pk}"] = condition
    return data


def test_resellable_return_goes_back_on_the_shelf_and_is_refunded(client, shop, clerk):
    order = collected_order(shop, quantity=2)
    line = order.lines.get()
    before = on_hand(shop.shirt, shop.madrid)
    as_user(client, clerk)
    url = f"{ORDERS}{order.pk}/return/"
    assert client.get(url).status_code == 200

    response = client.post(
        url, return_form(order, shop.madrid, **{str(line.pk): (1, "resellable")})
    )

    assert response.status_code == 302
    assert on_hand(shop.shirt, shop.madrid) == before + 1
    return_ = Return.objects.get(order=order)
    assert return_.received_at is not None and return_.acting_user == clerk
    assert return_.refund.amount == Decimal("19.99")
    assert any("Refund: 19.99 €" in t for t in message_texts(response)), message_texts(response)
    line.refresh_from_db()
    assert line.returned_quantity == 1


def test_damaged_return_is_booked_in_and_written_off(client, shop, clerk):
    order = collected_order(shop)
    line = order.lines.get()
    before = on_hand(shop.shirt, shop.madrid)
    as_user(client, clerk)

    response = client.post(
        f"{ORDERS}{order.pk}/return/",
        return_form(order, shop.madrid, **{str(line.pk): (1, "damaged")}),
    )

    assert response.status_code == 302
    return_ = Return.objects.get(order=order)
    assert on_hand(shop.shirt, shop.madrid) == before
    ledger = sorted(
        StockMovement.objects.filter(reference=f"return:R{return_.pk}").values_list("kind", "delta")
    )
    assert ledger == [(MovementKind.RETURN, 1), (MovementKind.WRITE_OFF, -1)]


def test_return_form_errors_write_nothing(client, shop, clerk):
    order = collected_order(shop)
    line = order.lines.get()
    as_user(client, clerk)
    url = f"{ORDERS}{order.pk}/return/"

    nothing = client.post(url, return_form(order, shop.madrid))
    too_many = client.post(url, return_form(order, shop.madrid, **{str(line.pk): (2, "damaged")}))
    elsewhere = client.post(
        url, return_form(order, shop.canarias, **{str(line.pk): (1, "resellable")})
    )

    assert nothing.status_code == 200 and nothing.context["form"].non_field_errors()
    assert too_many.status_code == 200 and f"qty_{line.pk}" in too_many.context["form"].errors
    assert elsewhere.status_code == 200 and "location" in elsewhere.context["form"].errors
    assert not Return.objects.exists()


def test_an_open_order_cannot_be_returned(client, shop, clerk):
    order = pickup_order(shop)
    as_user(client, clerk)

    response = client.get(f"{ORDERS}{order.pk}/return/")

    assert response.status_code == 302 and response.url == change_url(order)
    assert any("cannot" in t or "Only a collected" in t for t in message_texts(response))


def test_returns_list_is_scoped_and_read_only(client, shop, clerk, island_clerk):
    order = collected_order(shop)
    line = order.lines.get()
    return_ = services.create_return(
        order=order,
        lines={line.pk: 1},
        location=shop.madrid,
        conditions={line.pk: "resellable"},
    )
    as_user(client, clerk)
    assert listed(client.get(RETURNS)) == {return_.pk}
    page = client.get(f"{RETURNS}{return_.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.get(f"{RETURNS}add/").status_code == 403

    as_user(client, island_clerk)
    assert listed(client.get(RETURNS)) == set()
    assert client.get(f"{RETURNS}{return_.pk}/change/").status_code == 404
    assert client.get(f"{ORDERS}{order.pk}/return/").status_code == 404


def test_a_parcel_can_be_returned_at_any_of_the_users_stores(client, shop, backoffice):
    parcel = ship_order(shop)
    services.mark_shipped(order=parcel)
    line = parcel.lines.get()
    as_user(client, backoffice)

    response = client.post(
        f"{ORDERS}{parcel.pk}/return/",
        return_form(parcel, shop.madrid, **{str(line.pk): (1, "resellable")}),
    )

    assert response.status_code == 302
    assert on_hand(shop.jeans, shop.madrid) == 1  # back on the shelf where it was handed in


# --- Counter sale from the customer 360 --------------------------------------------------------


def test_counter_sale_from_the_customer_360(client, shop, clerk):
    ana = shopper()
    as_user(client, clerk)
    page = client.get(f"/admin/customers/customer/{ana.pk}/change/")
    counter = f"{ORDERS}counter/{ana.pk}/"
    assert f'href="{counter}"' in page.content.decode()

    assert client.get(counter).status_code == 200
    response = client.post(
        counter, {"action": "add", "add-sku": shop.shirt.sku.lower(), "add-quantity": 2}
    )
    assert response.status_code == 302
    page = client.get(counter)
    assert [(li.variant, li.quantity) for li in page.context["lines"]] == [(shop.shirt, 2)]
    assert page.context["quote"].total == Decimal("39.98")

    response = client.post(counter, {"action": "finish", "finish-location": shop.madrid.pk})

    order = Order.objects.get(customer=ana)
    assert response.status_code == 302 and response.url == change_url(order)
    assert (order.fulfilment, order.channel, order.status) == (
        Fulfilment.COUNTER,
        "store",
        OrderStatus.COMPLETED,
    )
    assert (order.location, order.created_by, order.total) == (
        shop.madrid,
        clerk,
        Decimal("39.98"),
    )
    assert on_hand(shop.shirt, shop.madrid) == 3
    # A second click on the same cart does not sell twice.
    client.post(counter, {"action": "finish", "finish-location": shop.madrid.pk})
    assert Order.objects.filter(customer=ana).count() == 1


def test_counter_sale_errors_are_shown_on_the_form(client, shop, clerk):
    ana = shopper()
    as_user(client, clerk)
    counter = f"{ORDERS}counter/{ana.pk}/"

    unknown = client.post(counter, {"action": "add", "add-sku": "NOPE", "add-quantity": 1})
    assert unknown.status_code == 200 and "sku" in unknown.context["add_form"].errors

    # Above the line limit; what the store holds is checked when the sale is finished.
    too_many = client.post(
        counter, {"action": "add", "add-sku": shop.shirt.sku, "add-quantity": 100}
    )
    assert too_many.status_code == 200 and too_many.context["add_form"].errors

    client.post(counter, {"action": "add", "add-sku": shop.shirt.sku, "add-quantity": 1})
    not_mine = client.post(counter, {"action": "finish", "finish-location": shop.canarias.pk})
    assert not_mine.status_code == 200 and "location" in not_mine.context["finish_form"].errors
    # Madrid sells only what it holds: the warehouse's jeans cannot be sold at this counter.
    client.post(counter, {"action": "add", "add-sku": shop.jeans.sku, "add-quantity": 1})
    short = client.post(counter, {"action": "finish", "finish-location": shop.madrid.pk})
    assert short.status_code == 200 and short.context["finish_form"].non_field_errors()
    assert not Order.objects.exists()


def test_counter_remove_line(client, shop, clerk):
    ana = shopper()
    as_user(client, clerk)
    counter = f"{ORDERS}counter/{ana.pk}/"
    client.post(counter, {"action": "add", "add-sku": shop.shirt.sku, "add-quantity": 1})
    line = services.open_cart(customer=ana, channel="store").lines.get()

    response = client.post(counter, {"action": "remove", "line": line.pk})

    assert response.status_code == 302
    assert not services.open_cart(customer=ana, channel="store").lines.exists()


def test_counter_sale_needs_the_desk_permission(client, shop, marketer):
    ana = shopper()
    as_user(client, marketer)

    assert client.get(f"{ORDERS}counter/{ana.pk}/").status_code == 403
    page = client.get(f"/admin/customers/customer/{ana.pk}/change/")
    assert 'id="counter-sale-link"' not in page.content.decode()


@pytest.fixture
def personal_code(shop):
    """A personal 10 % code of Ana's, and Ana."""
    ana = shopper()
    promotion = Promotion.objects.create(name="Ana's 10 %", kind=PromotionKind.PERCENTAGE, value=10)
    code = services.issue_personal_codes(promotion=promotion, customer_ids=[ana.pk])[ana.pk]
    return ana, code


def _counter_with_a_shirt(client, shop, clerk, customer) -> str:
    """Two shirts (19.99 €) in the customer's counter cart; the counter page's address."""
    as_user(client, clerk)
    counter = f"{ORDERS}counter/{customer.pk}/"
    client.post(counter, {"action": "add", "add-sku": shop.shirt.sku, "add-quantity": 2})
    return counter


def test_counter_sale_with_a_personal_code(client, shop, clerk, personal_code):
    ana, code = personal_code
    counter = _counter_with_a_shirt(client, shop, clerk, ana)
    page = client.get(counter)
    offers = page.content.decode()
    assert [c.code for c in page.context["offers"]] == [code]
    assert code in offers and "Ana&#x27;s 10 %" in offers and "Personal offers" in offers

    response = client.post(
        counter,
        {"action": "finish", "finish-location": shop.madrid.pk, "finish-coupon_code": code.lower()},
    )

    order = Order.objects.get(customer=ana)
    assert response.status_code == 302 and response.url == change_url(order)
    assert (order.subtotal, order.discount_total, order.total) == (
        Decimal("39.98"),
        Decimal("4.00"),
        Decimal("35.98"),
    )
    assert order.coupon.code == code
    redemption = CouponRedemption.objects.get()
    assert (redemption.customer, redemption.channel, redemption.reference) == (
        ana,
        "store",
        order.number,
    )
    assert Coupon.objects.get(code=code).used
    assert not client.get(counter).context["offers"]  # used: no longer offered


def test_counter_personal_offer_button_finishes_the_sale_with_its_code(
    client, shop, clerk, personal_code
):
    ana, code = personal_code
    counter = _counter_with_a_shirt(client, shop, clerk, ana)
    assert f'name="finish-offer" value="{code}"' in client.get(counter).content.decode()

    response = client.post(
        counter, {"action": "finish", "finish-location": shop.madrid.pk, "finish-offer": code}
    )

    assert response.status_code == 302
    assert Order.objects.get(customer=ana).coupon.code == code


def test_counter_refuses_a_code_of_another_customer_on_the_coupon_field(
    client, shop, clerk, personal_code
):
    _ana, code = personal_code
    ben = shopper("ben@example.com")
    counter = _counter_with_a_shirt(client, shop, clerk, ben)
    assert not client.get(counter).context["offers"]  # Ana's code is not offered to Ben

    response = client.post(
        counter, {"action": "finish", "finish-location": shop.madrid.pk, "finish-coupon_code": code}
    )

    assert response.status_code == 200
    assert "coupon_code" in response.context["finish_form"].errors
    assert not Order.objects.exists() and not CouponRedemption.objects.exists()
    assert not Coupon.objects.get(code=code).used
    assert on_hand(shop.shirt, shop.madrid) == 5


@pytest.mark.parametrize("code", ["used", "unknown"])
def test_counter_refuses_a_used_or_unknown_code(client, shop, clerk, personal_code, code):
    ana, personal = personal_code
    if code == "used":
        Coupon.objects.filter(code=personal).update(used=True)
    counter = _counter_with_a_shirt(client, shop, clerk, ana)

    response = client.post(
        counter,
        {
            "action": "finish",
            "finish-location": shop.madrid.pk,
            "finish-coupon_code": personal if code == "used" else "NOSUCHCODE",
        },
    )

    assert response.status_code == 200
    assert "coupon_code" in response.context["finish_form"].errors
    assert not Order.objects.exists() and not CouponRedemption.objects.exists()


def test_refunds_due_are_paid_from_the_order_list(client, shop, backoffice, clerk):
    from datetime import timedelta

    from django.utils import timezone

    order = pickup_order(shop)
    services.mark_ready(order=order, now=timezone.now() - timedelta(days=30))
    services.expire_uncollected()
    order.refresh_from_db()
    assert order.payment_state == "refund_due"

    as_user(client, clerk)  # store staff cannot pay refunds
    client.post(ORDERS, {"action": "settle_refunds", "_selected_action": [order.pk]})
    order.refresh_from_db()
    assert order.payment_state == "refund_due"

    as_user(client, backoffice)
    response = client.post(ORDERS, {"action": "settle_refunds", "_selected_action": [order.pk]})
    order.refresh_from_db()
    assert response.status_code == 302
    assert order.payment_state == "refunded" and order.refunded_total == order.total
    assert "1 refund paid." in message_texts(response)


def test_submitting_the_return_page_twice_records_one_return(client, shop, clerk):
    order = collected_order(shop, quantity=2)
    line = order.lines.get()
    before = on_hand(shop.shirt, shop.madrid)
    as_user(client, clerk)
    url = f"{ORDERS}{order.pk}/return/"
    page = client.get(url)
    token = page.context["form"]["token"].value()
    assert token and f'value="{token}"' in page.content.decode()
    data = {
        **return_form(order, shop.madrid, **{str(line.pk): (1, "resellable")}),
        "token": token,
    }

    first = client.post(url, data)
    second = client.post(url, data)  # a double tap on the tablet

    assert first.status_code == second.status_code == 302
    assert Return.objects.filter(order=order).count() == 1
    assert on_hand(shop.shirt, shop.madrid) == before + 1
    order.refresh_from_db()
    assert order.refunded_total == Decimal("19.99")
