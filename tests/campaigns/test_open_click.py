"""The open pixel and the click redirect: forward-only, idempotent, tamper-proof."""

from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.utils import timezone

from campaigns import tracking
from campaigns.models import Delivery, DeliveryReason, DeliveryStatus
from campaigns.views import PIXEL
from tests.campaigns.pipeline import campaign, shopper

pytestmark = pytest.mark.django_db
TARGET = "https://shop.example/p/boots?colour=red&utm_source=old"


@pytest.fixture
def delivery():
    made = campaign()
    earlier = timezone.now() - timedelta(hours=3)
    return Delivery.objects.create(
        campaign=made,
        customer=shopper(),
        channel="email",
        status=DeliveryStatus.SENT,
        sent_at=earlier,
        updated_at=earlier,
    )


def pixel(client, token):
    return client.get(f"/c/o/{token}.gif")


def click(client, token):
    return client.get(f"/c/c/{token}/")


def click_link(delivery):
    return tracking.click_token(delivery.pk, TARGET, channel="email", campaign_slug="spring")


def test_pixel_marks_the_delivery_opened_once(client, delivery):
    response = pixel(client, tracking.open_token(delivery.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response.content == PIXEL and PIXEL.startswith(b"GIF89a")
    assert "no-store" in response["Cache-Control"]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.OPENED
    first_open = delivery.updated_at

    assert pixel(client, tracking.open_token(delivery.pk)).status_code == 200
    delivery.refresh_from_db()
    assert (delivery.status, delivery.updated_at) == (DeliveryStatus.OPENED, first_open)


@pytest.mark.parametrize("token", ["nonsense", "x" * 5000, "%00", "WzFd:bad", "%ED%A0%80"])
def test_a_bad_pixel_token_is_still_a_gif_and_changes_nothing(client, delivery, token):
    before = delivery.updated_at
    response = client.get(f"/c/o/{token}.gif")
    assert response.status_code in (200, 404)  # 404 only when the URL itself does not match
    if response.status_code == 200:
        assert response.content == PIXEL
    delivery.refresh_from_db()
    assert (delivery.status, delivery.updated_at) == (DeliveryStatus.SENT, before)


def test_a_tampered_pixel_token_changes_nothing(client, delivery):
    token = tracking.open_token(delivery.pk)
    response = pixel(client, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert response.status_code == 200 and response.content == PIXEL
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


def test_an_open_never_moves_a_delivery_backwards(client, delivery):
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.CLICKED)
    pixel(client, tracking.open_token(delivery.pk))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.CLICKED


def test_a_suppressed_delivery_is_never_opened(client, delivery):
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SUPPRESSED, reason=DeliveryReason.HOLDOUT
    )
    pixel(client, tracking.open_token(delivery.pk))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUPPRESSED


def test_click_records_and_redirects_with_utm_tags(client, delivery):
    response = click(client, click_link(delivery))
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "shop.example", "/p/boots")
    assert parse_qsl(target.query) == [
        ("colour", "red"),
        ("utm_source", "omni"),
        ("utm_medium", "email"),
        ("utm_campaign", "spring"),
    ]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.CLICKED
    clicked_at = delivery.updated_at

    assert click(client, click_link(delivery)).status_code == 302  # again: still redirects
    delivery.refresh_from_db()
    assert (delivery.status, delivery.updated_at) == (DeliveryStatus.CLICKED, clicked_at)


def test_a_click_after_an_open_becomes_clicked(client, delivery):
    pixel(client, tracking.open_token(delivery.pk))
    click(client, click_link(delivery))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.CLICKED


def test_a_tampered_click_token_is_400_and_changes_nothing(client, delivery):
    token = click_link(delivery)
    forged = tracking.click_token(
        delivery.pk, "https://evil.example/", channel="email", campaign_slug="spring"
    )
    # the forged payload with the genuine signature: refused
    payload, _sep, _signature = forged.rpartition(":")
    genuine_signature = token.rpartition(":")[2]
    for bad in (payload + ":" + genuine_signature, token + "x", tracking.open_token(delivery.pk)):
        response = click(client, bad)
        assert response.status_code == 400
        assert b"This link does not work" in response.content
        assert "Location" not in response
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


def test_a_click_for_a_failed_delivery_redirects_but_records_nothing(client, delivery):
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
    assert click(client, click_link(delivery)).status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED


def test_a_click_for_a_deleted_delivery_still_redirects(client, delivery):
    token = click_link(delivery)
    delivery.delete()
    assert click(client, token).status_code == 302


def test_post_is_not_allowed(client, delivery):
    assert client.post(f"/c/o/{tracking.open_token(delivery.pk)}.gif").status_code == 405
    assert client.post(f"/c/c/{click_link(delivery)}/").status_code == 405
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
