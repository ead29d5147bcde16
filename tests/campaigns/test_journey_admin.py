"""The journeys page for marketers: built-in journeys made on request, switched on and off
through the service (the campaign's history records it), steps edited inline, each step's
figures shown."""

import pytest
from django.test import Client
from django.urls import reverse

from campaigns.models import CampaignStatusChange, Journey, JourneyEntry
from campaigns.services import builtin_journeys
from omni import roles
from tests.campaigns.pipeline import shopper
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:campaigns_journey_changelist")
INSTALL = reverse("admin:campaigns_journey_install")


@pytest.fixture
def marketer():
    return UserFactory(role=roles.MARKETER)


@pytest.fixture
def client(marketer):
    client = Client()
    client.force_login(marketer)
    return client


def change_data(journey, **changes):
    steps = list(journey.steps.order_by("position"))
    data = {
        "name": journey.name,
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": str(len(steps)),
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
    }
    for i, step in enumerate(steps):
        for name in ("position", "kind", "channel", "event", "condition"):
            data[f"steps-{i}-{name}"] = getattr(step, name)
        for name in ("wait_minutes", "goto"):
            value = getattr(step, name)
            data[f"steps-{i}-{name}"] = "" if value is None else str(value)
        data[f"steps-{i}-wait_until_time"] = ""
        data[f"steps-{i}-id"] = str(step.pk)
        data[f"steps-{i}-journey"] = str(journey.pk)
    data.update(changes)
    return data


def test_a_marketer_adds_the_built_in_journeys_switched_off(client):
    response = client.post(INSTALL)
    assert response.status_code == 302
    journey = Journey.objects.get()
    assert (journey.kind, journey.enabled) == ("abandoned_cart", False)
    assert client.post(INSTALL).status_code == 302
    assert Journey.objects.count() == 1
    assert client.get(INSTALL).status_code == 405


def test_switching_on_starts_its_campaign_with_a_history_row_and_steps_are_edited(client, marketer):
    journey = builtin_journeys.abandoned_cart_journey()
    url = reverse("admin:campaigns_journey_change", args=[journey.pk])
    data = change_data(journey, enabled="on", **{"steps-1-wait_minutes": "720"})
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    journey.refresh_from_db()
    assert journey.enabled and journey.campaign.status == "sending"
    change = CampaignStatusChange.objects.get(campaign=journey.campaign)
    assert (change.to_status, change.acting_user) == ("sending", marketer)
    assert journey.steps.get(position=1).wait_minutes == 720


def test_a_backward_jump_is_a_form_error(client):
    journey = builtin_journeys.abandoned_cart_journey()
    url = reverse("admin:campaigns_journey_change", args=[journey.pk])
    response = client.post(url, change_data(journey, **{"steps-1-goto": "0"}))
    assert response.status_code == 200
    assert "A journey only moves forward" in response.content.decode()


def test_the_list_and_the_page_show_the_figures_in_few_queries(
    client, django_assert_max_num_queries
):
    journey = builtin_journeys.abandoned_cart_journey()
    for _ in range(5):
        JourneyEntry.objects.create(
            journey=journey, customer=shopper(), entity_type="cart", entity_id=1, position=1
        )
    with django_assert_max_num_queries(12):
        listing = client.get(CHANGELIST)
    assert listing.status_code == 200
    assert "Abandoned cart" in listing.content.decode()
    page = client.get(reverse("admin:campaigns_journey_change", args=[journey.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and 'class="journey-steps"' in html
    assert "<td>1. Wait for an event (with a timeout)</td><td>5</td>" in html


def test_store_staff_cannot_reach_journeys():
    client = Client()
    client.force_login(UserFactory(role=roles.STORE_STAFF))
    assert client.get(CHANGELIST).status_code == 403
    assert client.post(INSTALL).status_code == 403
