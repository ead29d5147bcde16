"""Delivery planning benchmark (run on demand, prints figures; not part of the test suite).

    .venv/bin/python bench/campaigns_plan.py                    # 1,000,000 deliveries
    .venv/bin/python bench/campaigns_plan.py --customers 100000 --orm

Builds its own PostgreSQL database (omni_bench_plan) in SQL, timed separately: live customers
with an e-mail (all), a phone (half) and a push token (a fifth), marketing consent evidence
(e-mail granted for 80 %, a tenth of those withdrawn later; SMS granted for 30 %), traits with a
preferred channel, and the sends of an earlier campaign last week (the contact budget's rows).
Then it plans a campaign to everyone — channels sms, e-mail, push with the preferred channel
first, 10 % holdout, A/B 50/50 — with ``campaigns.planning.plan_campaign`` (one INSERT …
SELECT; ``--orm``: its ORM twin), then plans it again (idempotent: 0 rows). Target: ≤ 60 s.
Then one process sends ``--send`` deliveries (default 20,000) with ``campaigns.sending.
send_batch`` into the recording backend: claim, consent and suppression re-check, contact
budget, personal render, hand-over, marking and the timeline touchpoints — a worker's whole
loop, quiet hours off. Prints deliveries handled/s and messages sent/s.
The contact budget is spent at send time (``campaigns.budget``), not while planning: the
budget rows are there so that the index and table sizes are those of a working system.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE = "omni_bench_plan"

GENERATE = [
    """
    INSERT INTO customers_customer (first_name, last_name, preferred_language, home_store,
        status, is_anonymous, created_at, updated_at)
    SELECT 'N' || g, 'L', CASE WHEN g %% 10 < 7 THEN 'es' ELSE 'en' END, '', 'live', false,
           now(), now()
    FROM generate_series(1, %(customers)s) g
    """,
    """
    INSERT INTO customers_identity (customer_id, kind, value, verified, source, created_at)
    SELECT id, 'email', 'c' || id || '@example.com', id %% 3 = 0, 'web', now()
    FROM customers_customer
    UNION ALL
    SELECT id, 'phone', '+3460' || lpad(id::text, 7, '0'), false, 'web', now()
    FROM customers_customer WHERE id %% 2 = 0
    UNION ALL
    SELECT id, 'push_token', 'tok-' || id, false, 'app', now()
    FROM customers_customer WHERE id %% 5 = 0
    """,
    """
    INSERT INTO customers_consent (customer_id, channel, purpose, state, source, wording_version,
        evidence, created_at)
    SELECT id, 'email', 'marketing', 'granted', 'import', '', '{}'::jsonb, now() - interval '100 days'
    FROM customers_customer WHERE random() < 0.8
    UNION ALL
    SELECT id, 'sms', 'marketing', 'granted', 'import', '', '{}'::jsonb, now() - interval '100 days'
    FROM customers_customer WHERE random() < 0.3
    """,
    """
    INSERT INTO customers_consent (customer_id, channel, purpose, state, source, wording_version,
        evidence, created_at)
    SELECT customer_id, 'email', 'marketing', 'withdrawn', 'web_form', '', '{}',
           now() - interval '10 days'
    FROM customers_consent WHERE channel = 'email' AND random() < 0.1
    """,
    """
    INSERT INTO customers_customertraits (customer_id, orders_count, revenue, average_order_value,
        preferred_channel, preferred_store, favourite_categories, updated_at)
    SELECT id, 1, 10, 10, (ARRAY['email', 'sms', 'push', 'web'])[1 + id %% 4], '', '[]', now()
    FROM customers_customer
    """,
    """
    INSERT INTO campaigns_campaign (name, description, status, goal, channels,
        allow_preferred_channel, holdout_percent, priority, send_rates, recurrence, step,
        utm_campaign, ab_winner_metric, ab_test_percent, ab_test_hours, audience_file_name,
        audience_stats, created_at, updated_at)
    VALUES ('Last week', '', 'finished', '', '{email}', false, 0, 'normal', '{}', '', 0,
            '', '', 20, 4, '', '{}', now(), now())
    """,
    """
    INSERT INTO campaigns_delivery (campaign_id, step, customer_id, channel, status, reason,
        address, coupon_code, attempts, created_at, updated_at, sent_at)
    SELECT (SELECT max(id) FROM campaigns_campaign), 0, id, 'email', 'sent', '', '', '', 1,
           now() - interval '3 days', now() - interval '3 days', now() - interval '3 days'
    FROM customers_customer WHERE random() < 0.5
    """,
]


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orm", action="store_true", help="plan with the ORM twin")
    parser.add_argument(
        "--send", type=int, default=20_000, help="then send this many deliveries (0: none)"
    )
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


def generate(customers: int) -> None:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("SELECT setseed(0.42)")
        for statement in GENERATE:
            cur.execute(statement, {"customers": customers})
        built = time.perf_counter() - started
        cur.execute("VACUUM ANALYZE")
    print(
        f"built {customers:,} customers with identities, consents, traits and last week's "
        f"sends in {built:.0f} s (+ VACUUM ANALYZE {time.perf_counter() - started - built:.0f} s)"
    )


def make_campaign():
    from campaigns.models import Campaign, CampaignVariant, Segment

    segment = Segment.objects.create(name="Everyone", rules={"op": "all", "rules": []})
    campaign = Campaign.objects.create(
        name="Spring",
        segment=segment,
        channels=["sms", "email", "push"],
        allow_preferred_channel=True,
        holdout_percent=10,
        status="sending",
    )
    content = {
        "email": {"subject": "Hola {{ customer.first_name }}", "html": EMAIL_HTML},
        "sms": {"body": "Hola {{ customer.first_name }}"},
        "push": {"title": "Hola", "body": "Novedades"},
    }
    for name in ("A", "B"):
        CampaignVariant.objects.create(
            campaign=campaign, name=name, split_percent=50, content=content
        )
    return campaign


# A realistic e-mail: two product links (each becomes a signed click redirect), the unsubscribe
# link (kept as written) and, on sending, the open pixel.
EMAIL_HTML = (
    "<html><body><h1>Rebajas</h1><p>Hola {{ customer.first_name }},</p>"
    '<p><a href="https://shop.example/p/abrigo-lana?colour=navy">Abrigo de lana</a> · '
    '<a href="https://shop.example/p/botas-piel">Botas de piel</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Darse de baja</a></p></body></html>'
)


def report(campaign) -> None:
    from django.db.models import Count

    rows = (
        campaign.deliveries.values("status", "reason", "channel")
        .annotate(n=Count("pk"))
        .order_by("-n")
    )
    for row in rows:
        print(f"  {row['n']:>9,}  {row['status']:<10} {row['reason'] or '-':<11} {row['channel']}")
    per_variant = campaign.deliveries.values("variant__name").annotate(n=Count("pk"))
    print("  variants:", {r["variant__name"]: r["n"] for r in per_variant})


def main():
    args = parse_args()
    print(f"machine: {os.cpu_count()} cores")
    env = setup_django(args.host)
    recreate_database(args.host)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
    )
    import django

    django.setup()
    from django.conf import settings

    settings.OMNI_FAST_SQL = not args.orm
    generate(args.customers)
    from campaigns.planning import plan_campaign

    campaign = make_campaign()
    path = "ORM twin" if args.orm else "INSERT … SELECT"
    for attempt in ("plan", "plan again"):
        started = time.perf_counter()
        inserted = plan_campaign(campaign=campaign)
        elapsed = time.perf_counter() - started
        print(f"{attempt} ({path}): {inserted:,} deliveries in {elapsed:.1f} s (target ≤ 60 s)")
    report(campaign)
    if args.send:
        send(campaign, args.send)


def send(campaign, limit: int) -> None:
    from django.conf import settings

    from campaigns.sending import send_batch
    from omni.messaging import RecordingBackend

    recording = "omni.messaging.RecordingBackend"
    settings.MESSAGING_BACKENDS = dict.fromkeys(("email", "sms", "push"), recording)
    settings.CAMPAIGN_QUIET_HOURS = ("00:00", "00:00")
    handled = sent = 0
    started = time.perf_counter()
    while handled < limit:
        result = send_batch(campaign_id=campaign.pk)
        RecordingBackend.outbox.clear()
        if not result.claimed:
            break
        handled += result.claimed
        sent += result.sent
    elapsed = time.perf_counter() - started
    print(
        f"send: {handled:,} deliveries handled in {elapsed:.1f} s = {handled / elapsed:,.0f}/s "
        f"({sent:,} messages sent = {sent / elapsed:,.0f}/s; one process, recording backend)"
    )


if __name__ == "__main__":
    main()
