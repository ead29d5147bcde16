"""Inventory benchmark (run on demand, prints figures; not part of the test suite).

    .venv/bin/python bench/inventory.py            # populate (first run) and measure
    .venv/bin/python bench/inventory.py --seconds 20 --workers 8

Measures on PostgreSQL, in one run:
1. pgbench ceiling: a single-statement conditional UPDATE
   (``UPDATE ... SET reserved = reserved + 1 WHERE id = :id AND on_hand - reserved >= 1``)
   with N clients, on one hot row and on random rows;
2. reservations per second through ``inventory.services.reserve`` with N worker processes,
   on one hot variant and on random variants; the ratio to (1);
3. the pickup finder's median and p95 latency with 500 locations × 20,000 variants.

It uses its own database (default ``omni_bench``), created and filled on first use.
"""

import argparse
import multiprocessing as mp
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlpath import sql_path  # noqa: E402  (bench/, beside this script)

LOCATIONS = 500
VARIANTS = 20_000
HOT_STOCK = 1_000_000_000


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--database", default="omni_bench")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--finder-calls", type=int, default=500)
    parser.add_argument("--repopulate", action="store_true")
    parser.add_argument(
        "--orm",
        action="store_true",
        help="run the queries modules' ORM reference twins (OMNI_FAST_SQL=0), not the fast SQL",
    )
    return sql_path(parser.parse_args())


def setup_django(args):
    os.environ["DATABASE_URL"] = f"postgres://{args.user}@{args.host}:5432/{args.database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni.settings")
    os.environ["CONN_MAX_AGE"] = "600"
    os.environ["DEBUG"] = "False"  # no query log in the measured processes
    import django

    django.setup()


def ensure_database(args):
    import psycopg

    with psycopg.connect(
        f"host={args.host} user={args.user} dbname=postgres", autocommit=True
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [args.database]
        ).fetchone()
        if exists and args.repopulate:
            conn.execute(f'DROP DATABASE "{args.database}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{args.database}"')
            return True
    return False


