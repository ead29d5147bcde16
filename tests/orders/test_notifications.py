"""Messages to a shopper are in the shopper's language, whatever the staff member's interface
language is when their click sends them."""

import pytest
from django.test import override_settings
from django.utils import translation
from rest_framework.test import APIClient

from customers import services as customer_services
from omni import roles
from orders import notifications, services
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _ready_order(shop, language):
    shopper = customer_services.identify(
        identifiers=[("email", f"{language}@example.com")], source="web"
    )
    shopper.preferred_language = language
    shopper.save(update_fields=["preferred_language"])
    cart = services.open_cart(customer=shopper, channel="web")
    services.add_to_cart(cart=cart, variant=shop.shirt, quantity=1, channel="web")
    return services.place_order(cart=cart, fulfilment="pickup", location=shop.madrid)


def _mark_ready_as_staff(shop, order, ui_language, capture):
    staff = APIClient()
    staff.force_authenticate(UserFactory(role=roles.STORE_STAFF, locations=[shop.madrid]))
    with translation.override(ui_language), capture(execute=True):
        response = staff.post(
            f"/api/v1/orders/{order.number}/ready/", HTTP_ACCEPT_LANGUAGE=ui_language
        )
        assert response.status_code == 200, response.content
        assert translation.get_language() == ui_language


def test_spanish_staff_marks_ready_an_english_customers_order_message_in_english(
    shop, outbox, django_capture_on_commit_callbacks
):
    order = _ready_order(shop, "en")
    _mark_ready_as_staff(shop, order, "es", django_capture_on_commit_callbacks)
    (message,) = outbox
    assert message.subject == f"Your order {order.number} is ready at Tienda Gran Vía"
    assert "Pickup code:" in message.body and "Opening hours:" in message.body


def test_english_staff_marks_ready_a_spanish_customers_order_message_in_spanish(
    shop, outbox, django_capture_on_commit_callbacks
):
    order = _ready_order(shop, "es")
    _mark_ready_as_staff(shop, order, "en", django_capture_on_commit_callbacks)
    (message,) = outbox
    assert message.subject == f"Tu pedido {order.number} está listo en Tienda Gran Vía"
    assert "Pickup code" not in message.body


def test_reminder_and_expiry_follow_the_shopper_too(shop, outbox):
    order = _ready_order(shop, "es")
    services.mark_ready(order=order)
    with translation.override("en"):
        notifications.reminder(order.pk)
        notifications.expired(order.pk)
    assert outbox[0].subject.startswith("Último día para recoger")
    assert "Trae tu código de recogida" in outbox[0].body
    assert "not collected" not in outbox[1].subject


@override_settings(LANGUAGE_CODE="en")
def test_a_language_the_site_does_not_speak_falls_back_to_the_default(shop):
    order = _ready_order(shop, "en")
    order.customer.preferred_language = "fr"
    assert notifications.shopper_language(order.customer) == "en"
    order.customer.preferred_language = ""
    assert notifications.shopper_language(order.customer) == "en"
    order.customer.preferred_language = "es"
    assert notifications.shopper_language(order.customer) == "es"
