"""Sending under concurrency: workers share a campaign's rows (SKIP LOCKED) and each delivery
goes out once; campaigns sending at the same time to one audience never exceed the budget."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from campaigns import planning, sending
from campaigns.models import CampaignStatus, Delivery
from tests.campaigns.pipeline import campaign, shopper

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]
NOON = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.CAMPAIGN_QUIET_HOURS = ("21:00", "09:00")
    settings.CAMPAIGN_CONTACT_BUDGET = (2, timedelta(days=7))


def drain(campaign_id, limit):
    """A worker: batches until nothing is claimable; returns how many it sent."""
    sent = 0
    while True:
        result = sending.send_batch(campaign_id=campaign_id, limit=limit, now=NOON)
        sent += result.sent
        if result.claimed == 0:
            return sent


def test_four_workers_sending_one_campaign_send_each_delivery_once(concurrently, outbox):
    customers = [shopper() for _ in range(60)]
    made = campaign(status=CampaignStatus.SENDING)
    planning.plan_campaign(campaign=made, now=NOON)

    results = concurrently(lambda i: drain(made.pk, 7), 4)

    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 60
    ids = Counter(m.metadata["delivery_id"] for m in outbox)
    assert len(ids) == 60 and set(ids.values()) == {1}
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert {d.customer_id for d in Delivery.objects.filter(pk__in=ids)} == {c.pk for c in customers}


def test_campaigns_sending_concurrently_to_one_audience_never_exceed_the_cap(concurrently, outbox):
    audience = [shopper(consents=("email", "sms"), addresses=("email", "sms")) for _ in range(20)]
    made = [
        campaign(status=CampaignStatus.SENDING, channels=(c,)) for c in ("email", "sms", "email")
    ]
    for one in made:
        planning.plan_campaign(campaign=one, now=NOON)

    results = concurrently(lambda i: drain(made[i].pk, 5), 3)

    assert all(isinstance(r, int) for r in results), results
    per_customer = Counter(
        Delivery.objects.filter(status="sent").values_list("customer_id", flat=True)
    )
    assert set(per_customer) == {c.pk for c in audience}
    assert set(per_customer.values()) == {2}  # the budget, exactly: never 3
    assert Delivery.objects.filter(status="suppressed", reason="cap").count() == 20
    assert len(outbox) == 40


def test_four_workers_together_keep_a_channels_sending_rate(concurrently, outbox):
    for _ in range(30):
        shopper(consents=("email", "sms"), addresses=("email", "sms"))
    made = campaign(status=CampaignStatus.SENDING, channels=("sms",), send_rates={"sms": 9})
    planning.plan_campaign(campaign=made, now=NOON)

    results = concurrently(lambda i: drain(made.pk, 4), 4)

    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 9 and len(outbox) == 9  # one minute's worth, not 4 × 9
    assert Delivery.objects.filter(campaign=made, status="queued").count() == 21


def test_four_sweeps_at_once_move_each_journey_entry_once(concurrently):
    """Journey sweeps on four workers (beat ran twice, a retried task): each due entry is
    claimed by one of them (SKIP LOCKED) and its e-mail step inserted once."""
    from campaigns.models import JourneyEntry
    from campaigns.services import builtin_journeys, journeys
    from orders.models import Cart, CartLine, CartStatus
    from tests.factories import VariantFactory

    made = builtin_journeys.abandoned_cart_journey()
    made = builtin_journeys.switch(journey=made, on=True)
    variant = VariantFactory()
    people = [shopper() for _ in range(60)]
    for person in people:
        cart = Cart.objects.create(customer=person, status=CartStatus.ABANDONED)
        CartLine.objects.create(cart=cart, variant=variant, quantity=1)
        journeys.enter(journey=made, entities=[(person.pk, "cart", cart.pk)], now=NOON)

    def sweep(i):
        moved = 0
        while (advanced := journeys.advance_due(now=NOON, limit=7).advanced) > 0:
            moved += advanced
        return moved

    results = concurrently(sweep, 4)

    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 60  # every entry moved once, by one sweep
    rows = Counter(Delivery.objects.values_list("entry_id", "step"))
    assert len(rows) == 60 and set(rows.values()) == {1}
    assert set(JourneyEntry.objects.values_list("position", "waiting_event")) == {(1, "opened")}
