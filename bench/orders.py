"""Orders benchmark (run on demand, prints figures; not part of the test suite).

    .venv/bin/python bench/orders.py --seconds 20            # everything (about 4 minutes)
    .venv/bin/python bench/orders.py --seconds 20 --skip-api # service path only
    .venv/bin/python bench/orders.py --profile               # queries and cProfile of checkouts

Measures on PostgreSQL, in one run, 3-line pickup checkouts (every line held at the chosen store)
with N concurrent clients (default 8):

1. pgbench ceiling: ``pgbench -c N`` running the single-statement conditional UPDATE
   ``UPDATE inventory_stocklevel SET reserved = reserved + 1 WHERE id = :id AND
   on_hand - reserved >= 1`` on random store stock rows (the bench/inventory.py figure);
2. service path, N worker processes (one Django connection each):
   a. ``orders.services.place_order`` alone, on carts built before the clock starts (customers,
      carts and lines bulk-inserted, the Cart objects loaded): checkouts/s and place_order's
      p50/p95;
   b. the whole sequence through the services: ``cart_for_device`` (a new anonymous shopper),
      3 × ``add_to_cart``, ``place_order``: checkouts/s, and place_order's p50/p95 within it;
3. API path: ``gunicorn omni.wsgi -w 2`` (sync workers, DEBUG=False, throttles turned off through the
   API_THROTTLE_* variables), N client processes with keep-alive ``http.client`` connections:
   a. ``POST /api/v1/checkout/`` alone, on carts built before the clock starts (X-Cart-Token);
   b. the whole sequence: ``POST /api/v1/carts/`` → 3 × ``POST /api/v1/carts/current/lines/`` →
      ``POST /api/v1/checkout/`` (Idempotency-Key), 201 expected;
4. pickup options for a 3-line cart with 500 stores: p50/p95 of
   ``inventory.selectors.pickup_options`` and of ``GET /api/v1/carts/current/pickup-options/``.

Each rate is completed checkouts divided by --seconds, every client running for exactly that long
after a common start. Ratios are to the pgbench ceiling of the same run.

Data: 500 pickup stores spread over Spain, 2 warehouses, 3,000 variants; each store carries ~60 %
of the variants (500 units each), the warehouses all of them. Stock is seeded as one receipt
movement per stock row, so ``on_hand`` equals the ledger sum; the script checks the stock
invariants again at the end.

It uses its own database (default ``omni_bench_orders``), created afresh and dropped at the end
(``--keep-db`` keeps it; ``--reuse-db`` measures on a kept one without re-populating).
"""

import argparse
import http.client
import json
import multiprocessing as mp
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlpath import sql_path  # noqa: E402  (bench/, beside this script)

STORES = 500
WAREHOUSES = 2
VARIANTS = 3_000
STORE_UNITS = 500
WAREHOUSE_UNITS = 1_000_000
LINES = 3
HOURS = {day: [["10:00", "21:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat")} | {
    "sun": []
}


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--database", default="omni_bench_orders")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--port", type=int, default=8797, help="gunicorn's port")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=8, help="concurrent clients")
    parser.add_argument("--finder-calls", type=int, default=300)
    parser.add_argument("--skip-api", action="store_true")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument("--reuse-db", action="store_true", help="use a kept, populated database")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="only count the queries of one checkout and cProfile a few hundred",
    )
    parser.add_argument(
        "--orm",
        action="store_true",
        help="run the queries modules' ORM reference twins (OMNI_FAST_SQL=0), not the fast SQL",
    )
    args = sql_path(parser.parse_args())
    # Names of this run's shoppers (device ids, e-mails): new ones on every run, so a rerun on a
    # kept database (--reuse-db) measures new shoppers too, not profile merges into old ones.
    args.run = uuid.uuid4().hex[:8]
    return args


def django_env(args) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{args.user}@{args.host}:5432/{args.database}",
        DJANGO_SETTINGS_MODULE="omni.settings",
        DEBUG="False",  # no query log in the measured processes
        SECRET_KEY="bench-" + "x" * 60,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="False",
        CONN_MAX_AGE="600",
        EMAIL_URL="dummymail://",
        PYTHONWARNINGS="ignore:No directory at",  # whitenoise without collectstatic
        API_THROTTLE_ANON="off",  # one client address for all 8 clients: throttles off
        API_THROTTLE_USER="off",
        API_THROTTLE_EVENTS="off",
    )
    return env


def setup_django(args):
    os.environ.update(django_env(args))
    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()


