"""Journey sweep benchmark (run on demand, prints figures; not part of the test suite).

    .venv/bin/python bench/campaigns.py journeys                 # 100,000 waiting customers
    .venv/bin/python bench/campaigns_journeys.py --customers 20000 --repeat 3

Builds its own PostgreSQL database (omni_bench_journeys): live customers with an e-mail and a
granted e-mail marketing consent, each with an abandoned cart of two of 200 variants; 5 % of
them already ordered one of their cart's items at the counter after the cart was abandoned
(they must exit). The built-in abandoned-cart journey is switched on (10 % holdout) and every
cart enters it (``campaigns.services.journeys.enter_abandoned_carts``), so ``--customers``
entries are due at once. Then one process sweeps them
(``campaigns.services.journeys.advance_due`` in batches of ``JOURNEY_SWEEP_BATCH`` until none
is due): the exit checks, the e-mail step's delivery decided like planning (consent, address,
holdout, variant) and inserted, the wait for the open armed. Target: ≤ 10 s for 100,000.
``--repeat`` rebuilds the entries (and deletes the deliveries) between runs.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE = "omni_bench_journeys"

GENERATE = [
    """
    INSERT INTO customers_customer (first_name, last_name, preferred_language, home_store,
        status, is_anonymous, created_at, updated_at)
    SELECT 'N' || g, 'L', CASE WHEN g %% 10 < 7 THEN 'es' ELSE 'en' END, 'S1', 'live', false,
           now() - interval '30 days', now()
    FROM generate_series(1, %(customers)s) g
    """,
    """
    INSERT INTO customers_identity (customer_id, kind, value, verified, source, created_at)
    SELECT id, 'email', 'c' || id || '@example.com', false, 'web', now() FROM customers_customer
    """,
    """
    INSERT INTO customers_consent (customer_id, channel, purpose, state, source, wording_version,
        evidence, created_at)
    SELECT id, 'email', 'marketing', 'granted', 'import', '', '{}'::jsonb,
           now() - interval '100 days'
    FROM customers_customer
    """,
    """
    INSERT INTO orders_cart (customer_id, token, channel, status, created_at, updated_at)
    SELECT id, 'tok-' || id, 'web', 'abandoned', now() - interval '2 hours',
           now() - interval '2 hours'
    FROM customers_customer
    """,
    """
    INSERT INTO orders_cartline (cart_id, variant_id, quantity, added_at)
    SELECT c.id, v.id, 1, now() - interval '2 hours'
    FROM orders_cart c
    JOIN LATERAL (SELECT id FROM inventory_variant
                  ORDER BY id OFFSET (c.id * 7) %% 199 LIMIT 2) v ON true
    """,
]


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    return parser.parse_args()


def recreate_database(host):
    import psycopg

    with psycopg.connect(f"host={host} user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


def setup_django(host):
    env = {
        "DATABASE_URL": f"postgres://postgres@{host}:5432/{DATABASE}",
        "DJANGO_SETTINGS_MODULE": "omni.settings",
        "DEBUG": "False",
        "SECRET_KEY": "bench-" + "x" * 60,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "False",
    }
    os.environ.update(env)
    return env


def catalogue():
    from decimal import Decimal

    from inventory.models import Category, Location, Product, Variant

    Location.objects.create(code="S1", name="Store 1", kind="store", timezone="Europe/Madrid")
    category = Category.objects.create(slug="c", name="C")
    product = Product.objects.create(category=category, slug="p", name="P")
    Variant.objects.bulk_create(
        [Variant(product=product, sku=f"B-{n:04d}", price=Decimal("29.90")) for n in range(200)]
    )


def orders_after_abandonment(customers: int):
    """5 % of the shoppers bought one of their cart's items at the counter (dated after their
    entry by :func:`enter_all`)."""
    from decimal import Decimal

    from inventory.models import Location
    from orders.models import Cart, Order, OrderLine

    store = Location.objects.get(code="S1")
    carts = list(Cart.objects.order_by("pk").values_list("customer_id", "pk")[::20])
    first_line = dict(
        Cart.objects.filter(pk__in=[c for _, c in carts])
        .order_by("pk", "lines__pk")
        .distinct("pk")
        .values_list("pk", "lines__variant_id")
    )
    money = {k: Decimal("29.90") for k in ("subtotal", "total")}
    zero = {k: Decimal(0) for k in ("discount_total", "shipping_total", "tax_total")}
    orders = Order.objects.bulk_create(
        [
            Order(
                customer_id=customer,
                channel="store",
                fulfilment="counter",
                location=store,
                status="completed",
                **money,
                **zero,
            )
            for customer, _cart in carts
        ],
        batch_size=5_000,
    )
    OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=order,
                variant_id=first_line[cart],
                location=store,
                sku="x",
                name="x",
                quantity=1,
                unit_price=Decimal("29.90"),
                tax_rate=Decimal(21),
                tax=Decimal("5.19"),
                total=Decimal("29.90"),
            )
            for order, (_customer, cart) in zip(orders, carts, strict=True)
        ],
        batch_size=5_000,
    )
    return len(orders)


def generate(args) -> None:
    from django.db import connection

    started = time.perf_counter()
    catalogue()
    with connection.cursor() as cur:
        for statement in GENERATE:
            cur.execute(statement, {"customers": args.customers})
    bought = orders_after_abandonment(args.customers)
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    print(
        f"built {args.customers:,} customers with an abandoned cart ({bought:,} bought an item "
        f"since) in {time.perf_counter() - started:.0f} s"
    )


def journey():
    from campaigns.services import builtin_journeys

    made = builtin_journeys.abandoned_cart_journey()
    return builtin_journeys.switch(journey=made, on=True)


def enter_all(made) -> float:
    from django.db import connection
    from django.utils import timezone

    from campaigns.models import Delivery, JourneyEntry
    from campaigns.services import journeys
    from orders.models import Cart, Order

    with connection.cursor() as cur:  # the last run's rows (the ORM's delete would collect them)
        cur.execute(f"TRUNCATE {Delivery._meta.db_table}, {JourneyEntry._meta.db_table} CASCADE")
    started = time.perf_counter()
    ids = list(Cart.objects.values_list("pk", flat=True))
    for i in range(0, len(ids), 10_000):
        journeys.enter_abandoned_carts(cart_ids=ids[i : i + 10_000])
    elapsed = time.perf_counter() - started
    Order.objects.update(created_at=timezone.now())  # bought after the cart was abandoned
    with connection.cursor() as cur:
        cur.execute("ANALYZE campaigns_journeyentry")
    return elapsed


def sweep() -> tuple[float, dict]:
    from campaigns.services import journeys

    totals = {"advanced": 0, "exited": 0, "messages": 0}
    started = time.perf_counter()
    while True:
        result = journeys.advance_due()
        for key in totals:
            totals[key] += getattr(result, key)
        if result.advanced == 0:
            break
    return time.perf_counter() - started, totals


def main():
    args = parse_args()
    recreate_database(args.host)
    env = setup_django(args.host)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
    )
    import django

    django.setup()
    generate(args)
    made = journey()
    runs = []
    for run in range(args.repeat):
        entering = enter_all(made)
        elapsed, totals = sweep()
        runs.append(elapsed)
        print(
            f"run {run + 1}: entered {totals['advanced']:,} in {entering:.1f} s; sweep "
            f"{elapsed:.2f} s ({totals['advanced'] / elapsed:,.0f} entries/s): "
            f"{totals['messages']:,} deliveries, {totals['exited']:,} exited"
        )
    print(
        f"sweep of {args.customers:,} waiting customers: median {statistics.median(runs):.2f} s "
        f"(target ≤ 10 s), runs {', '.join(f'{r:.2f}' for r in runs)}"
    )


if __name__ == "__main__":
    main()
