"""Staff screens beyond CRUD, in the admin's look: the pickup desk, the order's action forms
(ready, collect, cancel, ship, short pick), returns at the counter and counter sales.

They are mounted under the order admin (``OrderAdmin.get_urls`` → ``orders.staff.urls``), so
their URL names stay ``admin:orders_order_desk`` and the like, behind ``admin_site.admin_view``.
The views check permissions with ``orders.rules``, read through ``orders.selectors`` and change
nothing themselves: every change is a call to ``orders.services``.
"""