# --- Database --------------------------------------------------------------------------------


def _admin_connection(args):
    import psycopg

    return psycopg.connect(f"host={args.host} user={args.user} dbname=postgres", autocommit=True)


def create_database(args) -> bool:
    """A fresh database (True), or the kept one with --reuse-db (False)."""
    with _admin_connection(args) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [args.database]
        ).fetchone()
        if exists and args.reuse_db:
            return False
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.database}"')
    return True


def drop_database(args):
    from django.db import connections

    connections.close_all()
    with _admin_connection(args) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


def stocked(variant_id: int, location_id: int) -> bool:
    """Whether a store carries a variant (~60 % of the pairs); the SQL below uses the same rule."""
    return (variant_id * 7 + location_id * 13) % 10 < 6


def populate():
    from decimal import Decimal

    from django.core.management import call_command
    from django.db import connection

    from inventory.models import Category, Location, LocationKind, Product, Variant

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    rng = random.Random(42)
    category = Category.objects.create(name="Bench", slug="bench")
    products = Product.objects.bulk_create(
        [
            Product(name=f"Bench product {i}", slug=f"bench-{i}", category=category)
            for i in range(VARIANTS // 10)
        ]
    )
    Variant.objects.bulk_create(
        [
            Variant(
                product=product,
                sku=f"B{p * 10 + s:06d}",
                size=f"S{s}",
                colour="Black",
                price=Decimal("9.95") + Decimal(rng.randrange(0, 9000)) / 100,
            )
            for p, product in enumerate(products)
            for s in range(10)
        ],
        batch_size=1000,
    )
    warehouses = [("W1", "Madrid", 40.35, -3.60), ("W2", "Barcelona", 41.35, 2.10)][:WAREHOUSES]
    Location.objects.bulk_create(
        [
            Location(
                kind=LocationKind.WAREHOUSE,
                code=code,
                name=f"Warehouse {city}",
                city=city,
                country="ES",
                latitude=Decimal(f"{lat:.6f}"),
                longitude=Decimal(f"{lon:.6f}"),
                timezone="Europe/Madrid",
                is_pickup_point=False,
                ships_to_customers=True,
                sells_online=True,
            )
            for code, city, lat, lon in warehouses
        ]
        + [
            Location(
                kind=LocationKind.STORE,
                code=f"S{i:03d}",
                name=f"Store {i}",
                address=f"Calle Mayor {i}",
                city=f"Ciudad {i}",
                postal_code=f"{28000 + i}",
                country="ES",
                latitude=Decimal(f"{36.2 + rng.random() * 7.4:.6f}"),
                longitude=Decimal(f"{-8.8 + rng.random() * 11.9:.6f}"),
                timezone="Europe/Madrid",
                opening_hours=HOURS,
                is_pickup_point=True,
                ships_to_customers=False,
                sells_online=True,
            )
            for i in range(1, STORES + 1)
        ]
    )
    with connection.cursor() as cur:
        # Stock rows straight in SQL (hundreds of thousands), each with its one receipt movement
        # in the ledger, so on_hand = sum of the ledger as the services would have left it.
        cur.execute(
            """
            INSERT INTO inventory_stocklevel (variant_id, location_id, on_hand, reserved,
                safety_stock, in_transit, min_qty, max_qty, updated_at)
            SELECT v.id, l.id, CASE WHEN l.kind = 'warehouse' THEN %s ELSE %s END,
                   0, 0, 0, 0, 0, now()
              FROM inventory_variant v CROSS JOIN inventory_location l
             WHERE l.kind = 'warehouse' OR (v.id * 7 + l.id * 13) %% 10 < 6
            """,
            [WAREHOUSE_UNITS, STORE_UNITS],
        )
        cur.execute(
            """
            INSERT INTO inventory_stockmovement (variant_id, location_id, kind, delta, balance,
                reason, reference, acting_user_id, created_at)
            SELECT variant_id, location_id, 'receipt', on_hand, on_hand, 'Bench stock',
                   'bench:seed', NULL, now()
              FROM inventory_stocklevel
            """
        )
        cur.execute("SELECT count(*) FROM inventory_stocklevel")
        rows = cur.fetchone()[0]
    settle()
    print(
        f"populated {STORES} stores + {WAREHOUSES} warehouses × {VARIANTS} variants "
        f"({rows:,} stock rows and ledger movements) in {time.perf_counter() - started:.0f} s"
    )


def settle() -> None:
    """Before each measured phase: what autovacuum would have done by then (it is off on this
    machine, conf.d/90-ci.conf: dead rows of the previous phase pruned, visibility map and hint
    bits set, statistics fresh) and the writes so far flushed (CHECKPOINT, then the kernel's
    writeback), so that no phase pays for the clean-up of the one before."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE)")
        cur.execute("CHECKPOINT")
    os.sync()


def catalogue():
    """Store ids, variant ids (active stores / variants of the bench)."""
    from inventory.models import Location, LocationKind, Variant

    stores = list(
        Location.objects.filter(kind=LocationKind.STORE, is_pickup_point=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    variants = list(Variant.objects.order_by("pk").values_list("pk", flat=True))
    return stores, variants


def basket(rng, stores, variants) -> tuple[int, list[int]]:
    """A random store and LINES distinct variants it carries."""
    store = rng.choice(stores)
    chosen: set[int] = set()
    while len(chosen) < LINES:
        v = rng.choice(variants)
        if stocked(v, store):
            chosen.add(v)
    return store, sorted(chosen)


def build_carts(count: int, stores, variants, seed: int) -> list[tuple[int, str, int, str]]:
    """Open 3-line carts of new anonymous shoppers, bulk-inserted (not timed).

    Returns (cart id, token, store id, store code) per cart.
    """
    from django.db import connection

    from customers.models import Channel, Customer, Identity, IdentityKind
    from inventory.models import Location
    from orders.models import Cart, CartLine

    rng = random.Random(seed)
    codes = dict(Location.objects.filter(pk__in=stores).values_list("pk", "code"))
    customers = Customer.objects.bulk_create([Customer() for _ in range(count)], batch_size=2000)
    Identity.objects.bulk_create(
        [
            Identity(
                customer=c,
                kind=IdentityKind.ANONYMOUS,
                value=f"bench-{seed}-{c.pk}",
                source=Channel.WEB,
            )
            for c in customers
        ],
        batch_size=2000,
    )
    carts = Cart.objects.bulk_create(
        [Cart(customer=c, channel=Channel.WEB) for c in customers], batch_size=2000
    )
    lines, result = [], []
    for cart in carts:
        store, chosen = basket(rng, stores, variants)
        lines += [CartLine(cart=cart, variant_id=v, quantity=1) for v in chosen]
        result.append((cart.pk, cart.token, store, codes[store]))
    CartLine.objects.bulk_create(lines, batch_size=3000)
    # Fresh statistics for the rows just bulk-inserted, as autovacuum would have them in steady
    # state (stale ones make the planner expect many lines per cart); settle() also vacuums.
    with connection.cursor() as cur:
        cur.execute("ANALYZE customers_customer, customers_identity, orders_cart, orders_cartline")
    return result


def check_invariants() -> str:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT count(*) FILTER (WHERE s.reserved < 0 OR s.reserved > s.on_hand),
                   count(*) FILTER (WHERE s.on_hand <> coalesce(m.total, 0)),
                   count(*) FILTER (WHERE s.reserved <> coalesce(r.total, 0))
              FROM inventory_stocklevel s
              LEFT JOIN (SELECT variant_id, location_id, sum(delta) AS total
                           FROM inventory_stockmovement GROUP BY 1, 2) m
                     USING (variant_id, location_id)
              LEFT JOIN (SELECT variant_id, location_id, sum(quantity) AS total
                           FROM inventory_reservation WHERE status = 'active' GROUP BY 1, 2) r
                     USING (variant_id, location_id)
            """
        )
        bad_range, bad_ledger, bad_reserved = cur.fetchone()
    if bad_range or bad_ledger or bad_reserved:
        return (
            f"VIOLATED: {bad_range} rows outside 0 ≤ reserved ≤ on_hand, {bad_ledger} rows "
            f"on_hand ≠ ledger, {bad_reserved} rows reserved ≠ active holds"
        )
    return "ok (0 ≤ reserved ≤ on_hand, on_hand = ledger, reserved = active holds)"


