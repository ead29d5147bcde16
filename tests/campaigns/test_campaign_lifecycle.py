"""The campaign lifecycle is enforced by services: every legal change works and is audited,
every illegal one raises InvalidTransition and changes nothing."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns import services
from campaigns.exceptions import CampaignNotReady, InvalidTransition
from campaigns.models import Campaign, CampaignStatus, CampaignVariant, Delivery
from campaigns.services.lifecycle import TRANSITIONS
from tests.campaigns.pipeline import campaign, shopper

pytestmark = pytest.mark.django_db
S = CampaignStatus


@pytest.fixture(autouse=True)
def _no_quiet_hours(settings):
    settings.CAMPAIGN_QUIET_HOURS = ("00:00", "00:00")  # the test sends now, whatever the hour


ACTIONS = {
    S.SCHEDULED: services.schedule_campaign,
    S.DRAFT: services.unschedule_campaign,
    S.SENDING: None,  # start (from scheduled) or resume (from paused)
    S.PAUSED: services.pause_campaign,
    S.CANCELLED: services.cancel_campaign,
    S.FINISHED: services.finish_campaign,
}


def act(made, to, user):
    if to == S.SENDING:
        action = services.resume_campaign if made.status == S.PAUSED else services.start_campaign
    else:
        action = ACTIONS[to]
    return action(campaign=made, acting_user=user)


LEGAL = [(a, b) for a, targets in TRANSITIONS.items() for b in targets]
ILLEGAL = [(a, b) for a in S.values for b in S.values if b not in TRANSITIONS[a]]


@pytest.mark.parametrize(("start", "to"), LEGAL)
def test_every_legal_transition_is_made_and_audited(start, to, marketer, outbox):
    made = campaign(status=start)
    changed = act(made, to, marketer)
    made.refresh_from_db()
    assert made.status == changed.status == to
    change = made.history.get()
    assert (change.from_status, change.to_status, change.acting_user) == (start, to, marketer)


@pytest.mark.parametrize(("start", "to"), ILLEGAL)
def test_every_illegal_transition_is_refused_and_changes_nothing(start, to, marketer):
    made = campaign(status=start)
    with pytest.raises(InvalidTransition) as caught:
        act(made, to, marketer)
    assert caught.value.code == "invalid_campaign_transition"
    assert caught.value.status_code == 409
    made.refresh_from_db()
    assert made.status == start
    assert not made.history.exists()


def test_schedule_refuses_a_campaign_that_is_not_ready_naming_the_fields(marketer):
    made = Campaign.objects.create(name="Empty", channels=["social"])
    with pytest.raises(CampaignNotReady) as caught:
        services.schedule_campaign(campaign=made, acting_user=marketer)
    assert set(caught.value.fields) == {"segment", "channels", "variants"}
    made.refresh_from_db()
    assert made.status == S.DRAFT


def test_schedule_refuses_variants_not_adding_up_or_missing_a_channel(marketer):
    made = campaign(channels=("email", "sms"), splits=(("A", 60), ("B", 30)))
    CampaignVariant.objects.filter(name="B").update(
        content={"email": {"subject": "s", "html": "h"}}
    )
    with pytest.raises(CampaignNotReady) as caught:
        services.schedule_campaign(campaign=made, acting_user=marketer)
    errors = " ".join(caught.value.fields["variants"])
    assert "100" in errors and "“B” has no content for: sms" in errors


def test_schedule_at_a_time_then_beat_starts_it_when_due_and_it_sends(marketer, outbox):
    shopper()
    made = campaign()
    later = timezone.now() + timedelta(hours=2)
    services.schedule_campaign(campaign=made, acting_user=marketer, send_at=later)
    assert services.start_due_campaigns() == 0
    assert services.start_due_campaigns(now=later) == 1
    made.refresh_from_db()
    # Eager Celery: started → planned → sent → finished, on commit of the test's transaction
    # (the django_db test never commits, so the chain is run by hand here).
    assert made.status == S.SENDING and made.started_at is not None
    from campaigns import tasks

    tasks.plan_campaign_task(made.pk)
    made.refresh_from_db()
    assert made.status == S.FINISHED
    assert Delivery.objects.get(campaign=made).status == "sent"
    assert len(outbox) == 1


def test_a_naive_send_at_is_refused(marketer):
    made = campaign()
    with pytest.raises(CampaignNotReady) as caught:
        services.schedule_campaign(
            campaign=made, acting_user=marketer, send_at=timezone.now().replace(tzinfo=None)
        )
    assert "send_at" in caught.value.fields


def test_old_running_status_is_not_a_status_any_more():
    made = campaign()
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.filter(pk=made.pk).update(status="running")


def test_channels_holdout_rates_and_recurrence_are_checked():
    made = campaign()
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.filter(pk=made.pk).update(channels=["fax"])
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.filter(pk=made.pk).update(holdout_percent=51)
    made.send_rates = {"sms": "fast"}
    made.recurrence = "every monday"
    made.channels = ["email", "email"]
    made.holdout_percent = None
    with pytest.raises(ValidationError) as caught:
        made.full_clean()
    assert {"send_rates", "recurrence", "channels", "holdout_percent"} <= set(
        caught.value.message_dict
    )
    made.send_rates, made.recurrence = {"sms": 600}, "0 10 * * 1"
    made.channels, made.holdout_percent = ["sms", "email"], 10
    made.full_clean()


def test_variant_with_an_unknown_variable_is_refused_at_save_with_the_line():
    made = campaign()
    variant = CampaignVariant(
        campaign=made,
        name="B",
        content={"sms": {"body": "Hola\n{{ customer.password }}"}},
    )
    with pytest.raises(ValidationError) as caught:
        variant.save()
    assert "Line 2" in str(caught.value) and "customer.password" in str(caught.value)
    assert not CampaignVariant.objects.filter(name="B").exists()


def test_variant_with_a_syntax_error_or_an_unknown_channel_is_refused():
    made = campaign()
    with pytest.raises(ValidationError, match="Line 1"):
        CampaignVariant(campaign=made, name="C", content={"sms": {"body": "{% if %}"}}).save()
    with pytest.raises(ValidationError):
        CampaignVariant(campaign=made, name="D", content={"fax": {"body": "x"}}).save()
    with pytest.raises(ValidationError):
        CampaignVariant(campaign=made, name="E", content=["not", "a", "mapping"]).save()
