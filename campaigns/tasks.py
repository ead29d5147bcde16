"""Celery tasks of the campaigns app: each takes ids, calls services, and is safe to run twice
(acks_late: a task whose worker died is delivered again; planning skips rows already planned,
sending only ever claims queued rows)."""

from celery import shared_task
from django.conf import settings

from campaigns import planning, selectors, sending, services


@shared_task(acks_late=True)
def start_due_campaigns_task() -> int:
    """Beat, every minute: start the scheduled campaigns whose time has come, and send again
    for every sending campaign with rows to claim — the recovery after a worker died with a
    sending task (its rows went back to queued when its transaction died; duplicate tasks are
    harmless, they claim with SKIP LOCKED)."""
    started = services.start_due_campaigns()
    for campaign_id in selectors.campaigns_with_claimable_rows():
        send_campaign_task.delay(campaign_id)
    return started


@shared_task(acks_late=True)
def plan_campaign_task(campaign_id: int) -> int:
    """Turn the sending campaign's audience into deliveries, then send them."""
    campaign = selectors.campaign_or_none(campaign_id)
    if campaign is None or not selectors.is_sending(campaign):
        return 0
    planned = planning.plan_campaign(campaign=campaign, step=campaign.step)
    send_campaign_task.delay(campaign_id)
    return planned


@shared_task(acks_late=True)
def send_campaign_task(campaign_id: int) -> int:
    """Send batches until nothing is claimable; then come back when the first row deferred by
    quiet hours, the A/B test or a channel's sending rate lets rows go again, or finish
    the campaign when nothing is left to send."""
    step = sending.send_until_done(campaign_id=campaign_id)
    if step.retry_at is not None:
        send_campaign_task.apply_async((campaign_id,), eta=step.retry_at)
    return step.sent


@shared_task(acks_late=True)
def advance_journeys_task() -> int:
    """Beat, every minute (and after entries are made): sweep the due journey entries in
    batches until none is due, then send what the sweeps queued. Safe to run twice: entries
    are claimed with SKIP LOCKED and a step's delivery is inserted once."""
    from campaigns.services import journeys

    moved, campaigns = 0, set()
    while True:
        result = journeys.advance_due()
        moved += result.advanced
        campaigns |= result.campaigns
        if result.advanced < settings.JOURNEY_SWEEP_BATCH:
            break
    for campaign_id in sorted(campaigns):
        send_campaign_task.delay(campaign_id)
    return moved


@shared_task(acks_late=True)
def enter_abandoned_carts_task(cart_ids: list[int]) -> int:
    from campaigns.services import journeys

    entered = journeys.enter_abandoned_carts(cart_ids=cart_ids)
    if entered:
        advance_journeys_task.delay()
    return entered


@shared_task(acks_late=True)
def order_placed_task(order_id: int) -> int:
    """An order in any channel: journeys whose exit it meets are left, and the campaigns'
    messages it followed are credited (``campaigns.services.attribution``)."""
    from campaigns.services import attribution, journeys

    customer_id = attribution.attribute_order(order_id=order_id)
    if customer_id is None:
        return 0
    return journeys.exit_for_orders(customer_id=customer_id)