# --- pgbench ---------------------------------------------------------------------------------


def pgbench_ceiling(args) -> float:
    """Conditional single-statement UPDATE on random store stock rows; reserved reset after."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_ids")
        cur.execute(
            "CREATE TABLE bench_ids AS SELECT (row_number() OVER (ORDER BY md5(s.id::text))) - 1"
            " AS n, s.id FROM inventory_stocklevel s JOIN inventory_location l"
            " ON l.id = s.location_id WHERE l.kind = 'store' LIMIT 50000"
        )
        cur.execute("ALTER TABLE bench_ids ADD PRIMARY KEY (n)")
        cur.execute("ANALYZE bench_ids")
        cur.execute("SELECT count(*) FROM bench_ids")
        count = cur.fetchone()[0]
        # Rows the script may reset afterwards: no holds on them yet (fresh or kept database).
        cur.execute(
            "CREATE TEMP TABLE bench_before AS SELECT s.id, s.reserved FROM inventory_stocklevel"
            " s JOIN bench_ids b ON b.id = s.id"
        )
    script = (
        f"\\set i random(0, {count - 1})\n"
        "UPDATE inventory_stocklevel SET reserved = reserved + 1 "
        "WHERE id = (SELECT id FROM bench_ids WHERE n = :i) AND on_hand - reserved >= 1;\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write(script)
        path = fh.name
    try:
        out = subprocess.run(
            ["pgbench", "-n", "-h", args.host, "-U", args.user, "-c", str(args.workers),
             "-j", str(min(args.workers, os.cpu_count() or 2)), "-T", str(int(args.seconds)),
             "-f", path, args.database],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(path)
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE inventory_stocklevel s SET reserved = b.reserved FROM bench_before b"
            " WHERE b.id = s.id AND s.reserved <> b.reserved"
        )
        cur.execute("DROP TABLE bench_before")
        cur.execute("DROP TABLE bench_ids")
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    return float(match.group(1))


# --- Service path ----------------------------------------------------------------------------


def _service_worker(job):
    args, mode, carts, stores, variants, barrier, seed = job
    setup_django(args)
    from django.db import connection

    from inventory.models import Location, Variant
    from omni.exceptions import DomainError
    from orders import services
    from orders.models import Cart

    locations = Location.objects.in_bulk(stores)
    catalogue_ = Variant.objects.select_related("product").in_bulk(variants)
    rng = random.Random(seed)
    counter = [0]

    def full_sequence():
        counter[0] += 1
        store, chosen = basket(rng, stores, variants)
        cart = services.cart_for_device(
            anonymous_id=f"svc-{args.run}-{seed}-{counter[0]}", channel="web"
        )
        for v in chosen:
            cart = services.add_to_cart(cart=cart, variant=catalogue_[v], quantity=1, channel="web")
        return cart, locations[store]

    def prebuilt():
        cart, store = loaded.pop()
        return cart, locations[store]

    # The calls' arguments are ready before the clock starts (Cart rows loaded in one query), so
    # the rate is that of place_order itself.
    objects = Cart.objects.in_bulk([c[0] for c in carts]) if mode != "full" else {}
    loaded = [(objects[c[0]], c[2]) for c in carts] if mode != "full" else []
    next_cart = full_sequence if mode == "full" else prebuilt
    for _ in range(2):  # warm-up: imports, prepared statements, caches
        cart, location = next_cart()
        services.place_order(cart=cart, fulfilment="pickup", location=location)
    connection.ensure_connection()
    barrier.wait()
    done, errors, timings = 0, Counter(), []
    deadline = time.perf_counter() + args.seconds
    ran_out = False
    while time.perf_counter() < deadline:
        if not loaded and mode != "full":
            ran_out = True
            break
        cart, location = next_cart()
        started = time.perf_counter()
        try:
            services.place_order(
                cart=cart,
                fulfilment="pickup",
                location=location,
                idempotency_key=uuid.uuid4().hex,
            )
        except DomainError as exc:
            errors[getattr(exc, "code", type(exc).__name__)] += 1
            continue
        timings.append(time.perf_counter() - started)
        done += 1
    return done, errors, timings, ran_out


def service_rate(args, mode, carts, stores, variants):
    ctx = mp.get_context("spawn")
    barrier = ctx.Manager().Barrier(args.workers)
    shares = [carts[i :: args.workers] for i in range(args.workers)]
    with ctx.Pool(args.workers) as pool:
        results = pool.map(
            _service_worker,
            [
                (args, mode, shares[i], stores, variants, barrier, 1000 * (mode == "full") + i)
                for i in range(args.workers)
            ],
        )
    return _summary(args, results)


def _summary(args, results) -> dict:
    done = sum(r[0] for r in results)
    errors = sum((r[1] for r in results), Counter())
    timings = sorted(t for r in results for t in r[2])
    return {
        "rate": done / args.seconds,
        "done": done,
        "errors": dict(errors),
        "p50": _pct(timings, 0.50),
        "p95": _pct(timings, 0.95),
        "ran_out": any(r[3] for r in results),
    }


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[max(0, int(len(values) * q + 0.5) - 1)] * 1000


# --- API path --------------------------------------------------------------------------------


class Client:
    """A keep-alive JSON client (reconnects when gunicorn's sync worker closes the socket)."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method, path, body=None, headers=None):
        headers = {"Content-Type": "application/json", **(headers or {})}
        payload = json.dumps(body).encode() if body is not None else None
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=payload, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt:
                    raise
        return response.status, (json.loads(data) if data else None)


def _api_checkout(client, token, code, n, tag):
    return client.call(
        "POST",
        "/api/v1/checkout/",
        {"fulfilment": "pickup", "location": code, "email": f"shopper-{tag}-{n}@bench.example"},
        {"X-Cart-Token": token, "Idempotency-Key": uuid.uuid4().hex},
    )


def _api_worker(job):
    args, mode, carts, skus, stores, barrier, seed = job
    rng = random.Random(seed)
    client = Client(args.port)
    counter = [0]

    def full_sequence():
        """New cart and 3 lines; returns (token, store code, checkout call's status, seconds)."""
        counter[0] += 1
        status, cart = client.call(
            "POST",
            "/api/v1/carts/",
            {"anonymous_id": f"api-{args.run}-{seed}-{counter[0]}", "channel": "web"},
        )
        if status != 201:
            return None, status
        store_id, code = rng.choice(stores)
        _, chosen = basket(rng, [store_id], list(skus))
        for v in chosen:
            status, _body = client.call(
                "POST",
                "/api/v1/carts/current/lines/",
                {"sku": skus[v], "quantity": 1},
                {"X-Cart-Token": cart["token"]},
            )
            if status != 200:
                return None, status
        return (cart["token"], code), None

    def prebuilt():
        _cart_id, token, _store, code = carts.pop()
        return (token, code), None

    next_cart = full_sequence if mode == "full" else prebuilt
    for _ in range(2):  # warm-up
        cart, _ = next_cart()
        if cart:
            _api_checkout(client, *cart, -counter[0], f"{args.run}-{seed}")
    barrier.wait()
    done, errors, timings = 0, Counter(), []
    deadline = time.perf_counter() + args.seconds
    ran_out = False
    while time.perf_counter() < deadline:
        if not carts and mode != "full":
            ran_out = True
            break
        cart, failed = next_cart()
        if cart is None:
            errors[f"cart/lines HTTP {failed}"] += 1
            continue
        started = time.perf_counter()
        status, body = _api_checkout(client, *cart, done, f"{args.run}-{seed}")
        elapsed = time.perf_counter() - started
        if status != 201:
            code = (body or {}).get("error", {}).get("code", "") if isinstance(body, dict) else ""
            errors[f"checkout HTTP {status} {code}".strip()] += 1
            continue
        timings.append(elapsed)
        done += 1
    return done, errors, timings, ran_out


def start_gunicorn(args):
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "omni.wsgi", "--workers", "2", "--bind",
         f"127.0.0.1:{args.port}", "--log-level", "warning"],
        cwd=ROOT, env=django_env(args),
    )  # fmt: skip
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=1)
            conn.request("GET", "/health/")
            conn.getresponse().read()
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not start")


