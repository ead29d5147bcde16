"""A campaign's lifecycle, enforced here and nowhere else (not a free dropdown):

draft → scheduled → sending → finished; scheduled → draft (unscheduled); sending ⇄ paused;
every status but finished → cancelled. Each change locks the campaign row, checks
:data:`TRANSITIONS` (``InvalidTransition`` otherwise) and writes a ``CampaignStatusChange`` with
the acting user. Starting plans the deliveries and enqueues the sending after commit.
"""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import locks, selectors
from campaigns.exceptions import CampaignNotReady, InvalidTransition
from campaigns.models import (
    Campaign,
    CampaignChannel,
    CampaignStatus,
    CampaignStatusChange,
    parse_recurrence,
)

S = CampaignStatus
TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.SCHEDULED, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.DRAFT, S.SENDING, S.CANCELLED}),
    S.SENDING: frozenset({S.PAUSED, S.CANCELLED, S.FINISHED}),
    S.PAUSED: frozenset({S.SENDING, S.CANCELLED}),
    S.CANCELLED: frozenset(),
    S.FINISHED: frozenset(),
}
# Channels whose deliveries carry a message (a social custom audience is an export).
MESSAGE_CHANNELS = (
    CampaignChannel.EMAIL,
    CampaignChannel.SMS,
    CampaignChannel.PUSH,
    CampaignChannel.STORE,
)


# A recurring campaign's run that ends goes back to scheduled for its next run (only then).
NEXT_RUN = (S.SENDING, S.SCHEDULED)


def _transition(
    campaign: Campaign, to: str, acting_user, *, recurring: bool = False, **changes
) -> Campaign:
    campaign = locks.campaign_for_update(campaign.pk)
    allowed = TRANSITIONS[campaign.status]
    if recurring:
        allowed = frozenset({to}) if (campaign.status, to) == NEXT_RUN else frozenset()
    if to not in allowed:
        raise InvalidTransition(
            _("A campaign that is %(status)s cannot become %(to)s.")
            % {"status": campaign.get_status_display(), "to": S(to).label},
            current=campaign.status,
            requested=to,
        )
    CampaignStatusChange.objects.create(
        campaign=campaign, from_status=campaign.status, to_status=to, acting_user=acting_user
    )
    campaign.status = to
    for name, value in changes.items():
        setattr(campaign, name, value)
    campaign.save(update_fields=["status", "updated_at", *changes])
    return campaign


def ab_needs_variants_message() -> str:
    return _("An A/B test with a winner needs at least two variants.")


def _check_ab_test(campaign: Campaign) -> None:
    """CampaignNotReady when the campaign picks an A/B winner among fewer than two variants."""
    if campaign.ab_winner_metric and campaign.variants.count() < 2:
        raise CampaignNotReady(fields={"ab_winner_metric": [ab_needs_variants_message()]})


def readiness_errors(campaign: Campaign) -> dict[str, list[str]]:
    """What stops ``campaign`` from being scheduled, by field (empty: ready)."""
    errors: dict[str, list[str]] = {}
    if not selectors.has_audience(campaign):
        errors["segment"] = [_("Choose the audience segment or upload an audience list.")]
    channels = [c for c in campaign.channels or () if c in MESSAGE_CHANNELS]
    if not channels:
        errors["channels"] = [_("Choose at least one channel that carries a message.")]
    variants = list(campaign.variants.order_by("pk"))
    if not variants:
        errors["variants"] = [_("Write the content of at least one variant.")]
    elif sum(v.split_percent for v in variants) != 100:
        errors["variants"] = [_("The variants' shares must add up to 100 %.")]
    if campaign.ab_winner_metric and len(variants) < 2:
        errors["ab_winner_metric"] = [ab_needs_variants_message()]
    for variant in variants:
        missing = [c for c in channels if c not in variant.content]
        if missing:
            errors.setdefault("variants", []).append(
                _("Variant “%(name)s” has no content for: %(channels)s.")
                % {"name": variant.name, "channels": ", ".join(missing)}
            )
    return errors


@transaction.atomic
def schedule_campaign(
    *, campaign: Campaign, acting_user, send_at: datetime | None = None
) -> Campaign:
    """Draft → scheduled, to start at ``send_at`` (now when None; Celery beat starts due
    campaigns every minute). CampaignNotReady names what is missing; nothing changes then."""
    locked = locks.campaign_for_update(campaign.pk)
    errors = readiness_errors(locked)
    if send_at is not None and timezone.is_naive(send_at):
        errors["send_at"] = [_("The time needs a time zone.")]
    if errors and locked.status == S.DRAFT:
        raise CampaignNotReady(fields=errors)
    return _transition(locked, S.SCHEDULED, acting_user, send_at=send_at or timezone.now())


