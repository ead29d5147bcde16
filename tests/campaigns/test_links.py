"""Tracking in sent e-mails: links through the signed click redirect with UTM tags, the open
pixel, the unsubscribe link untouched; the first open and click timed and on the timeline."""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.utils import timezone

from campaigns import links, planning, reports, sending, tracking
from campaigns.models import Campaign, CampaignStatus, CampaignVariant, Delivery
from customers.models import Event
from tests.campaigns.pipeline import campaign, shopper

pytestmark = pytest.mark.django_db
NOON_MADRID = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
HTML = (
    "<html><body><p>Hola {{ customer.first_name }}</p>"
    '<a href="https://shop.example/p/boots?colour=red&amp;size=38">Botas</a> '
    '<a href="mailto:help@shop.example">Ayuda</a> <a href="#top">Arriba</a> '
    '<a href="{{ unsubscribe_url }}">Baja</a></body></html>'
)
TEXT = "Botas: https://shop.example/p/boots. Baja: {{ unsubscribe_url }}"


@pytest.fixture(autouse=True)
def _daytime(settings):
    settings.CAMPAIGN_QUIET_HOURS = ("21:00", "09:00")
    settings.CAMPAIGN_CONTACT_BUDGET = (3, timedelta(days=7))
    settings.CAMPAIGN_CLICK_URL = "https://t.shop.example/c/c/{token}/"
    settings.CAMPAIGN_OPEN_URL = "https://t.shop.example/c/o/{token}.gif"


def sent_email(outbox, *, text=TEXT, **fields):
    ana = shopper(first_name="Ana")
    made = campaign(status=CampaignStatus.SENDING, **fields)
    CampaignVariant.objects.filter(campaign=made).update(
        content={"email": {"subject": "Hola", "html": HTML, "text": text}}
    )
    planning.plan_campaign(campaign=made, now=NOON_MADRID)
    assert sending.send_batch(campaign_id=made.pk, now=NOON_MADRID).sent == 1
    (message,) = outbox
    return message, Delivery.objects.get(campaign=made, customer=ana)


def hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_web_links_go_through_the_click_redirect_and_land_with_utm_tags(client, outbox):
    message, delivery = sent_email(outbox)
    tracked, mailto, anchor, unsubscribe = hrefs(message.html)
    assert tracked.startswith("https://t.shop.example/c/c/")
    assert (mailto, anchor) == ("mailto:help@shop.example", "#top")
    assert unsubscribe == message.unsubscribe_url  # as written: RFC 8058 and not engagement

    response = client.get(path_of(tracked))
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert (target.netloc, target.path) == ("shop.example", "/p/boots")
    assert dict(parse_qsl(target.query)) == {
        "colour": "red",
        "size": "38",
        "utm_source": "omni",
        "utm_medium": "email",
        "utm_campaign": "spring",
    }
    delivery.refresh_from_db()
    assert delivery.status == "clicked"
    assert delivery.clicked_at is not None and delivery.opened_at == delivery.clicked_at
    event = Event.objects.get(customer_id=delivery.customer_id, type="message_clicked")
    assert (event.channel, event.properties) == (
        "email",
        {"campaign_id": delivery.campaign_id, "delivery_id": delivery.pk},
    )


def test_the_open_pixel_closes_the_html_and_times_the_first_open(client, outbox):
    message, delivery = sent_email(outbox)
    pixel = re.search(r'<img src="(https://t\.shop\.example/c/o/[^"]+\.gif)"[^>]*>', message.html)
    assert pixel and message.html.endswith(pixel[0] + "</body></html>")
    assert client.get(path_of(pixel[1])).status_code == 200
    delivery.refresh_from_db()
    first = delivery.opened_at
    assert delivery.status == "opened" and first is not None and delivery.clicked_at is None
    client.get(path_of(pixel[1]))
    delivery.refresh_from_db()
    assert delivery.opened_at == first
    assert (
        Event.objects.filter(customer_id=delivery.customer_id, type="message_opened").count() == 1
    )


def test_opens_can_be_left_untracked(settings, outbox):
    settings.CAMPAIGN_TRACK_OPENS = False
    message, _delivery = sent_email(outbox)
    assert "<img" not in message.html and "/c/c/" in message.html


def test_the_text_part_links_are_tracked_too_punctuation_kept(outbox):
    message, _delivery = sent_email(outbox)
    assert message.body.startswith("Botas: https://t.shop.example/c/c/")
    assert re.search(r"/c/c/[^ ]+/\. Baja: ", message.body)
    assert message.body.endswith(message.unsubscribe_url)


def test_sms_keeps_its_links_as_written(outbox):
    ana = shopper(consents=("sms",), addresses=("sms",))
    made = campaign(status=CampaignStatus.SENDING, channels=("sms",))
    CampaignVariant.objects.filter(campaign=made).update(
        content={"sms": {"body": "Botas: https://shop.example/b"}}
    )
    planning.plan_campaign(campaign=made, now=NOON_MADRID)
    sending.send_batch(campaign_id=made.pk, now=NOON_MADRID)
    (message,) = outbox
    assert message.to.endswith(f"{ana.pk:04d}") and message.body == "Botas: https://shop.example/b"


def test_campaign_tag_own_tag_then_name_then_id():
    made = Campaign(pk=7, name="Rebajas de Invierno ñ", utm_campaign="")
    assert links.campaign_tag(made) == "rebajas-de-invierno-n"
    made.utm_campaign = "winter-sale"
    assert links.campaign_tag(made) == "winter-sale"
    assert links.campaign_tag(Campaign(pk=7, name="¡¡!!")) == "campaign-7"


def test_an_escaped_href_is_signed_unescaped_and_foreign_schemes_are_kept():
    tracker = links.Tracker(5, "email", "spring")
    source = "<a href='javascript:alert(1)'>x</a><a href=\"http://a.b/?q=1&amp;r=2\">y</a>"
    out = links.track_html(source, tracker, pixel=False)
    assert "href='javascript:alert(1)'" in out and "<img" not in out
    token = path_of(hrefs(out)[0]).rstrip("/").rsplit("/", 1)[1]
    delivery_id, target = tracking.verify_click_token(token)
    assert delivery_id == 5
    assert dict(parse_qsl(urlsplit(target).query)) == {
        "q": "1", "r": "2", "utm_source": "omni", "utm_medium": "email", "utm_campaign": "spring",
    }  # fmt: skip


def test_results_chart_counts_first_opens_and_clicks_by_their_own_time():
    made = campaign(status=CampaignStatus.FINISHED)
    start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    people = [shopper() for _ in range(3)]
    for n, person in enumerate(people):
        Delivery.objects.create(
            campaign=made,
            customer=person,
            status="clicked" if n == 0 else "opened" if n == 1 else "sent",
            sent_at=start,
            opened_at=start + timedelta(hours=2) if n < 2 else None,
            clicked_at=start + timedelta(hours=4) if n == 0 else None,
            updated_at=timezone.now(),  # a later change must not move the open or click
        )
    series = reports.hourly_series(made)
    assert series.sends[1] == 3 and series.opens[3] == 2 and series.clicks[5] == 1
    assert sum(series.opens) == 2 and sum(series.clicks) == 1
