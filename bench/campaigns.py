"""Campaigns benchmark: the live count of a segment (run on demand; prints figures).

    .venv/bin/python bench/campaigns.py                  # 1,000,000 customers, 10,000,000 events
    .venv/bin/python bench/campaigns.py journeys         # the journey sweep (campaigns_journeys.py)
    .venv/bin/python bench/campaigns.py --customers 100000 --events 1000000 --repeat 5

Builds its own PostgreSQL database (omni_bench_campaigns) in SQL: customers (1 % merged, 1 %
erased), traits for 90 % of them, e-mail consent evidence (granted, some withdrawn later), 50
stores and events over 90 days, stored in time order as an append-only event log is (random
customers and types); this build is timed separately. Then it times, interleaved,
``--repeat`` times each (median printed):

A. a 3-condition segment: a trait (monetary score ≥ 4), a consent (e-mail marketing granted
   now: the latest row wins) and an event in a window (cart_updated in the last 7 days);
B. trait and profile conditions only (recency ≥ 4, orders ≥ 2, language es, home store one of
   ten);

each through the compiler (``campaigns.selectors.count_segment``: compiling included) and
written by hand in SQL (two hand forms of the consent rule for A: the faster one is the
reference). Targets: A ≤ 1 s, B ≤ 250 ms, and each ≤ 1.25 × its hand-written SQL. C (consent
alone, no target) shows why the compiler reads consent as one set where nothing narrows it.
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

DATABASE = "omni_bench_campaigns"
STORES = [f"S{n}" for n in range(50)]
TEN_STORES = STORES[:10]

SEGMENT_A = {
    "op": "all",
    "rules": [
        {"type": "trait", "field": "monetary_score", "op": ">=", "value": 4},
        {"type": "consent", "channel": "email", "purpose": "marketing"},
        {"type": "event", "event": "cart_updated", "within": 7, "unit": "days"},
    ],
}
SEGMENT_B = {
    "op": "all",
    "rules": [
        {"type": "trait", "field": "recency_score", "op": ">=", "value": 4},
        {"type": "trait", "field": "orders_count", "op": ">=", "value": 2},
        {"type": "profile", "field": "language", "op": "=", "value": "es"},
        {"type": "profile", "field": "home_store", "op": "in", "value": TEN_STORES},
    ],
}

HAND_A_LATEST_ROW = """
SELECT count(*) FROM customers_customer c
JOIN customers_customertraits t ON t.customer_id = c.id
WHERE c.status = 'live' AND t.monetary_score >= 4
  AND (SELECT k.state FROM customers_consent k
       WHERE k.customer_id = c.id AND k.channel = 'email' AND k.purpose = 'marketing'
       ORDER BY k.created_at DESC, k.id DESC LIMIT 1) = 'granted'
  AND c.id IN (SELECT e.customer_id FROM customers_event e
               WHERE e.type = 'cart_updated' AND e.occurred_at >= %(since)s)
"""
HAND_A_DISTINCT_ON = """
SELECT count(*) FROM customers_customer c
JOIN customers_customertraits t ON t.customer_id = c.id
WHERE c.status = 'live' AND t.monetary_score >= 4
  AND c.id IN (SELECT x.customer_id FROM (
        SELECT DISTINCT ON (k.customer_id) k.customer_id, k.state FROM customers_consent k
        WHERE k.channel = 'email' AND k.purpose = 'marketing'
        ORDER BY k.customer_id, k.created_at DESC, k.id DESC) x
      WHERE x.state = 'granted')
  AND c.id IN (SELECT e.customer_id FROM customers_event e
               WHERE e.type = 'cart_updated' AND e.occurred_at >= %(since)s)
"""
SEGMENT_C = {"op": "all", "rules": [{"type": "consent", "channel": "email"}]}
HAND_C_LATEST_ROW = """
SELECT count(*) FROM customers_customer c
WHERE c.status = 'live'
  AND (SELECT k.state FROM customers_consent k
       WHERE k.customer_id = c.id AND k.channel = 'email' AND k.purpose = 'marketing'
       ORDER BY k.created_at DESC, k.id DESC LIMIT 1) = 'granted'