@transaction.atomic
def unschedule_campaign(*, campaign: Campaign, acting_user) -> Campaign:
    return _transition(campaign, S.DRAFT, acting_user)


@transaction.atomic
def start_campaign(*, campaign: Campaign, acting_user) -> Campaign:
    """Scheduled → sending; after commit the planning task turns the segment into deliveries,
    then sends them. CampaignNotReady for an A/B winner with fewer than two variants."""
    from campaigns import tasks

    _check_ab_test(locks.campaign_for_update(campaign.pk))
    campaign = _transition(campaign, S.SENDING, acting_user, started_at=timezone.now())
    pk = campaign.pk
    transaction.on_commit(lambda: tasks.plan_campaign_task.delay(pk))
    return campaign


@transaction.atomic
def pause_campaign(*, campaign: Campaign, acting_user) -> Campaign:
    """Sending → paused: the batch in flight finishes, no further batch starts."""
    return _transition(campaign, S.PAUSED, acting_user)


@transaction.atomic
def resume_campaign(*, campaign: Campaign, acting_user) -> Campaign:
    from campaigns import tasks

    campaign = _transition(campaign, S.SENDING, acting_user)
    pk = campaign.pk
    transaction.on_commit(lambda: tasks.send_campaign_task.delay(pk))
    return campaign


@transaction.atomic
def cancel_campaign(*, campaign: Campaign, acting_user) -> Campaign:
    """Any status but finished → cancelled (for good): queued deliveries are never sent."""
    return _transition(campaign, S.CANCELLED, acting_user, finished_at=timezone.now())


@transaction.atomic
def finish_campaign(*, campaign: Campaign, acting_user=None) -> Campaign:
    return _transition(campaign, S.FINISHED, acting_user, finished_at=timezone.now())


MAX_DAYS_AHEAD = 5 * 366  # "29 2 * * 1": a Monday 29 February can be years away


def next_run(recurrence: str, after: datetime) -> datetime | None:
    """The first minute after ``after`` that the crontab ``recurrence`` names, on the wall
    clock of ``settings.TIME_ZONE`` (so 10:00 stays 10:00 across daylight-saving changes)."""
    cron = parse_recurrence(recurrence)
    zone = ZoneInfo(settings.TIME_ZONE)
    local = after.astimezone(zone)
    for offset in range(MAX_DAYS_AHEAD):
        day = local.date() + timedelta(days=offset)
        weekday = (day.weekday() + 1) % 7  # crontab: Sunday is 0
        if day.month not in cron.month_of_year or day.day not in cron.day_of_month:
            continue
        if weekday not in cron.day_of_week:
            continue
        for hour in sorted(cron.hour):
            for minute in sorted(cron.minute):
                moment = datetime.combine(day, time(hour, minute), tzinfo=zone)
                if moment > after:
                    return moment.astimezone(UTC)
    return None


@transaction.atomic
def complete_campaign(*, campaign: Campaign, acting_user=None) -> Campaign:
    """A sending campaign with nothing left to send: finished, or — recurring — scheduled
    again for its next run as the next step (its deliveries are planned anew then: the
    unique key is campaign × step × customer)."""
    campaign = locks.campaign_for_update(campaign.pk)
    upcoming = next_run(campaign.recurrence, timezone.now()) if campaign.recurrence else None
    if upcoming is None:
        return finish_campaign(campaign=campaign, acting_user=acting_user)
    return _transition(
        campaign, S.SCHEDULED, acting_user, recurring=True, send_at=upcoming, step=campaign.step + 1
    )


def start_due_campaigns(*, now: datetime | None = None) -> int:
    """Start every scheduled campaign whose time has come (Celery beat, every minute); one
    started concurrently elsewhere is skipped. Returns how many this call started."""
    now = now or timezone.now()
    due = Campaign.objects.filter(status=S.SCHEDULED, send_at__lte=now).order_by("send_at", "pk")
    started = 0
    for pk in due.values_list("pk", flat=True):
        try:
            start_campaign(campaign=Campaign(pk=pk), acting_user=None)
        except (InvalidTransition, CampaignNotReady):
            continue
        started += 1
    return started