def api_rate(args, mode, carts, skus, stores):
    ctx = mp.get_context("spawn")
    barrier = ctx.Manager().Barrier(args.workers)
    shares = [carts[i :: args.workers] for i in range(args.workers)]
    with ctx.Pool(args.workers) as pool:
        results = pool.map(
            _api_worker,
            [
                (args, mode, shares[i], skus, stores, barrier, 2000 + 100 * (mode == "full") + i)
                for i in range(args.workers)
            ],
        )
    return _summary(args, results)


def api_exists(path: str) -> bool:
    from django.urls import Resolver404, resolve

    try:
        resolve(path)
    except Resolver404:
        return False
    return True


# --- Pickup options --------------------------------------------------------------------------


def _points(rng):
    return 36.5 + rng.random() * 7, -8.5 + rng.random() * 11


def finder_latency(args, stores, variants) -> tuple[float, float]:
    from inventory import selectors

    rng = random.Random(7)
    timings = []
    for i in range(args.finder_calls + 20):
        _, chosen = basket(rng, stores, variants)
        lat, lon = _points(rng)
        started = time.perf_counter()
        options = selectors.pickup_options(
            latitude=lat, longitude=lon, lines=dict.fromkeys(chosen, 1)
        )
        elapsed = time.perf_counter() - started
        assert options
        if i >= 20:  # warm-up
            timings.append(elapsed)
    timings.sort()
    return _pct(timings, 0.5), _pct(timings, 0.95)


