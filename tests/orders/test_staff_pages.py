"""orders.staff: the staff pages keep their admin URL names and paths, sit behind the admin's
sign-in, render in the admin's frame from templates/orders/staff/, and stay thin."""

import ast
from pathlib import Path

import pytest
from django.urls import resolve, reverse

from omni import roles
from orders import staff
from tests.factories import UserFactory

ORDERS = "/admin/orders/order/"

PAGES = [
    ("orders_order_desk", [], "desk/", "desk"),
    ("orders_order_counter", [7], "counter/7/", "counter"),
    ("orders_order_ready", [3], "3/ready/", "ready"),
    ("orders_order_collect", [3], "3/collect/", "collect"),
    ("orders_order_cancel", [3], "3/cancel/", "cancel"),
    ("orders_order_ship", [3], "3/ship/", "ship"),
    ("orders_order_short_pick", [3, 9], "3/lines/9/short-pick/", "short_pick"),
    ("orders_order_return", [3], "3/return/", "return_items"),
]


@pytest.mark.parametrize(("name", "args", "path", "function"), PAGES)
def test_the_admin_url_names_and_paths_lead_to_the_staff_views(name, args, path, function):
    url = reverse(f"admin:{name}", args=args)
    assert url == f"{ORDERS}{path}"
    match = resolve(url)
    assert match.namespace == "admin"
    view = match.func.__wrapped__  # admin_view(partial(view, admin_site=…))
    assert view.func.__module__.startswith("orders.staff.")
    assert view.func.__name__ == function
    assert view.keywords["admin_site"].name == "admin"


@pytest.mark.django_db
def test_signed_out_visitors_are_sent_to_the_admin_sign_in(client):
    response = client.get(f"{ORDERS}desk/")
    assert response.status_code == 302
    assert "/login/" in response["Location"] or "/accounts/" in response["Location"]


@pytest.mark.django_db
def test_the_desk_renders_in_the_admins_frame(client, shop):
    clerk = UserFactory(email="c@omni.example", role=roles.STORE_STAFF, locations=[shop.madrid])
    client.force_login(clerk)
    response = client.get(f"{ORDERS}desk/")
    assert response.status_code == 200
    assert [t.name for t in response.templates][:2] == [
        "orders/staff/desk.html",
        "admin/base_site.html",
    ]
    assert response.context["site_header"]  # admin_site.each_context
    assert response.context["opts"].model_name == "order"
    assert response.context["store"] == shop.madrid


def test_no_staff_function_is_longer_than_50_lines():
    longest = []
    for module in Path(staff.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.FunctionDef):
                longest.append((node.end_lineno - node.lineno + 1, f"{module.name}:{node.name}"))
    assert longest and max(longest)[0] <= 50, sorted(longest)[-3:]
