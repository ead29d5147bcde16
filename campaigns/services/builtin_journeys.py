"""The journeys Omni ships, made on first use (switched off) with content a marketer edits in
the admin: the journey's steps and timings on its page, its messages and coupon on its
campaign's.

Abandoned cart: the idle sweep (``orders.services.carts.mark_abandoned_carts``) marks the cart
abandoned → an e-mail with the cart's items, their stock at the shopper's store and their
personal coupon → wait up to a day for it to be opened → if not, an SMS reminder. It exits the
moment an order from that cart, or with its items, exists in any channel (the counter too).
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import (
    Campaign,
    CampaignChannel,
    CampaignPriority,
    CampaignStatus,
    CampaignVariant,
    Journey,
    JourneyKind,
    JourneyStep,
    StepEvent,
    StepKind,
)
from campaigns.services import lifecycle

# Both languages in one template: the shopper reads the one of their profile.
_CART_ITEMS = "{% for p in products %}<li>{{ p.name }} · {{ p.price }} €</li>{% endfor %}"
ABANDONED_CART_CONTENT = {
    "email": {
        "subject": "{% if customer.language == 'en' %}You left something in your cart"
        "{% else %}¿Lo dejaste en el carrito?{% endif %}",
        "html": "<html><body>"
        "{% if customer.language == 'en' %}<h1>We kept it for you</h1>"
        "<p>Hello {{ customer.first_name }}, your cart is waiting:</p>"
        "{% else %}<h1>Te lo guardamos</h1>"
        "<p>Hola {{ customer.first_name }}, tu carrito te espera:</p>{% endif %}"
        f"<ul>{_CART_ITEMS}</ul>"
        "{% if store.name %}<p>{% if customer.language == 'en' %}In stock at"
        "{% else %}Disponible en{% endif %} {{ store.name }} ({{ store.address }})</p>{% endif %}"
        "{% if coupon_code %}<p>{% if customer.language == 'en' %}Your personal code"
        "{% else %}Tu código personal{% endif %}: <strong>{{ coupon_code }}</strong></p>"
        "{% endif %}"
        '<p><a href="{{ unsubscribe_url }}">'
        "{% if customer.language == 'en' %}Unsubscribe{% else %}Darse de baja{% endif %}"
        "</a></p></body></html>",
    },
    "sms": {
        "body": "{% if customer.language == 'en' %}{{ customer.first_name }}, your cart is "
        "waiting{% if coupon_code %}: {{ coupon_code }}{% endif %}{% else %}"
        "{{ customer.first_name }}, tu carrito te espera{% if coupon_code %}: "
        "{{ coupon_code }}{% endif %}{% endif %}"
    },
}


@transaction.atomic
def abandoned_cart_journey(*, promotion=None, reminder_hours: int = 24) -> Journey:
    """The abandoned-cart journey, made (switched off) if it does not exist yet."""
    existing = Journey.objects.filter(kind=JourneyKind.ABANDONED_CART).first()
    if existing is not None:
        return existing
    campaign = Campaign.objects.create(
        name=_("Journey: abandoned cart"),
        goal=_("Recover abandoned carts"),
        status=CampaignStatus.PAUSED,
        channels=[CampaignChannel.EMAIL, CampaignChannel.SMS],
        holdout_percent=10,
        priority=CampaignPriority.HIGH,
        promotion=promotion,
        utm_campaign="abandoned-cart",
    )
    CampaignVariant.objects.create(
        campaign=campaign, name="A", split_percent=100, content=ABANDONED_CART_CONTENT
    )
    journey = Journey.objects.create(
        kind=JourneyKind.ABANDONED_CART, name=_("Abandoned cart"), campaign=campaign
    )
    minutes = int(timedelta(hours=reminder_hours).total_seconds() // 60)
    JourneyStep.objects.bulk_create(
        [
            JourneyStep(journey=journey, position=0, kind=StepKind.MESSAGE, channel="email"),
            JourneyStep(
                journey=journey,
                position=1,
                kind=StepKind.WAIT_EVENT,
                event=StepEvent.OPENED,
                wait_minutes=minutes,
                goto=3,
            ),
            JourneyStep(journey=journey, position=2, kind=StepKind.MESSAGE, channel="sms"),
            JourneyStep(journey=journey, position=3, kind=StepKind.EXIT),
        ]
    )
    return journey


@transaction.atomic
def switch(*, journey: Journey, on: bool, acting_user=None) -> Journey:
    """Switch a journey on (its campaign sends: paused → sending, in the campaign's history)
    or off (its campaign pauses; entries leave at their next step)."""
    journey.enabled = on
    journey.save(update_fields=["enabled", "updated_at"])
    campaign = Campaign.objects.get(pk=journey.campaign_id)
    if on and campaign.status == CampaignStatus.PAUSED:
        lifecycle.resume_campaign(campaign=campaign, acting_user=acting_user)
        Campaign.objects.filter(pk=campaign.pk, started_at__isnull=True).update(
            started_at=timezone.now()
        )
    elif not on and campaign.status == CampaignStatus.SENDING:
        lifecycle.pause_campaign(campaign=campaign, acting_user=acting_user)
    return journey


def install_builtin(*, acting_user=None) -> int:
    """Make every built-in journey that does not exist yet (switched off); returns how many
    were made."""
    before = Journey.objects.count()
    abandoned_cart_journey()
    return Journey.objects.count() - before