def finder_api_latency(args, carts) -> tuple[float, float, Counter]:
    rng = random.Random(8)
    client = Client(args.port)
    timings, errors = [], Counter()
    for i in range(args.finder_calls + 20):
        _cart_id, token, _store, _code = carts[i % len(carts)]
        lat, lon = _points(rng)
        started = time.perf_counter()
        status, _body = client.call(
            "GET",
            f"/api/v1/carts/current/pickup-options/?latitude={lat:.5f}&longitude={lon:.5f}",
            headers={"X-Cart-Token": token},
        )
        elapsed = time.perf_counter() - started
        if status != 200:
            errors[status] += 1
        elif i >= 20:
            timings.append(elapsed)
    timings.sort()
    return _pct(timings, 0.5), _pct(timings, 0.95), errors


# --- Profile ---------------------------------------------------------------------------------


def profile(args, stores, variants):
    """Queries of one checkout through the services (with their server round-trip times), the
    mean wall time of each step over 100 checkouts in one process, and a cProfile of 200
    place_order calls."""
    import cProfile
    import pstats
    from contextlib import contextmanager

    from django.db import connection

    from inventory.models import Location, Variant
    from orders import services
    from orders.models import Cart

    rng = random.Random(99)
    catalogue_ = Variant.objects.select_related("product").in_bulk(variants)
    locations = Location.objects.in_bulk(stores)

    @contextmanager
    def captured(into: list):
        def wrapper(execute, sql, params, many, context):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                into.append((time.perf_counter() - started, sql))

        with connection.execute_wrapper(wrapper):
            yield into

    steps = ("cart_for_device", "3 × add_to_cart", "place_order")

    @contextmanager
    def timed_step(name, queries, seconds, cpu):
        started, started_cpu = time.perf_counter(), time.process_time()
        with captured(queries[name]):
            yield
        seconds[name] += time.perf_counter() - started
        cpu[name] += time.process_time() - started_cpu

    def checkout(queries=None, seconds=None, cpu=None):
        queries = queries if queries is not None else {s: [] for s in steps}
        seconds = seconds if seconds is not None else dict.fromkeys(steps, 0.0)
        cpu = cpu if cpu is not None else dict.fromkeys(steps, 0.0)
        store, chosen = basket(rng, stores, variants)
        with timed_step(steps[0], queries, seconds, cpu):
            cart = services.cart_for_device(anonymous_id=uuid.uuid4().hex, channel="web")
        with timed_step(steps[1], queries, seconds, cpu):
            for v in chosen:
                cart = services.add_to_cart(
                    cart=cart, variant=catalogue_[v], quantity=1, channel="web"
                )
        cart = Cart.objects.get(pk=cart.pk)  # as the API view has it: fetched by token
        with timed_step(steps[2], queries, seconds, cpu):
            services.place_order(
                cart=cart,
                fulfilment="pickup",
                location=locations[store],
                idempotency_key=uuid.uuid4().hex,
            )
        return queries

    for _ in range(5):
        checkout()
    queries = checkout()
    print(
        "statements per call (BEGIN and COMMIT are not listed; SAVEPOINTs are; nor are those run "
        "on psycopg's own cursor: the hold, and place_order's locks and reads, pipelined):"
    )
    for name in steps:
        print(f"\n{name}: {len(queries[name])} statements")
        for i, (elapsed, sql) in enumerate(queries[name], 1):
            sql = " ".join(sql.split())
            print(f"{i:>3} {elapsed * 1000:>6.2f} ms  {sql[:150]}")
    runs = 100
    seconds = dict.fromkeys(steps, 0.0)
    cpu = dict.fromkeys(steps, 0.0)
    counts = {s: [] for s in steps}
    for _ in range(runs):
        checkout(counts, seconds, cpu)
    db = {s: sum(t for t, _ in counts[s]) for s in steps}
    print(f"\nmean per checkout over {runs}, one process:")
    print(f"  {'':<18}{'wall':>9}{'in queries':>12}{'Python CPU':>12}{'statements':>12}")
    for name in steps:
        print(
            f"  {name:<18}{seconds[name] / runs * 1000:>6.1f} ms{db[name] / runs * 1000:>9.1f} ms"
            f"{cpu[name] / runs * 1000:>9.1f} ms{len(counts[name]) / runs:>12.0f}"
        )

    api_statements(stores, variants, captured)

    carts = build_carts(200, stores, variants, seed=int(time.time()))
    jobs = [(Cart.objects.get(pk=c[0]), locations[c[2]]) for c in carts]
    profiler = cProfile.Profile()
    profiler.enable()
    for cart, location in jobs:
        services.place_order(
            cart=cart, fulfilment="pickup", location=location, idempotency_key=uuid.uuid4().hex
        )
    profiler.disable()
    print(f"\ncProfile of {len(jobs)} place_order calls (project code, by cumulative time):")
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(r"/(orders|inventory|customers|omni)/", 30)
    stats.sort_stats("tottime").print_stats(15)


