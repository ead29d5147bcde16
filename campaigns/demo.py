"""Demo segments a marketer can open, count and edit, and three campaigns with something to
show (``seed_demo``; idempotent by name):

* "Rebajas de invierno": sent four days ago through the real pipeline (planning, holdout,
  consent, budget, rendering, tracking) in batches an hour apart, then finished; the shoppers'
  opens and clicks over the next hours are simulated, so its results page has a chart;
* "Nueva colección": paused part-way, for the progress bar and resume;
* "Carrito abandonado": a draft with a personal coupon, ready to preview and test-send;
* store sales after the winter sale, credited to it, and the abandoned-cart journey switched on
  with carts e-mailed and some bought with their code (``campaigns.demo_journeys``).

The demo sends into ``omni.messaging.FileBackend`` (``var/messages/``), never to anybody.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from campaigns import demo_journeys, planning, sending
from campaigns.models import REACHED, Campaign, CampaignVariant, Delivery, Segment
from campaigns.services import (
    complete_campaign,
    pause_campaign,
    save_segment,
    schedule_campaign,
    start_campaign,
)
from omni.roles import MARKETER
from orders.selectors import promotion_by_name

# name, description, rule tree
SUBSCRIBERS = "Suscriptores de e-mail"
SEGMENTS = [
    (
        SUBSCRIBERS,
        "Consentimiento de e-mail para marketing.",
        {"op": "all", "rules": [{"type": "consent", "channel": "email"}]},
    ),
    (
        "Clientes fieles",
        "Tres pedidos o más y consentimiento de e-mail.",
        {
            "op": "all",
            "rules": [
                {"type": "trait", "field": "orders_count", "op": ">=", "value": 3},
                {"type": "consent", "channel": "email"},
            ],
        },
    ),
    (
        "Carrito abandonado (24 h)",
        "Actualizaron el carrito en las últimas 24 horas y no han comprado desde entonces.",
        {
            "op": "all",
            "rules": [
                {
                    "type": "event",
                    "event": "cart_updated",
                    "within": 24,
                    "unit": "hours",
                    "none_since": "order_placed",
                }
            ],
        },
    ),
    (
        "Madrid: tiendas",
        "Tienda habitual en Madrid o compraron en tienda.",
        {
            "op": "any",
            "rules": [
                {"type": "store", "stores": ["mad-granvia", "mad-serrano"]},
                {
                    "op": "all",
                    "rules": [
                        {"type": "purchase_channel", "channels": ["store"]},
                        {"type": "distance", "store": "mad-granvia", "km": 30},
                    ],
                },
            ],
        },
    ),
    (
        "Compradoras de vestidos",
        "Compraron un vestido en los últimos 180 días.",
        {
            "op": "all",
            "rules": [
                {"type": "purchase", "what": "category", "codes": ["vestidos"], "within_days": 180},
            ],
        },
    ),
]


def seed(ctx) -> None:
    marketer = ctx.data.get("users", {}).get(MARKETER)
    for name, description, rules in SEGMENTS:
        save_segment(
            segment=Segment.objects.filter(name=name).first(),
            name=name,
            description=description,
            rules=rules,
            acting_user=marketer,
        )
    ctx.say(f"  {len(SEGMENTS)} segments")
    if Campaign.objects.filter(name=WINTER).exists():
        ctx.say("  demo campaigns exist (unchanged)")
        return
    segment = Segment.objects.get(name=SUBSCRIBERS)
    with override_settings(
        MESSAGING_BACKENDS=dict.fromkeys(("email", "sms", "push"), FILES),
        CAMPAIGN_QUIET_HOURS=("00:00", "00:00"),  # the demo sends whatever the hour
    ):
        winter = _winter_sale(ctx, segment, marketer)
        _new_collection(segment, marketer)
        sold = demo_journeys.sales_after(ctx, winter)
        reached = Delivery.objects.filter(campaign=winter, status__in=REACHED)
        story = demo_journeys.abandoned_cart_story(
            ctx, subscribers=reached.values_list("customer_id", flat=True)
        )
    _abandoned_cart(marketer)
    ctx.say("  3 campaigns (one sent with results, one paused, one draft)")
    ctx.say(f"  {sold} store sales credited to the winter sale (treated and holdout)")
    ctx.say(
        "  abandoned-cart journey on: {carts} carts e-mailed, {bought} bought at the counter "
        "with their code, {waiting} still in the journey".format(**story)
    )


FILES = "omni.messaging.FileBackend"
WINTER = "Rebajas de invierno"
SHOP = "https://tienda.omni.example"
UNSUBSCRIBE = '<p style="font-size:12px"><a href="{{ unsubscribe_url }}">Darse de baja</a></p>'


def _email(subject: str, heading: str, link: str, extra: str = "") -> dict:
    html = (
        f"<html><body><h1>{heading}</h1><p>Hola {{{{ customer.first_name }}}},</p>{extra}"
        f'<p><a href="{SHOP}{link}">Ver en la tienda</a></p>{UNSUBSCRIBE}</body></html>'
    )
    return {"subject": subject, "html": html}


def _campaign(name: str, segment, marketer, variants, **fields) -> Campaign:
    made = Campaign.objects.create(name=name, segment=segment, created_by=marketer, **fields)
    for variant_name, split, content in variants:
        CampaignVariant.objects.create(
            campaign=made, name=variant_name, split_percent=split, content=content
        )
    return made


def _morning(days_ago: int) -> datetime:
    day = timezone.localdate() - timedelta(days=days_ago)
    return datetime.combine(day, time(10), tzinfo=ZoneInfo(settings.TIME_ZONE))


def _send_in_batches(made: Campaign, start: datetime, *, hours, size: int) -> None:
    for hour in hours:
        sending.send_batch(campaign_id=made.pk, limit=size, now=start + timedelta(hours=hour))


def _winter_sale(ctx, segment, marketer) -> Campaign:
    """An A/B test by clicks: 30 % of the audience tests A and B for two hours (B does better),
    then the rest gets B."""
    made = _campaign(
        WINTER, segment, marketer,
        [
            ("A", 50, {"email": _email("Hasta -50 % en abrigos", "Rebajas de invierno", "/rebajas")}),
            ("B", 50, {"email": _email("{{ customer.first_name }}, tus rebajas", "Solo para ti", "/rebajas")}),
        ],
        goal="Vender el stock de invierno", channels=["email"], holdout_percent=10,
        ab_winner_metric="clicks", ab_test_percent=30, ab_test_hours=2,
    )  # fmt: skip
    start = _morning(4)
    schedule_campaign(campaign=made, acting_user=marketer, send_at=start)
    start_campaign(campaign=made, acting_user=marketer)
    planning.plan_campaign(campaign=made, now=start)
    _send_in_batches(made, start, hours=[0], size=500)  # the test group
    test_end = start + timedelta(hours=2)
    _simulate_engagement(ctx, made, sent_from=start, upto=test_end)
    _send_in_batches(made, start, hours=[2, 3], size=500)  # the rest, with the winner
    _simulate_engagement(ctx, made, sent_from=test_end, upto=None)
    complete_campaign(campaign=made, acting_user=marketer)
    return made


# Chance of an open, and of a click after an open, per variant: B's subject line does better.
ENGAGEMENT = {"A": (0.28, 0.18), "B": (0.38, 0.3)}


def _simulate_engagement(ctx, made: Campaign, *, sent_from: datetime, upto) -> None:
    """Shoppers open about a third of the e-mails sent from ``sent_from`` (up to ``upto``)
    over the next day and click some of those, the times spread as they do (most in the first
    hours)."""
    sent = Delivery.objects.filter(campaign=made, status="sent", sent_at__gte=sent_from)
    if upto is not None:
        sent = sent.filter(sent_at__lt=upto)
    rows = list(sent.select_related("variant"))
    for row in rows:
        opens, clicks = ENGAGEMENT[row.variant.name]
        if ctx.rng.random() >= opens:
            continue
        row.status = "opened"
        row.opened_at = row.sent_at + timedelta(minutes=int(ctx.rng.expovariate(1 / 240)))
        if ctx.rng.random() < clicks:
            row.status = "clicked"
            row.clicked_at = row.opened_at + timedelta(minutes=ctx.rng.randint(0, 20))
    Delivery.objects.bulk_update(rows, ["status", "opened_at", "clicked_at"], batch_size=500)


def _new_collection(segment, marketer) -> None:
    made = _campaign(
        "Nueva colección primavera", segment, marketer,
        [("A", 100, {"email": _email("Ya está aquí la primavera", "Nueva colección", "/novedades")})],
        goal="Presentar la colección", channels=["email"], send_rates={"email": 300},
    )  # fmt: skip
    schedule_campaign(campaign=made, acting_user=marketer, send_at=_morning(0))
    start_campaign(campaign=made, acting_user=marketer)
    planning.plan_campaign(campaign=made, now=_morning(0))
    _send_in_batches(made, _morning(0), hours=[0], size=400)
    pause_campaign(campaign=made, acting_user=marketer)


def _abandoned_cart(marketer) -> None:
    coupon = "<p>Tu código personal: <strong>{{ coupon_code }}</strong></p>"
    _campaign(
        "Carrito abandonado: 10 % de descuento",
        Segment.objects.get(name="Carrito abandonado (24 h)"),
        marketer,
        [("A", 100, {
            "email": _email("¿Lo dejaste en el carrito?", "Te lo guardamos", "/carrito", coupon),
            "sms": {"body": "Hola {{ customer.first_name }}, tu carrito te espera: "
                            "{{ coupon_code }} -10 %"},
        })],
        goal="Recuperar carritos", channels=["email", "sms"],
        promotion=promotion_by_name("Bienvenida 10 %"),
    )  # fmt: skip
