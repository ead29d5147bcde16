"""Celery tasks of the campaigns app: each takes ids, calls services, and is safe to run twice
(acks_late: a task whose worker died is delivered again; planning skips rows already planned,
sending only ever claims queued rows)."""

from celery import shared_task

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