def populate():
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO inventory_category (name, slug, parent_id) VALUES ('Bench', 'bench', NULL)"
        )
        cur.execute(
            """
            INSERT INTO inventory_product (name, slug, category_id, brand, description, tax_class,
                                           active, created_at, updated_at)
            SELECT 'Bench product ' || g, 'bench-' || g, c.id, '', '', 'standard', true, now(), now()
            FROM generate_series(1, %s) g, inventory_category c WHERE c.slug = 'bench'
            """,
            [VARIANTS // 10],
        )
        cur.execute(
            """
            INSERT INTO inventory_variant (product_id, sku, gtin, size, colour, price, active)
            SELECT p.id, 'B' || lpad(((p.n - 1) * 10 + s)::text, 6, '0'), NULL, 'S' || s, 'Black',
                   19.95, true
            FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM inventory_product) p,
                 generate_series(1, 10) s
            """
        )
        cur.execute(
            """
            INSERT INTO inventory_location (kind, code, name, address, city, postal_code, country,
                latitude, longitude, timezone, opening_hours, is_pickup_point, pickup_hold_days,
                ships_to_customers, sells_online, active)
            SELECT CASE WHEN g <= 20 THEN 'warehouse' ELSE 'store' END, 'L' || g, 'Location ' || g,
                   '', '', '', 'ES', 36 + random() * 7.5, -9 + random() * 12, 'Europe/Madrid',
                   '{}'::jsonb, g > 20, 7, g <= 20, true, true
            FROM generate_series(1, %s) g
            """,
            [LOCATIONS],
        )
        cur.execute(
            """
            INSERT INTO inventory_stocklevel (variant_id, location_id, on_hand, reserved,
                safety_stock, in_transit, min_qty, max_qty, updated_at)
            SELECT v.id, l.id, CASE WHEN l.kind = 'warehouse' THEN 1000000 ELSE (random() * 6)::int END,
                   0, 0, 0, 0, 0, now()
            FROM inventory_variant v CROSS JOIN inventory_location l
            """
        )
        cur.execute("ANALYZE")
    print(
        f"populated {LOCATIONS} locations × {VARIANTS} variants in {time.perf_counter() - started:.0f} s"
    )


def prepare_rows():
    """Hot row: one store × one variant with (practically) unlimited stock. Random rows: 50,000
    warehouse rows (a million units each), so random reservations do not run out."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("UPDATE inventory_stocklevel SET reserved = 0 WHERE reserved <> 0")
        cur.execute("TRUNCATE inventory_reservation")
        cur.execute(
            "SELECT s.id, s.variant_id, s.location_id FROM inventory_stocklevel s "
            "JOIN inventory_location l ON l.id = s.location_id WHERE l.kind = 'store' "
            "ORDER BY s.location_id, s.variant_id LIMIT 1"
        )
        hot = cur.fetchone()
        cur.execute(
            "UPDATE inventory_stocklevel SET on_hand = %s WHERE id = %s", [HOT_STOCK, hot[0]]
        )
        cur.execute(
            "SELECT s.id, s.variant_id, s.location_id FROM inventory_stocklevel s "
            "JOIN inventory_location l ON l.id = s.location_id WHERE l.kind = 'warehouse' "
            "ORDER BY md5(s.id::text) LIMIT 50000"
        )
        pool = cur.fetchall()
    return hot, pool


def pgbench(args, script: str, clients: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write(script)
        path = fh.name
    try:
        out = subprocess.run(
            [
                "pgbench",
                "-n",
                "-h",
                args.host,
                "-U",
                args.user,
                "-c",
                str(clients),
                "-j",
                str(min(clients, os.cpu_count() or 2)),
                "-T",
                str(int(args.seconds)),
                "-f",
                path,
                args.database,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(path)
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    return float(match.group(1))


def _reserve_worker(args_tuple):
    db_args, lines, seconds, barrier, seed = args_tuple
    setup_django(db_args)
    from django.db import connection

    from inventory import services
    from inventory.exceptions import InsufficientStock

    rng = random.Random(seed)
    connection.ensure_connection()
    barrier.wait()
    done = failed = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        variant_id, location_id = lines[rng.randrange(len(lines))]
        try:
            services.reserve(
                lines=[
                    services.StockLine(variant_id=variant_id, location_id=location_id, quantity=1)
                ],
                owner=f"bench:{seed}:{done}",
            )
            done += 1
        except InsufficientStock:
            failed += 1
    return done, failed


def reserve_rate(args, lines) -> tuple[float, int]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Manager().Barrier(args.workers)
    with ctx.Pool(args.workers) as pool:
        results = pool.map(
            _reserve_worker,
            [(args, lines, args.seconds, barrier, i) for i in range(args.workers)],
        )
    done = sum(r[0] for r in results)
    failed = sum(r[1] for r in results)
    # The workers' own clocks run exactly args.seconds after the barrier.
    return done / args.seconds, failed


def finder_latency(args):
    from django.db import connection

    from inventory import selectors

    rng = random.Random(7)
    with connection.cursor() as cur:
        cur.execute("SELECT id FROM inventory_variant ORDER BY id")
        variant_ids = [row[0] for row in cur.fetchall()]
    timings = []
    for i in range(args.finder_calls + 20):
        lines = {rng.choice(variant_ids): rng.randint(1, 2) for _ in range(rng.randint(1, 3))}
        lat, lon = 36.5 + rng.random() * 7, -8.5 + rng.random() * 11
        started = time.perf_counter()
        options = selectors.pickup_options(latitude=lat, longitude=lon, lines=lines, limit=10)
        elapsed = (time.perf_counter() - started) * 1000
        if i >= 20:  # warm-up
            timings.append(elapsed)
        assert options is not None
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1]


def main():
    args = parse_args()
    created = ensure_database(args)
    setup_django(args)
    if created or args.repopulate:
        populate()
    else:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    hot, pool = prepare_rows()
    hot_id, hot_variant, hot_location = hot
    print(
        f"machine: {os.cpu_count()} cores; workers/clients: {args.workers}; {args.seconds:.0f} s per run"
    )

    hot_script = (
        f"UPDATE inventory_stocklevel SET reserved = reserved + 1 "
        f"WHERE id = {hot_id} AND on_hand - reserved >= 1;\n"
    )
    ids = [row[0] for row in pool]
    random_script = (
        f"\\set i random(0, {len(ids) - 1})\n"
        "UPDATE inventory_stocklevel SET reserved = reserved + 1 "
        "WHERE id = (SELECT id FROM bench_ids WHERE n = :i) AND on_hand - reserved >= 1;\n"
    )
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_ids")
        cur.execute("CREATE TABLE bench_ids (n int PRIMARY KEY, id bigint)")
        cur.execute(
            "INSERT INTO bench_ids SELECT n - 1, id FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(id, n)",
            [ids],
        )
        cur.execute("ANALYZE bench_ids")
    connection.close()

    pg_hot = pgbench(args, hot_script, args.workers)
    pg_random = pgbench(args, random_script, args.workers)
    prepare_rows()
    connection.close()
    omni_hot, hot_failed = reserve_rate(args, [(hot_variant, hot_location)])
    omni_random, random_failed = reserve_rate(args, [(row[1], row[2]) for row in pool])
    median, p95 = finder_latency(args)

    print()
    print(f"{'':<32}{'pgbench UPDATE':>16}{'reserve()':>14}{'ratio':>8}")
    print(
        f"{'hot variant (1 row), res/s':<32}{pg_hot:>16.0f}{omni_hot:>14.0f}{omni_hot / pg_hot:>8.2f}"
    )
    print(
        f"{'random variants, res/s':<32}{pg_random:>16.0f}{omni_random:>14.0f}"
        f"{omni_random / pg_random:>8.2f}"
    )
    print(f"(insufficient-stock answers: hot {hot_failed}, random {random_failed})")
    print(
        f"pickup finder, {LOCATIONS} locations × {VARIANTS} variants: "
        f"median {median:.1f} ms, p95 {p95:.1f} ms over {args.finder_calls} calls"
    )


if __name__ == "__main__":
    main()