def api_statements(stores, variants, captured):
    """Statements and in-process time per API request of one checkout (Django's test client)."""
    from django.test import Client

    from inventory.models import Location, Variant

    rng = random.Random(5)
    skus = dict(Variant.objects.values_list("pk", "sku"))
    codes = dict(Location.objects.filter(pk__in=stores).values_list("pk", "code"))
    client = Client(SERVER_NAME="127.0.0.1")
    steps = [
        "POST carts/",
        "3 × POST carts/current/lines/",
        "GET pickup-options/",
        "POST checkout/",
    ]
    counts = dict.fromkeys(steps, 0)
    last: dict[str, list] = {}
    seconds = dict.fromkeys(steps, 0.0)
    runs = 30

    def timed(step, method, path, body=None, **headers):
        queries = []
        started = time.perf_counter()
        with captured(queries):
            response = getattr(client, method)(
                path, json.dumps(body) if body else None, content_type="application/json",
                headers=headers,
            )  # fmt: skip
        seconds[step] += time.perf_counter() - started
        counts[step] += len(queries)
        last[step] = queries
        assert response.status_code in (200, 201), (path, response.status_code, response.content)
        return response.json()

    for i in range(runs + 3):
        if i == 3:  # warm-up done
            counts.update(dict.fromkeys(steps, 0))
            seconds.update(dict.fromkeys(steps, 0.0))
        store, chosen = basket(rng, stores, variants)
        token = timed(steps[0], "post", "/api/v1/carts/", {"anonymous_id": uuid.uuid4().hex})[
            "token"
        ]
        for v in chosen:
            timed(
                steps[1], "post", "/api/v1/carts/current/lines/", {"sku": skus[v], "quantity": 1},
                X_Cart_Token=token,
            )  # fmt: skip
        lat, lon = _points(rng)
        timed(
            steps[2], "get",
            f"/api/v1/carts/current/pickup-options/?latitude={lat:.5f}&longitude={lon:.5f}",
            X_Cart_Token=token,
        )  # fmt: skip
        timed(
            steps[3], "post", "/api/v1/checkout/",
            {"fulfilment": "pickup", "location": codes[store], "email": f"{token[:12]}@b.example"},
            X_Cart_Token=token, Idempotency_Key=uuid.uuid4().hex,
        )  # fmt: skip
    print(f"\nAPI requests, in process (test client, no HTTP), mean over {runs} checkouts:")
    for step in steps:
        print(
            f"  {step:<32}{seconds[step] / runs * 1000:>8.1f} ms"
            f"{counts[step] / runs:>6.0f} statements"
        )
    for step in ("POST checkout/", "GET pickup-options/"):
        print(f"\n{step}, one request: {len(last[step])} statements")
        for i, (elapsed, sql) in enumerate(last[step], 1):
            print(f"{i:>3} {elapsed * 1000:>6.2f} ms  {' '.join(sql.split())[:150]}")


