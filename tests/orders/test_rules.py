"""orders.rules: each check answers the screens' question (allows → show the button) with the
very error the service raises, so a button is shown exactly when the service would act."""

from datetime import timedelta

import pytest
from django.utils import timezone

from customers import services as customer_services
from inventory.models import LocationKind
from omni import roles
from orders import rules, services
from orders.exceptions import InvalidOrderState, InvalidReturn
from orders.models import Fulfilment, LineState, Order, OrderLine, OrderStatus
from tests.factories import LocationFactory, UserFactory

EVERY_STATUS = list(OrderStatus.values)


def order(status, fulfilment=Fulfilment.PICKUP) -> Order:
    return Order(number="OM1", status=status, fulfilment=fulfilment)


def allowed(check, statuses, **kw) -> set[str]:
    return {s for s in statuses if rules.allows(check, order(s, **kw))}


# --- What an order can do in its state (no database) -------------------------------------------


def test_allows_turns_a_domain_error_into_false_and_lets_other_errors_through():
    assert rules.allows(rules.check_collect, order(OrderStatus.READY))
    assert not rules.allows(rules.check_collect, order(OrderStatus.PLACED))
    with pytest.raises(AttributeError):
        rules.allows(rules.check_collect, None)


def test_status_check_names_the_order_and_its_state():
    with pytest.raises(InvalidOrderState) as exc:
        rules.check_status(order(OrderStatus.CANCELLED), OrderStatus.PLACED)
    assert exc.value.message == f"Order OM1 is {OrderStatus.CANCELLED.label}."
    rules.check_status(order(OrderStatus.PLACED), OrderStatus.PLACED)
    with pytest.raises(InvalidOrderState):  # the right state, the wrong fulfilment
        rules.check_status(
            order(OrderStatus.PLACED, fulfilment=Fulfilment.SHIP),
            OrderStatus.PLACED,
            fulfilment=Fulfilment.PICKUP,
        )


def test_collect_only_when_ready():
    assert allowed(rules.check_collect, EVERY_STATUS) == {OrderStatus.READY}


def test_ship_only_a_placed_parcel():
    assert allowed(rules.check_ship, EVERY_STATUS, fulfilment=Fulfilment.SHIP) == {
        OrderStatus.PLACED
    }
    assert allowed(rules.check_ship, EVERY_STATUS, fulfilment=Fulfilment.PICKUP) == set()


def test_cancel_staff_while_open_shopper_until_ready():
    assert allowed(rules.check_cancel, EVERY_STATUS) == {
        OrderStatus.PLACED,
        OrderStatus.AWAITING_TRANSFER,
        OrderStatus.READY,
    }
    shopper = {
        s for s in EVERY_STATUS if rules.allows(rules.check_cancel, order(s), by_shopper=True)
    }
    assert shopper == {OrderStatus.PLACED, OrderStatus.AWAITING_TRANSFER}


def test_short_pick_while_a_pickup_order_is_at_the_store():
    assert allowed(rules.check_short_pick, EVERY_STATUS) == {OrderStatus.PLACED, OrderStatus.READY}
    assert allowed(rules.check_short_pick, EVERY_STATUS, fulfilment=Fulfilment.SHIP) == set()
    on_shelf = {
        s for s in LineState.values if rules.allows(rules.check_short_pick_line, OrderLine(state=s))
    }
    assert on_shelf == {LineState.ALLOCATED, LineState.SHORT}


def test_return_after_hand_over_with_the_services_message():
    assert allowed(rules.check_return, EVERY_STATUS) == {
        OrderStatus.COLLECTED,
        OrderStatus.SHIPPED,
        OrderStatus.COMPLETED,
    }
    with pytest.raises(InvalidReturn) as exc:
        rules.check_return(order(OrderStatus.READY))
    assert "can be returned" in exc.value.message


def test_ready_needs_a_placed_pickup_order_with_every_line_picked():
    placed = order(OrderStatus.PLACED)
    picked = [OrderLine(state=LineState.ALLOCATED), OrderLine(state=LineState.REFUNDED)]
    assert rules.allows(rules.check_ready, placed, lines=picked)
    for state in (LineState.SHORT, LineState.IN_TRANSFER):
        with pytest.raises(InvalidOrderState, match="short or still on their way"):
            rules.check_ready(placed, lines=[*picked, OrderLine(state=state)])
    assert not rules.allows(rules.check_ready, order(OrderStatus.READY), lines=picked)
    assert not rules.allows(
        rules.check_ready, order(OrderStatus.PLACED, fulfilment=Fulfilment.SHIP), lines=picked
    )


