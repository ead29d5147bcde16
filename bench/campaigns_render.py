"""Campaign rendering benchmark (run on demand, prints figures; not part of the test suite).

    .venv/bin/python bench/campaigns_render.py                 # 100,000 e-mails, 3 runs
    .venv/bin/python bench/campaigns_render.py --messages 20000 --runs 5 --batch 500
    .venv/bin/python bench/campaigns_render.py --django-mail   # through Django's mail, locmem

Renders personalised e-mails (subject, HTML with a loop over four products in stock at the
shopper's store, the text alternative generated from the HTML) through
``campaigns.content.render_message``, each with its own signed unsubscribe link
(``campaigns.tracking``) and List-Unsubscribe headers, and hands them in batches to
``omni.messaging.send_many`` with the ``RecordingBackend`` (one process, no database: what a
sending worker does between claiming its rows and marking them sent). Prints messages/s per
run and the median. Target: >= 2,000 messages/s per worker process. With ``--django-mail`` the
messages go through ``omni.messaging.EmailBackend`` into Django's locmem e-mail backend instead,
which also builds each MIME message (as an SMTP or ESP backend would).
"""

import argparse
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SUBJECT = "{{ customer.first_name }}, {{ products|length }} picks in stock at {{ store.name }}"
HTML = """<!doctype html>
<html lang="{{ customer.language }}"><head><meta charset="utf-8"><title>Omni</title>
<style>body{font-family:sans-serif;color:#222} .p{padding:8px;border-bottom:1px solid #eee}
.price{font-weight:bold} .btn{background:#0a6;color:#fff;padding:8px 16px}</style></head>
<body>
<h1>Hello {{ customer.first_name|default:"there" }}!</h1>
<p>We picked these for you. They are in stock at <b>{{ store.name }}</b>, {{ store.address }}:</p>
<table>
{% for product in products %}
  <tr class="p"><td><img src="{{ product.image }}" alt="{{ product.name }}" width="80"></td>
  <td><a href="{{ product.url }}">{{ product.name }}</a><br>
  <span class="price">{{ product.price }} €</span>{% if forloop.first %} — our favourite{% endif %}
  </td></tr>
{% empty %}
  <tr><td>Come and see what is new in store.</td></tr>
{% endfor %}
</table>
{% if coupon_code %}<p>Your personal code: <b>{{ coupon_code }}</b> (one use, any channel).</p>{% endif %}
<p><a class="btn" href="https://omni.example/stores">Find your store</a></p>
<p style="font-size:12px;color:#888">You receive this because you said yes to news from Omni.
<a href="{{ unsubscribe_url }}">Unsubscribe</a>.</p>
</body></html>
"""
FIRST_NAMES = ["Ana", "Luis", "María", "José", "Lucía", "Pablo", "Élodie", "O'Brien", "Zoë", "<b>Eve</b>"]  # fmt: skip
STORES = [
    ("Omni Gran Vía", "Gran Vía 32, Madrid"),
    ("Omni Diagonal", "Av. Diagonal 640, Barcelona"),
]


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--django-mail", action="store_true")
    return parser.parse_args()


def setup_django(django_mail=False):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni.settings")
    if django_mail:
        os.environ["MESSAGING_EMAIL_BACKEND"] = "omni.messaging.EmailBackend"
        os.environ["EMAIL_URL"] = "memorymail://"
    else:
        os.environ["MESSAGING_EMAIL_BACKEND"] = "omni.messaging.RecordingBackend"
    import django

    django.setup()


def shopper(n):
    from campaigns.content import build_context

    name = FIRST_NAMES[n % len(FIRST_NAMES)]
    store = STORES[n % len(STORES)]
    products = [
        {
            "name": f"Product {(n + k) % 997}",
            "price": Decimal(1000 + (n * 7 + k * 13) % 9000) / 100,
            "url": f"https://omni.example/p/{(n + k) % 997}",
            "image": f"https://omni.example/media/{(n + k) % 997}.jpg",
        }
        for k in range(4)
    ]
    return build_context(
        customer={"first_name": name, "name": f"{name} Pérez", "language": ("es", "en")[n % 2]},
        coupon_code=f"OMNI-{n:08X}",
        products=products,
        store={"name": store[0], "address": store[1]},
    )


def run(count, batch_size, contexts, django_mail):
    from django.core import mail

    from campaigns.content import render_message
    from campaigns.tracking import unsubscribe_token
    from omni import messaging
    from omni.messaging import Message, RecordingBackend

    templates = {"subject": SUBJECT, "html": HTML}
    RecordingBackend.outbox = mail.outbox = []
    outbox = RecordingBackend.outbox if django_mail is False else mail.outbox
    handed = 0
    started = time.perf_counter()
    for first in range(0, count, batch_size):
        batch = []
        for n in range(first, min(first + batch_size, count)):
            context = contexts[n % len(contexts)]
            url = "https://omni.example/u/" + unsubscribe_token(n + 1, "email", 1)
            context = {**context, "unsubscribe_url": url}
            rendered = render_message("email", templates, context)
            batch.append(
                Message(
                    channel="email",
                    to=f"shopper{n}@example.com",
                    subject=rendered.subject,
                    body=rendered.body,
                    html=rendered.html,
                    metadata={"delivery_id": n + 1},
                    unsubscribe_url=url,
                )
            )
        handed += messaging.send_many(batch)
        assert len(outbox) == len(batch)
        outbox.clear()
    elapsed = time.perf_counter() - started
    assert handed == count
    return elapsed


def main():
    args = parse_args()
    setup_django(args.django_mail)
    from campaigns.content import render_message

    contexts = [shopper(n) for n in range(10_000)]  # distinct shoppers, reused cyclically
    sample = render_message("email", {"subject": SUBJECT, "html": HTML}, contexts[9])
    print(f"sample subject: {sample.subject}")
    print(f"sample sizes: html {len(sample.html)} chars, text {len(sample.body)} chars")
    rates = []
    for number in range(1, args.runs + 1):
        elapsed = run(args.messages, args.batch, contexts, args.django_mail)
        rates.append(args.messages / elapsed)
        print(
            f"run {number}: {args.messages:,} e-mails in {elapsed:.2f} s = {rates[-1]:,.0f} messages/s"
        )
    print(f"median: {statistics.median(rates):,.0f} messages/s (target >= 2,000 per process)")


if __name__ == "__main__":
    main()