# --- Main ------------------------------------------------------------------------------------


def main():
    args = parse_args()
    created = create_database(args)
    setup_django(args)
    try:
        if created:
            populate()
        else:
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
        stores, variants = catalogue()
        if args.profile:
            profile(args, stores, variants)
            return
        run(args, stores, variants)
    finally:
        if not args.keep_db:
            drop_database(args)


# Orders placed (untimed) before the measured phases, so that the tables checkouts read and
# check foreign keys against are not empty: a shop has a history. With autovacuum off here, an
# empty table's statistics would stay "empty" for the whole run, and the plans PostgreSQL keeps
# per connection (the idempotency look-up, the foreign-key checks on orders_order) would scan a
# table that grows by thousands of rows during the run.
HISTORY = 4_000


def history(args, carts, stores, variants) -> None:
    started = time.perf_counter()
    quick = argparse.Namespace(**{**vars(args), "seconds": 600.0})
    result = service_rate(quick, "prebuilt", carts, stores, variants)
    print(f"history: {result['done']:,} orders placed in {time.perf_counter() - started:.0f} s "
          "(not measured)")  # fmt: skip


def run(args, stores, variants):
    from django.db import connection

    from inventory.models import Location, Variant

    per_worker = max(300, int(args.seconds * 60))
    started = time.perf_counter()
    service_carts = build_carts(per_worker * args.workers, stores, variants, seed=1)
    api_carts = (
        [] if args.skip_api else build_carts(per_worker * args.workers, stores, variants, seed=2)
    )
    spare_carts = build_carts(50, stores, variants, seed=3)
    history_carts = build_carts(HISTORY, stores, variants, seed=4)
    print(f"built {len(service_carts) + len(api_carts) + 50 + HISTORY:,} carts in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    connection.close()
    history(args, history_carts, stores, variants)
    print(
        f"machine: {os.cpu_count()} cores; clients: {args.workers}; {args.seconds:.0f} s per run; "
        f"{len(stores)} stores, {len(variants)} variants, {LINES}-line pickup checkouts"
    )
    # The interpreter matters (scripts/python.sh): a default pyenv build is slower than a
    # distribution's optimised one.
    print(f"python: {platform.python_version()} at {os.path.realpath(sys.executable)}")

    settle()
    pg = pgbench_ceiling(args)
    rows = []
    settle()
    connection.close()
    svc_only = service_rate(args, "prebuilt", service_carts, stores, variants)
    rows.append(("service: place_order alone", svc_only, "≥ 300/s"))
    settle()
    connection.close()
    svc_full = service_rate(args, "full", [], stores, variants)
    rows.append(("service: cart + 3 lines + place_order", svc_full, ""))

    settle()
    finder = finder_latency(args, stores, variants)
    finder_api = None
    api_note = ""
    if args.skip_api:
        api_note = "API path skipped (--skip-api)"
    elif not api_exists("/api/v1/checkout/"):
        api_note = "API path not measured: /api/v1/checkout/ does not exist yet"
    else:
        skus = dict(Variant.objects.values_list("pk", "sku"))
        codes = list(
            Location.objects.filter(pk__in=stores).order_by("pk").values_list("pk", "code")
        )
        connection.close()
        server = start_gunicorn(args)
        try:
            settle()
            api_only = api_rate(args, "prebuilt", api_carts, skus, codes)
            # The figure: checkouts of 3-line carts through the API, as place_order's
            # row is through the service; building the cart (4 more requests) is shown apart.
            rows.append(("API: POST checkout alone", api_only, "≥ 100/s"))
            settle()
            api_full = api_rate(args, "full", [], skus, codes)
            rows.append(("API: cart + 3 lines + checkout", api_full, ""))
            if api_exists("/api/v1/carts/current/pickup-options/"):
                finder_api = finder_api_latency(args, spare_carts)
        finally:
            server.terminate()
            server.wait(10)

    print()
    print(
        f"{'':<40}{'checkouts/s':>12}{'vs pgbench':>12}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'target':>10}  errors"
    )
    print(f"{'pgbench conditional UPDATE (tps)':<40}{pg:>12.0f}{1:>12.2f}")
    for label, r, target in rows:
        errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "0"
        if r["ran_out"]:
            errors += " (RAN OUT OF PRE-BUILT CARTS: rate is a floor)"
        print(
            f"{label:<40}{r['rate']:>12.1f}{r['rate'] / pg:>12.3f}{r['p50']:>9.1f}{r['p95']:>9.1f}"
            f"{target:>10}  {errors}"
        )
    print("(p50/p95: latency of the place_order call / the POST /api/v1/checkout/ request)")
    print()
    print(f"{'pickup options, 3 lines, 500 stores':<40}{'p50 ms':>12}{'p95 ms':>12}{'target':>10}")
    print(f"{'  inventory.selectors.pickup_options':<40}{finder[0]:>12.1f}{finder[1]:>12.1f}"
          f"{'≤ 50 ms':>10}")  # fmt: skip
    if finder_api is not None:
        errors = ", ".join(f"HTTP {k}: {v}" for k, v in finder_api[2].items()) or "0"
        print(
            f"{'  GET carts/current/pickup-options/':<40}{finder_api[0]:>12.1f}"
            f"{finder_api[1]:>12.1f}{'≤ 50 ms':>10}  errors {errors}"
        )
    if api_note:
        print(api_note)
    print(f"stock invariants after the run: {check_invariants()}")


if __name__ == "__main__":
    main()