def test_code_locked_until_the_lockout_ends():
    now = timezone.now()
    locked = order(OrderStatus.READY)
    assert not rules.code_locked(locked, now)
    locked.code_locked_until = now + timedelta(minutes=1)
    assert rules.code_locked(locked, now)
    assert not rules.code_locked(locked, now + timedelta(minutes=2))


# --- The same rule in the service and on the screen (database) ---------------------------------


def _pickup(shop, variant=None, store=None) -> Order:
    customer = customer_services.identify(identifiers=[("email", "ana@example.com")], source="web")
    cart = services.open_cart(customer=customer, channel="web")
    services.add_to_cart(cart=cart, variant=variant or shop.shirt, quantity=1, channel="web")
    return services.place_order(
        cart=cart, fulfilment="pickup", location=store or shop.madrid, channel="web"
    )


@pytest.mark.django_db
def test_ready_asks_for_the_lines_when_not_given_and_agrees_with_the_service(shop):
    at_store = _pickup(shop)
    assert at_store.status == OrderStatus.PLACED
    assert rules.allows(rules.check_ready, at_store)
    assert rules.allows(rules.check_ready, at_store, lines=list(at_store.lines.all()))
    services.mark_ready(order=at_store)
    at_store.refresh_from_db()
    assert not rules.allows(rules.check_ready, at_store)

    by_transfer = _pickup(shop, variant=shop.jeans)  # the jeans are at the warehouse only
    assert by_transfer.status == OrderStatus.AWAITING_TRANSFER
    assert not rules.allows(rules.check_ready, by_transfer)
    with pytest.raises(InvalidOrderState):
        services.mark_ready(order=by_transfer)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("check", "service"),
    [
        (rules.check_ship, lambda o: services.mark_shipped(order=o)),
        (rules.check_collect, lambda o: services.collect(order=o, identity_checked=True)),
    ],
)
def test_a_refused_check_is_the_services_error(shop, check, service):
    placed = _pickup(shop)
    with pytest.raises(InvalidOrderState) as by_rule:
        check(placed)
    with pytest.raises(InvalidOrderState) as by_service:
        service(placed)
    assert by_rule.value.message == by_service.value.message


# --- Who may act, and where ---------------------------------------------------------------------


@pytest.mark.django_db
def test_permissions_by_role(shop):
    clerk = UserFactory(email="c@omni.example", role=roles.STORE_STAFF, locations=[shop.madrid])
    marketer = UserFactory(email="m@omni.example", role=roles.MARKETER, locations=[shop.madrid])
    for user, acts in ((clerk, True), (marketer, False)):
        assert rules.may_act_on_orders(user) is acts
        assert rules.may_act_on_orders(user) == user.has_perm("orders.change_order")
        assert rules.may_view_orders(user) == (
            user.has_perm("orders.view_order") or user.has_perm("orders.change_order")
        )
        assert rules.may_take_returns(user) == user.has_perm("orders.add_return")
        assert rules.may_sell_at_counter(user) == (
            user.has_perm("orders.sell_at_counter") and user.has_perm("customers.view_customer")
        )


@pytest.mark.django_db
def test_stores_are_the_users_active_stores_and_the_desks_their_pickup_points(shop):
    closed = LocationFactory(code="old", name="Tienda cerrada", active=False)
    no_desk = LocationFactory(code="nod", name="Tienda sin mostrador", is_pickup_point=False)
    clerk = UserFactory(
        email="c@omni.example",
        role=roles.STORE_STAFF,
        locations=[shop.madrid, shop.warehouse, closed, no_desk],
    )
    stores = list(rules.stores_for_user(clerk))
    assert stores == sorted([shop.madrid, no_desk], key=lambda s: s.name)
    assert all(s.kind == LocationKind.STORE for s in stores)
    assert list(rules.desk_stores(clerk)) == [shop.madrid]
    island = UserFactory(email="i@omni.example", role=roles.STORE_STAFF, locations=[shop.canarias])
    assert list(rules.desk_stores(island)) == [shop.canarias]
