"""The staff pages' URLs, mounted under the order admin by ``OrderAdmin.get_urls``: their names
(``orders_order_desk`` …) live in the admin's namespace, each view behind ``admin_view``
(signed-in staff, CSRF, no caching) and given the admin site for the page's frame."""

from functools import partial

from django.urls import URLPattern, path

from orders.staff import actions, counter, desk, returns


def urlpatterns(admin_site) -> list[URLPattern]:
    def view(func):
        return admin_site.admin_view(partial(func, admin_site=admin_site))

    return [
        path("desk/", view(desk.desk), name="orders_order_desk"),
        path("counter/<int:customer_pk>/", view(counter.counter), name="orders_order_counter"),
        path("<int:pk>/ready/", view(actions.ready), name="orders_order_ready"),
        path("<int:pk>/collect/", view(actions.collect), name="orders_order_collect"),
        path("<int:pk>/cancel/", view(actions.cancel), name="orders_order_cancel"),
        path("<int:pk>/ship/", view(actions.ship), name="orders_order_ship"),
        path(
            "<int:pk>/lines/<int:line_pk>/short-pick/",
            view(actions.short_pick),
            name="orders_order_short_pick",
        ),
        path("<int:pk>/return/", view(returns.return_items), name="orders_order_return"),
    ]
