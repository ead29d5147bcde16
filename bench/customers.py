"""Customers benchmark (run on demand, prints figures; not part of the test suite).

    .venv/bin/python bench/customers.py                    # both parts
    .venv/bin/python bench/customers.py --skip-traits      # ingest only

1. Event ingest through the batch API (``POST /api/v1/events/``) served by gunicorn with 2 sync
   workers, sustained for --seconds (default 60), batches of 500 events: half of the events
   anonymous-only with new device ids, 40 % from returning devices, 10 % identifying (an e-mail
   with the device id: identity resolution, stitching). Prints events/s.
2. Full trait recompute (``customers.traits.recompute_traits``) for 1,000,000 customers and
   10,000,000 events generated in SQL. Prints seconds.

Uses its own PostgreSQL databases (omni_bench_events, omni_bench_traits).
"""

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlpath import sql_path  # noqa: E402  (bench/, beside this script)

PORT = 8799


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-traits", action="store_true")
    parser.add_argument(
        "--orm",
        action="store_true",
        help="run the queries modules' ORM reference twins (OMNI_FAST_SQL=0), not the fast SQL",
    )
    return sql_path(parser.parse_args())


def recreate_database(host, name):
    import psycopg

    with psycopg.connect(f"host={host} user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def django_env(host, name):
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://postgres@{host}:5432/{name}",
        DJANGO_SETTINGS_MODULE="omni.settings",
        DEBUG="False",
        SECRET_KEY="bench-" + "x" * 60,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="False",
        CONN_MAX_AGE="600",
        API_THROTTLE_EVENTS="10000000/minute",
        API_THROTTLE_USER="10000000/minute",
        API_THROTTLE_ANON="10000000/minute",
    )
    return env


def manage(env, *args):
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def make_token(env) -> str:
    code = (
        "from django.contrib.auth.models import Permission;"
        "from rest_framework.authtoken.models import Token;"
        "from omni.models import User;"
        "u,_=User.objects.get_or_create(email='ingest@bench.example');"
        "u.user_permissions.add(Permission.objects.get(codename='add_event'));"
        "print(Token.objects.get_or_create(user=u)[0].key)"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().splitlines()[-1]


def _batches(seed: int, count: int):
    """Pre-built request bodies so the client spends its time sending, not building."""
    rng = random.Random(seed)
    bodies = []
    returning: list[str] = []
    for b in range(count):
        batch = []
        for i in range(500):
            roll = rng.random()
            message_id = f"c{seed}-b{b}-e{i}"
            if roll < 0.5 or not returning:
                device = f"dev-{seed}-{b}-{i}"
                returning.append(device)
                event = {"type": "track", "event": "product_viewed", "anonymous_id": device}
            elif roll < 0.9:
                event = {"type": "page", "anonymous_id": rng.choice(returning)}
            else:
                device = rng.choice(returning)
                event = {
                    "type": "track",
                    "event": "checkout_started",
                    "anonymous_id": device,
                    "email": f"{device}@bench.example",
                }
            event.update(
                message_id=message_id,
                channel="web",
                properties={"category": rng.choice(["shoes", "bags", "dresses"]), "n": i},
            )
            batch.append(event)
        bodies.append(json.dumps({"batch": batch}).encode())
    return bodies


def _client(args_tuple):
    seed, token, seconds, host = args_tuple
    bodies = _batches(seed, int(seconds * 4) + 10)
    conn = http.client.HTTPConnection(host, PORT, timeout=60)
    headers = {"Content-Type": "application/json", "Authorization": f"Token {token}"}
    sent = errors = 0
    started = time.time()
    deadline = time.perf_counter() + seconds
    for body in bodies:
        if time.perf_counter() >= deadline:
            break
        conn.request("POST", "/api/v1/events/", body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        if response.status != 200:
            errors += 1
            continue
        results = json.loads(payload)
        sent += sum(1 for r in results if r["status"] == "created")
        errors += sum(1 for r in results if r["status"] == "error")
    return sent, errors, started, time.time()


def bench_ingest(args):
    name = "omni_bench_events"
    recreate_database(args.host, name)
    env = django_env(args.host, name)
    manage(env, "migrate", "--noinput", "-v0")
    token = make_token(env)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "omni.wsgi", "--workers", "2", "--bind",
         f"127.0.0.1:{PORT}", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        for _ in range(50):
            try:
                http.client.HTTPConnection("127.0.0.1", PORT, timeout=1).request("GET", "/health/")
                break
            except OSError:
                time.sleep(0.2)
        # Warm-up (connections, imports) before the measured run.
        _client((999, token, 3, "127.0.0.1"))
        ctx = mp.get_context("spawn")
        with ctx.Pool(args.clients) as pool:
            results = pool.map(
                _client, [(seed, token, args.seconds, "127.0.0.1") for seed in range(args.clients)]
            )
        # From the first client's first request to the last client's last answer.
        elapsed = max(r[3] for r in results) - min(r[2] for r in results)
    finally:
        server.terminate()
        server.wait(10)
    created = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    print(
        f"ingest: {created} events stored in {elapsed:.1f} s → {created / elapsed:,.0f} events/s "
        f"(gunicorn 2 workers, {args.clients} clients, batches of 500, errors: {errors})"
    )


def bench_traits(args):
    name = "omni_bench_traits"
    recreate_database(args.host, name)
    env = django_env(args.host, name)
    manage(env, "migrate", "--noinput", "-v0")
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO customers_customer (first_name, last_name, preferred_language, home_store,"
            " status, is_anonymous, created_at, updated_at)"
            " SELECT 'N' || g, 'L', 'es', '', 'live', false, now(), now()"
            " FROM generate_series(1, %s) g",
            [args.customers],
        )
        cur.execute("SELECT min(id) FROM customers_customer")
        first = cur.fetchone()[0]
        cur.execute(
            """
            INSERT INTO customers_event (customer_id, channel, type, name, properties, occurred_at,
                                         received_at)
            SELECT %s + (g %% %s),
                   (ARRAY['web','app','store','email'])[1 + (g %% 4)],
                   CASE WHEN g %% 10 = 0 THEN 'order_placed' ELSE 'product_viewed' END, '',
                   CASE WHEN g %% 10 = 0
                        THEN jsonb_build_object('total', ((g %% 20000) / 100.0)::text,
                                                'store', 'S' || (g %% 50),
                                                'category', 'C' || (g %% 12))
                        ELSE jsonb_build_object('category', 'C' || (g %% 12)) END,
                   now() - make_interval(mins => (g %% 200000)), now()
            FROM generate_series(1, %s) g
            """,
            [first, args.customers, args.events],
        )
        cur.execute("ANALYZE customers_event")
        cur.execute("ANALYZE customers_customer")
    connection.commit() if not connection.get_autocommit() else None
    print(f"generated {args.customers:,} customers and {args.events:,} events in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    from customers.traits import recompute_traits

    started = time.perf_counter()
    count = recompute_traits()
    elapsed = time.perf_counter() - started
    print(f"trait recompute: {count:,} customers, {args.events:,} events in {elapsed:.1f} s")


def main():
    args = parse_args()
    print(f"machine: {os.cpu_count()} cores")
    if not args.skip_ingest:
        bench_ingest(args)
    if not args.skip_traits:
        bench_traits(args)


if __name__ == "__main__":
    main()
