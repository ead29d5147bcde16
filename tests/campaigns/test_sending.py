"""Sending: claimed batches re-check consent, wait out quiet hours, spend the contact budget,
render in the sandbox and hand over with the delivery id, marking each row in one transaction."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from campaigns import planning, sending
from campaigns.models import CampaignStatus, Delivery
from campaigns.tracking import verify_unsubscribe_token
from customers.models import ConsentState, Event
from orders.models import Coupon, Promotion, PromotionKind
from tests.campaigns.pipeline import campaign, consent, shopper
from tests.factories import LocationFactory

pytestmark = pytest.mark.django_db
NOON_MADRID = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)  # 12:00 in Madrid (CET)


@pytest.fixture(autouse=True)
def _daytime(settings):
    settings.CAMPAIGN_QUIET_HOURS = ("21:00", "09:00")
    settings.CAMPAIGN_CONTACT_BUDGET = (3, timedelta(days=7))


def sending_campaign(**kwargs):
    made = campaign(status=CampaignStatus.SENDING, **kwargs)
    planning.plan_campaign(campaign=made, now=NOON_MADRID)
    return made


def row(made, customer):
    return Delivery.objects.get(campaign=made, customer=customer)


def test_sends_rendered_email_with_delivery_id_unsubscribe_link_and_a_timeline_touchpoint(
    outbox,
):
    ana = shopper(first_name="Ana", preferred_language="en")
    made = sending_campaign()
    result = sending.send_batch(campaign_id=made.pk, now=NOON_MADRID)
    assert (result.claimed, result.sent) == (1, 1)
    (message,) = outbox
    delivery = row(made, ana)
    assert (delivery.status, delivery.sent_at, delivery.attempts) == ("sent", NOON_MADRID, 1)
    assert message.to == f"c{ana.pk}@example.com" and message.subject == "Hola Ana"
    assert message.metadata["delivery_id"] == delivery.pk
    token = message.unsubscribe_url.rstrip("/").rsplit("/", 1)[1]
    assert verify_unsubscribe_token(token) == (ana.pk, "email", made.pk)
    assert message.unsubscribe_url in message.html
    event = Event.objects.get(customer=ana, type="message_sent")
    assert event.properties == {"campaign_id": made.pk, "delivery_id": delivery.pk}
    assert sending.send_batch(campaign_id=made.pk, now=NOON_MADRID).claimed == 0


def test_consent_withdrawn_between_planning_and_sending_is_suppressed(outbox):
    stays, leaves = shopper(), shopper()
    made = sending_campaign()
    consent(leaves, "email", ConsentState.WITHDRAWN)
    result = sending.send_batch(campaign_id=made.pk, now=NOON_MADRID)
    assert (result.sent, result.suppressed) == (1, 1)
    assert [m.to for m in outbox] == [f"c{stays.pk}@example.com"]
    assert (row(made, leaves).status, row(made, leaves).reason) == ("suppressed", "no_consent")
    assert not Event.objects.filter(customer=leaves, type="message_sent").exists()


def test_an_address_that_bounced_after_planning_is_not_messaged(outbox):
    from customers.services import suppress_address

    stays, bounced = shopper(), shopper()
    made = sending_campaign()
    suppress_address(kind="email", value=f"c{bounced.pk}@example.com", reason="hard_bounce")
    result = sending.send_batch(campaign_id=made.pk, now=NOON_MADRID)
    assert [m.to for m in outbox] == [f"c{stays.pk}@example.com"]
    assert result.suppressed == 1
    assert (row(made, bounced).status, row(made, bounced).reason) == ("suppressed", "bounced")


def test_holdout_shoppers_receive_nothing(outbox):
    everyone = [shopper() for _ in range(40)]
    made = sending_campaign(holdout=50)
    held = set(
        Delivery.objects.filter(campaign=made, reason="holdout").values_list("customer", flat=True)
    )
    assert 0 < len(held) < 40
    sending.send_batch(campaign_id=made.pk, now=NOON_MADRID)
    reached = {m.metadata["delivery_id"] for m in outbox}
    assert len(reached) == 40 - len(held)
    addresses = {m.to for m in outbox}
    assert not {f"c{pk}@example.com" for pk in held} & addresses
    assert {c.pk for c in everyone} - held == {
        d.customer_id for d in Delivery.objects.filter(pk__in=reached)
    }


def test_inside_quiet_hours_it_waits_for_the_next_allowed_local_time(outbox):
    LocationFactory(code="nyc", timezone="America/New_York")
    madrid, new_york = shopper(), shopper(home_store="nyc")
    made = sending_campaign()
    late = datetime(2026, 3, 10, 22, 30, tzinfo=UTC)  # 23:30 Madrid, 18:30 New York
    result = sending.send_batch(campaign_id=made.pk, now=late)
    assert (result.sent, result.deferred) == (1, 1)
    assert [m.to for m in outbox] == [f"c{new_york.pk}@example.com"]
    deferred = row(made, madrid)
    assert (deferred.status, deferred.reason) == ("queued", "quiet_hours")
    assert deferred.not_before == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)  # 09:00 in Madrid
    assert sending.send_batch(campaign_id=made.pk, now=late + timedelta(hours=1)).claimed == 0
    result = sending.send_batch(campaign_id=made.pk, now=deferred.not_before)
    assert result.sent == 1 and row(made, madrid).status == "sent"


def test_each_recipient_gets_a_personal_coupon_code(outbox):
    promotion = Promotion.objects.create(
        name="10 %", kind=PromotionKind.PERCENTAGE, value=Decimal("10")
    )
    ana, eva = shopper(), shopper()
    made = sending_campaign(promotion=promotion)
    sending.send_batch(campaign_id=made.pk, now=NOON_MADRID)
    codes = {c.customer_id: c.code for c in Coupon.objects.filter(promotion=promotion)}
    assert set(codes) == {ana.pk, eva.pk} and len(set(codes.values())) == 2
    for customer in (ana, eva):
        assert row(made, customer).coupon_code == codes[customer.pk]
    assert {codes[ana.pk], codes[eva.pk]} == {
        m.html.split("<p>")[1].split("</p>")[0] for m in outbox
    }


def test_a_message_that_breaks_its_channel_limits_fails_alone(outbox):
    ok = shopper(first_name="Ana", consents=("sms",), addresses=("sms",))
    long = shopper(first_name="A" * 100, consents=("sms",), addresses=("sms",))
    made = campaign(status=CampaignStatus.SENDING, channels=("sms",))
    made.variants.update(content={"sms": {"body": "{{ customer.first_name }} " * 10}})
    planning.plan_campaign(campaign=made)
    result = sending.send_batch(campaign_id=made.pk, now=NOON_MADRID)
    assert (result.sent, result.failed) == (1, 1)
    assert (row(made, long).status, row(made, long).reason) == ("failed", "error")
    assert [m.to for m in outbox] == [row(made, ok).address]


def test_in_store_task_is_marked_sent_without_a_backend(outbox):
    customer = shopper(consents=("email",), addresses=(), home_store="mad")
    made = sending_campaign(channels=("store",))
    assert sending.send_batch(campaign_id=made.pk, now=NOON_MADRID).sent == 1
    assert row(made, customer).status == "sent" and outbox == []


@pytest.mark.parametrize("status", ["draft", "scheduled", "paused", "cancelled", "finished"])
def test_nothing_is_sent_unless_the_campaign_is_sending(status, outbox):
    shopper()
    made = sending_campaign()
    made.status = status
    made.save()
    assert sending.send_batch(campaign_id=made.pk, now=NOON_MADRID).claimed == 0
    assert outbox == [] and Delivery.objects.get(campaign=made).status == "queued"


def test_a_backend_failure_leaves_the_rows_queued(settings, outbox):
    shopper()
    made = sending_campaign()
    settings.MESSAGING_BACKENDS = {**settings.MESSAGING_BACKENDS, "email": "nowhere.Backend"}
    with pytest.raises(ImportError):
        sending.send_batch(campaign_id=made.pk, now=NOON_MADRID)
    delivery = Delivery.objects.get(campaign=made)
    assert (delivery.status, delivery.sent_at, delivery.attempts) == ("queued", None, 0)


def test_send_until_done_finishes_the_campaign_or_comes_back_after_quiet_hours(outbox, monkeypatch):
    shopper()
    made = sending_campaign()
    clock = [datetime(2026, 3, 10, 22, 30, tzinfo=UTC)]
    monkeypatch.setattr(sending.timezone, "now", lambda: clock[0])
    run = sending.send_until_done(campaign_id=made.pk)
    assert run.sent == 0 and run.retry_at == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)
    made.refresh_from_db()
    assert made.status == "sending"
    clock[0] = run.retry_at
    run = sending.send_until_done(campaign_id=made.pk)
    assert (run.sent, run.retry_at) == (1, None)
    made.refresh_from_db()
    assert made.status == "finished"


def test_a_sending_rate_sends_a_minutes_worth_then_comes_back_when_the_window_frees(
    outbox, monkeypatch
):
    clock = [NOON_MADRID]
    monkeypatch.setattr(sending.timezone, "now", lambda: clock[0])
    for _ in range(5):
        shopper()
    made = sending_campaign(send_rates={"email": 2})
    run = sending.send_until_done(campaign_id=made.pk)
    assert (run.sent, run.retry_at, len(outbox)) == (2, NOON_MADRID + timedelta(minutes=1), 2)

    clock[0] = NOON_MADRID + timedelta(seconds=30)  # too early: the window is still full
    assert sending.send_batch(campaign_id=made.pk, now=clock[0]).claimed == 0
    clock[0] = NOON_MADRID + timedelta(minutes=1, seconds=1)
    assert sending.send_until_done(campaign_id=made.pk).sent == 2
    clock[0] += timedelta(minutes=1)
    run = sending.send_until_done(campaign_id=made.pk)
    assert (run.sent, run.retry_at, len(outbox)) == (1, None, 5)
    made.refresh_from_db()
    assert made.status == "finished"


def test_a_rate_limits_only_its_channel(outbox):
    for n in range(6):
        channel = "sms" if n % 2 else "email"
        shopper(consents=(channel,), addresses=(channel,))
    made = sending_campaign(channels=("email", "sms"), send_rates={"sms": 1})
    result = sending.send_batch(campaign_id=made.pk, now=NOON_MADRID)
    assert (result.claimed, result.sent) == (4, 4)  # three e-mails and one SMS
    assert sorted(m.channel for m in outbox) == ["email", "email", "email", "sms"]
    assert made.deliveries.filter(status="queued", channel="sms").count() == 2


def test_beat_sends_again_for_sending_campaigns_with_claimable_rows(outbox, monkeypatch):
    from campaigns import selectors, tasks

    shopper()
    made = sending_campaign()
    paced = sending_campaign(send_rates={"email": 10})
    waiting = sending_campaign()
    Delivery.objects.filter(campaign=waiting).update(not_before=NOON_MADRID + timedelta(days=1))
    monkeypatch.setattr(sending.timezone, "now", lambda: NOON_MADRID)
    assert selectors.campaigns_with_claimable_rows() == [made.pk, paced.pk]
    tasks.start_due_campaigns_task()  # eager: the send task runs now
    assert row(made, made.deliveries.get().customer).status == "sent"
    assert paced.deliveries.get().status == "sent"  # within its rate: recovered by beat too
    assert waiting.deliveries.get().status == "queued"


def test_delivery_counts_give_every_status_for_the_progress_bar(outbox):
    from campaigns import selectors

    shopper(), shopper(consents=())
    made = sending_campaign()
    assert selectors.delivery_counts(made) == {
        "queued": 1, "sent": 0, "failed": 0, "suppressed": 1,
        "opened": 0, "clicked": 0, "converted": 0,
    }  # fmt: skip
    sending.send_batch(campaign_id=made.pk, now=NOON_MADRID)
    counts = selectors.delivery_counts(made)
    assert (counts["queued"], counts["sent"], counts["suppressed"]) == (0, 1, 1)
