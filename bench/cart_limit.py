"""The largest cart a shopper may check out (run on demand, prints figures; not a test).

    .venv/bin/python bench/cart_limit.py              # 20 checkouts of CART_MAX_LINES lines
    .venv/bin/python bench/cart_limit.py --runs 50

Issue 11: a 10,000-line cart held a worker for ~12 s at checkout. A cart now holds at most
``settings.CART_MAX_LINES`` lines (100); this measures, on PostgreSQL, a guest's pickup checkout
of a cart that full, one at a time:

1. ``orders.services.place_order`` alone (the service), on carts built before the clock;
2. ``POST /api/v1/checkout/`` through Django's test client in-process (the whole request: cart
   by token, the guest's contact, idempotency, the 201 body of 100 lines), DEBUG off;
3. the refusal of line 101: ``POST /api/v1/carts/current/lines/`` (400 ``too_many_lines``).

Every line is held at the pickup store. Its own database (``omni_bench_cart_limit``), created
afresh and dropped at the end.
"""

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import orders as orders_bench  # noqa: E402  (shares the database set-up)


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--database", default="omni_bench_cart_limit")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    args.reuse_db = False
    return args


def populate(lines: int, runs: int):
    from decimal import Decimal

    from inventory import services as stock
    from inventory.models import Category, Location, LocationKind, Product, Variant

    store = Location.objects.create(
        code="mad",
        name="Tienda Gran Vía",
        kind=LocationKind.STORE,
        is_pickup_point=True,
        latitude=Decimal("40.42"),
        longitude=Decimal("-3.70"),
    )
    category = Category.objects.create(name="Camisetas", slug="camisetas")
    product = Product.objects.create(name="Camiseta", slug="camiseta", category=category)
    variants = Variant.objects.bulk_create(
        Variant(product=product, sku=f"SKU-{n:04d}", size=str(n), price=Decimal("9.99"))
        for n in range(lines + 1)
    )
    for variant in variants:
        stock.receive_stock(variant=variant, location=store, quantity=3 * runs + 10)
    return store, variants


def full_cart(variants, tag: str):
    from orders import services

    cart = services.cart_for_device(anonymous_id=f"bench-{tag}", channel="web")
    for variant in variants:
        services.add_to_cart(cart=cart, variant=variant, quantity=1, channel="web")
    return cart


def service_times(store, variants, runs: int) -> list[float]:
    from customers import services as customer_services
    from orders import services

    times = []
    for n in range(runs):
        cart = full_cart(variants, f"svc-{n}-{uuid.uuid4().hex[:6]}")
        customer_services.record_contact(
            customer=cart.customer, identifiers=[("email", f"s{n}@example.com")], source="web"
        )
        start = time.perf_counter()
        services.place_order(cart=cart, fulfilment="pickup", location=store)
        times.append(time.perf_counter() - start)
    return times


def api_times(variants, runs: int) -> tuple[list[float], int, float]:
    from django.test import Client

    client = Client(HTTP_HOST="localhost")
    times = []
    for n in range(runs):
        cart = full_cart(variants, f"api-{n}-{uuid.uuid4().hex[:6]}")
        body = {"fulfilment": "pickup", "location": "mad", "email": f"a{n}@example.com"}
        start = time.perf_counter()
        response = client.post(
            "/api/v1/checkout/",
            body,
            content_type="application/json",
            HTTP_X_CART_TOKEN=cart.token,
            HTTP_IDEMPOTENCY_KEY=f"k-{n}",
        )
        times.append(time.perf_counter() - start)
        assert response.status_code == 201, response.content[:300]
        assert len(response.json()["lines"]) == len(variants)
    return times


def refusal(extra_variant) -> tuple[int, str, float]:
    from django.test import Client

    from orders.models import Cart

    token = Cart.objects.filter(status="open").values_list("token", flat=True).last()
    start = time.perf_counter()
    response = Client(HTTP_HOST="localhost").post(
        "/api/v1/carts/current/lines/",
        {"sku": extra_variant.sku, "quantity": 1},
        content_type="application/json",
        HTTP_X_CART_TOKEN=token,
    )
    return response.status_code, response.json()["error"]["code"], time.perf_counter() - start


def report(name: str, times: list[float]) -> None:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[max(0, round(0.95 * len(ms)) - 1)]
    print(
        f"{name}: n={len(ms)} p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, "
        f"max {ms[-1]:.1f} ms"
    )


def main():
    args = parse_args()
    orders_bench.create_database(args)
    orders_bench.setup_django(args)
    from django.conf import settings
    from django.core.management import call_command

    try:
        call_command("migrate", verbosity=0)
        lines = settings.CART_MAX_LINES
        store, variants = populate(lines, args.runs)
        full, extra = variants[:lines], variants[lines]
        orders_bench.settle()
        print(f"cart of {lines} lines (CART_MAX_LINES), {args.runs} checkouts each, PostgreSQL")
        report("place_order", service_times(store, full, args.runs))
        report("POST /api/v1/checkout/", api_times(full, args.runs))
        full_cart(full, f"refusal-{uuid.uuid4().hex[:6]}")
        status, code, seconds = refusal(extra)
        print(f"line {lines + 1}: {status} {code} in {seconds * 1000:.1f} ms")
    finally:
        orders_bench.drop_database(args)


if __name__ == "__main__":
    main()