"""
HAND_C_DISTINCT_ON = """
SELECT count(*) FROM customers_customer c
WHERE c.status = 'live'
  AND c.id IN (SELECT x.customer_id FROM (
        SELECT DISTINCT ON (k.customer_id) k.customer_id, k.state FROM customers_consent k
        WHERE k.channel = 'email' AND k.purpose = 'marketing'
        ORDER BY k.customer_id, k.created_at DESC, k.id DESC) x
      WHERE x.state = 'granted')
"""
HAND_B = """
SELECT count(*) FROM customers_customer c
JOIN customers_customertraits t ON t.customer_id = c.id
WHERE c.status = 'live' AND t.recency_score >= 4 AND t.orders_count >= 2
  AND c.preferred_language = 'es' AND c.home_store = ANY(%(stores)s)
"""


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="reuse the data of the last run")
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


GENERATE = [
    # 50 stores (5 in Portugal) around Madrid and Lisbon
    """
    INSERT INTO inventory_location (kind, code, name, address, city, postal_code, country,
        latitude, longitude, timezone, opening_hours, is_pickup_point, pickup_hold_days,
        ships_to_customers, sells_online, active)
    SELECT 'store', 'S' || g, 'Store ' || g, '', '', '', CASE WHEN g >= 45 THEN 'PT' ELSE 'ES' END,
           CASE WHEN g >= 45 THEN 38.72 ELSE 40.41 END + (g %% 10) / 100.0,
           CASE WHEN g >= 45 THEN -9.14 ELSE -3.70 END + (g %% 7) / 100.0,
           'Europe/Madrid', '{}', false, 7, false, true, true
    FROM generate_series(0, 49) g
    """,
    """
    INSERT INTO customers_customer (first_name, last_name, preferred_language, home_store,
        status, is_anonymous, created_at, updated_at)
    SELECT 'N' || g, 'L', CASE WHEN random() < 0.7 THEN 'es' ELSE 'en' END,
           CASE WHEN random() < 0.8 THEN 'S' || floor(random() * 50)::int ELSE '' END,
           CASE WHEN g %% 100 = 0 THEN 'merged' WHEN g %% 100 = 1 THEN 'erased' ELSE 'live' END,
           false, now() - make_interval(days => g %% 1000), now()
    FROM generate_series(1, %(customers)s) g
    """,
    """
    INSERT INTO customers_customertraits (customer_id, orders_count, revenue, average_order_value,
        first_order_at, last_order_at, last_seen_at, recency_score, frequency_score,
        monetary_score, preferred_channel, preferred_store, favourite_categories, updated_at)
    SELECT id, n, n * 35.50, 35.50, now() - interval '400 days',
           now() - make_interval(days => (random() * 365)::int), now(),
           1 + floor(random() * 5)::int, 1 + floor(random() * 5)::int, 1 + floor(random() * 5)::int,
           'web', 'S' || floor(random() * 50)::int, '["C1"]', now()
    FROM (SELECT id, floor(random() * 8)::int AS n FROM customers_customer) c
    WHERE random() < 0.9
    """,
    # e-mail marketing granted 100 days ago for 60 %; a fifth of those withdrew 10 days ago
    """
    INSERT INTO customers_consent (customer_id, channel, purpose, state, source, wording_version,
        evidence, created_at)
    SELECT id, 'email', 'marketing', 'granted', 'import', '', '{}', now() - interval '100 days'
    FROM customers_customer WHERE random() < 0.6
    """,
    """
    INSERT INTO customers_consent (customer_id, channel, purpose, state, source, wording_version,
        evidence, created_at)
    SELECT customer_id, 'email', 'marketing', 'withdrawn', 'web_form', '', '{}',
           now() - interval '10 days'
    FROM customers_consent WHERE random() < 0.2
    """,
    """
    INSERT INTO customers_event (customer_id, channel, type, name, properties, occurred_at,
        received_at)
    SELECT %(first)s + floor(random() * %(customers)s)::int, 'web',
           (ARRAY['order_placed', 'cart_updated', 'cart_updated', 'page_viewed', 'page_viewed',
                  'page_viewed', 'product_viewed', 'product_viewed', 'product_viewed',
                  'product_viewed'])[1 + floor(random() * 10)::int],
           '', '{}', now() - make_interval(secs => (%(events)s - g) * 7776000.0 / %(events)s),
           now()
    FROM generate_series(1, %(events)s) g
    """,
]


def generate(args):
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("SELECT setseed(0.42)")
        params = {"customers": args.customers, "events": args.events, "first": 0}
        for statement in GENERATE:
            if "%(first)s" in statement:
                cur.execute("SELECT min(id) FROM customers_customer")
                params["first"] = cur.fetchone()[0]
            cur.execute(statement, params)
    built = time.perf_counter() - started
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    print(
        f"built {args.customers:,} customers, {args.events:,} events, traits and consents "
        f"in {built:.0f} s (+ VACUUM ANALYZE {time.perf_counter() - started - built:.0f} s)"
    )


def timed(run) -> tuple[float, int]:
    started = time.perf_counter()
    result = run()
    return (time.perf_counter() - started) * 1000, result


def hand(sql, params):
    from django.db import connection

    def run():
        with connection.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()[0]

    return run


def compare(label, rules, hands: dict, repeat: int, target_ms: float, now):
    from django.utils import timezone

    from campaigns.selectors import count_segment

    runs = {"compiler": lambda: count_segment(rules, now=now), **hands}
    times = {name: [] for name in runs}
    counts = {}
    for name, run in runs.items():  # warm-up
        counts[name] = run()
    for _ in range(repeat):
        for name, run in runs.items():
            elapsed, counts[name] = timed(run)
            times[name].append(elapsed)
    medians = {name: statistics.median(values) for name, values in times.items()}
    reference = min((n for n in hands), key=lambda n: medians[n])
    ratio = medians["compiler"] / medians[reference]
    print(f"\n{label} ({counts['compiler']:,} customers; {timezone.now():%Y-%m-%d %H:%M} UTC)")
    for name in runs:
        print(f"  {name:<22} median {medians[name]:8.1f} ms  (count {counts[name]:,})")
    if target_ms is None:
        print(f"  compiler / hand SQL ({reference}) = {ratio:.2f}x (no target)")
    else:
        verdict = "OK" if medians["compiler"] <= target_ms and ratio <= 1.25 else "MISSED"
        print(f"  compiler / hand SQL ({reference}) = {ratio:.2f}x; target ≤ {target_ms:.0f} ms "
              f"and ≤ 1.25x: {verdict}")  # fmt: skip
    assert len(set(counts.values())) == 1, counts


def sample_timing(label, rules, repeat: int):
    from campaigns.selectors import sample_segment

    sample_segment(rules)
    times = [timed(lambda: sample_segment(rules))[0] for _ in range(repeat)]
    print(f"  sample of 10 ({label}): median {statistics.median(times):.1f} ms")


def main():
    args = parse_args()
    print(f"machine: {os.cpu_count()} cores")
    env = setup_django(args.host)
    if not args.keep:
        recreate_database(args.host)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env={**os.environ, **env},
            check=True,
        )
    import django

    django.setup()
    if not args.keep:
        generate(args)
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()  # one "now" for both paths, so that both count the same window
    since = now - timedelta(days=7)
    compare(
        "A. trait + consent + event in a window",
        SEGMENT_A,
        {
            "hand SQL (latest row)": hand(HAND_A_LATEST_ROW, {"since": since}),
            "hand SQL (DISTINCT ON)": hand(HAND_A_DISTINCT_ON, {"since": since}),
        },
        args.repeat,
        1000,
        now,
    )
    sample_timing("A", SEGMENT_A, args.repeat)
    compare(
        "B. trait + profile only",
        SEGMENT_B,
        {"hand SQL": hand(HAND_B, {"stores": TEN_STORES})},
        args.repeat,
        250,
        now,
    )
    sample_timing("B", SEGMENT_B, args.repeat)
    compare(
        "C. consent only (the set-based form of the consent rule)",
        SEGMENT_C,
        {
            "hand SQL (latest row)": hand(HAND_C_LATEST_ROW, {}),
            "hand SQL (DISTINCT ON)": hand(HAND_C_DISTINCT_ON, {}),
        },
        args.repeat,
        None,
        now,
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["journeys"]:  # the journey sweep: bench/campaigns_journeys.py
        del sys.argv[1]
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import campaigns_journeys

        campaigns_journeys.main()
    else:
        main()
