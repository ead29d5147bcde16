"""The one contact budget: N marketing messages per customer per window across every campaign
and channel (the store too), per-priority overrides; over it a delivery is suppressed (cap)."""

from datetime import UTC, datetime, timedelta

import pytest

from campaigns import budget, planning, sending
from campaigns.models import CampaignStatus, Delivery
from tests.campaigns.pipeline import campaign, shopper

pytestmark = pytest.mark.django_db
NOON = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _budget(settings):
    settings.CAMPAIGN_QUIET_HOURS = ("21:00", "09:00")
    settings.CAMPAIGN_CONTACT_BUDGET = (2, timedelta(days=7))
    settings.CAMPAIGN_CONTACT_BUDGET_BY_PRIORITY = {"high": (3, timedelta(days=7))}


def send(channels=("email",), now=NOON, **kwargs):
    made = campaign(status=CampaignStatus.SENDING, channels=channels, **kwargs)
    planning.plan_campaign(campaign=made, now=now)
    sending.send_batch(campaign_id=made.pk, now=now)
    return {d.customer_id: (d.status, d.reason) for d in Delivery.objects.filter(campaign=made)}


def test_campaigns_to_the_same_audience_never_exceed_the_cap(outbox):
    ana = shopper(consents=("email", "sms"), addresses=("email", "sms"))
    assert send()[ana.pk] == ("sent", "")
    assert send(channels=("sms",), now=NOON + timedelta(hours=1))[ana.pk] == ("sent", "")
    assert send(now=NOON + timedelta(hours=2))[ana.pk] == ("suppressed", "cap")
    assert len(outbox) == 2


def test_store_tasks_spend_the_same_budget(outbox):
    ana = shopper(home_store="mad")
    send(channels=("store",))
    send(channels=("store",))
    assert send()[ana.pk] == ("suppressed", "cap")
    assert outbox == []


def test_messages_older_than_the_window_do_not_count(outbox):
    ana = shopper()
    send(now=NOON - timedelta(days=8))
    send(now=NOON - timedelta(days=8))
    assert send()[ana.pk] == ("sent", "")


def test_a_higher_priority_has_its_own_budget(outbox):
    ana = shopper()
    send()
    send()
    assert send(priority="normal")[ana.pk] == ("suppressed", "cap")
    assert send(priority="high")[ana.pk] == ("sent", "")
    assert send(priority="high")[ana.pk] == ("suppressed", "cap")


def test_suppressed_and_holdout_rows_do_not_spend_the_budget(outbox):
    ana = shopper()
    made = campaign(status=CampaignStatus.SENDING)
    planning.plan_campaign(campaign=made, now=NOON)
    Delivery.objects.filter(campaign=made).update(status="suppressed", sent_at=NOON)
    assert budget.messages_received([ana.pk], since=NOON - timedelta(days=7)) == {}
    send()
    assert budget.messages_received([ana.pk], since=NOON - timedelta(days=7)) == {ana.pk: 1}
