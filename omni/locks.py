"""The one lock order of the whole project (ARCHITECTURE invariant 2; README "Locks").

Every transaction that locks rows of several kinds takes them in this order, each kind's rows
sorted as shown, so two transactions never wait for each other in a circle:

1. customers (by pk; identifier values first by their advisory keys, sorted)  customers/locks.py
2. the cart or the order (by pk; an order's lines after it, by pk)             orders/locks.py
3. the coupon, then its promotion                                              orders/locks.py
4. transfers (by pk)                                                           inventory/locks.py
5. stock rows, by (location_id, variant_id); reservations by pk                inventory/locks.py

Each app's ``locks.py`` holds its ``select_for_update`` querysets, and nothing else in the app
takes a row lock (the measured checkout statement in ``orders/services/checkout.py`` locks the
customer and the cart in that order in one statement).
"""

LOCK_ORDER = ("customer", "cart/order", "coupon/promotion", "transfer", "stock")
