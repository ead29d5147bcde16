from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.content import validate_message


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    SENDING = "sending", _("Sending")
    PAUSED = "paused", _("Paused")
    CANCELLED = "cancelled", _("Cancelled")
    FINISHED = "finished", _("Finished")


class CampaignChannel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    PUSH = "push", _("Push")
    STORE = "store", _("In-store task")
    SOCIAL = "social", _("Social custom audience")


class CampaignPriority(models.TextChoices):
    """Which contact budget a campaign spends (``settings.CAMPAIGN_CONTACT_BUDGET_BY_PRIORITY``)."""

    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")


MAX_HOLDOUT_PERCENT = 50
MAX_AB_TEST_PERCENT = 50
MAX_AB_TEST_HOURS = 14 * 24


class WinnerMetric(models.TextChoices):
    """What picks an A/B test's winner (ties go to the next metric, then the first variant)."""

    OPENS = "opens", _("Opens")
    CLICKS = "clicks", _("Clicks")
    CONVERSIONS = "conversions", _("Conversions")


def default_channels() -> list[str]:
    return [CampaignChannel.EMAIL]


class Campaign(models.Model):
    """A cross-channel marketing campaign. Segments, messages and journeys hang off it."""

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    goal = models.CharField(_("goal"), max_length=200, blank=True)
    segment = models.ForeignKey(
        "Segment",
        verbose_name=_("audience segment"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
    )
    # Numbers and flags are blank=True with a default: a form that omits them keeps the default
    # (clean() refuses an explicit empty value).
    channels = ArrayField(
        models.CharField(max_length=10, choices=CampaignChannel.choices),
        verbose_name=_("channels, in order of priority"),
        default=default_channels,
        blank=True,
        size=len(CampaignChannel.values),
    )
    allow_preferred_channel = models.BooleanField(
        _("shopper's preferred channel first"), default=False, blank=True
    )
    holdout_percent = models.PositiveSmallIntegerField(
        _("holdout %"),
        default=0,
        blank=True,
        validators=[MaxValueValidator(MAX_HOLDOUT_PERCENT)],
        help_text=_("A control group that receives nothing, 0 to 50 %."),
    )
    priority = models.CharField(
        _("priority"),
        max_length=10,
        choices=CampaignPriority.choices,
        default=CampaignPriority.NORMAL,
        blank=True,
    )
    send_rates = models.JSONField(
        _("sending rate per channel"),
        default=dict,
        blank=True,
        help_text=_('Messages per minute by channel, e.g. {"sms": 600}; empty: no limit.'),
    )
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    recurrence = models.CharField(
        _("recurrence"),
        max_length=100,
        blank=True,
        help_text=_('A crontab schedule, e.g. "0 10 * * 1" (Mondays at 10:00).'),
    )
    promotion = models.ForeignKey(
        "orders.Promotion",
        verbose_name=_("offer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Each recipient gets a personal single-use code of this promotion."),
    )
    starts_at = models.DateTimeField(_("starts"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    utm_campaign = models.SlugField(
        _("utm_campaign tag"),
        max_length=100,
        blank=True,
        help_text=_("The campaign's name in web analytics; empty: made from the name."),
    )
    ab_winner_metric = models.CharField(
        _("A/B winner by"),
        max_length=12,
        choices=WinnerMetric.choices,
        blank=True,
        help_text=_("Empty: every variant goes to its share of the audience."),
    )
    ab_test_percent = models.PositiveSmallIntegerField(
        _("A/B test group %"),
        default=20,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_AB_TEST_PERCENT)],
        help_text=_("The share of the audience that tests the variants; the rest gets the winner."),
    )
    ab_test_hours = models.PositiveSmallIntegerField(
        _("A/B test hours"),
        default=4,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_AB_TEST_HOURS)],
        help_text=_("How long the test group's results are counted before the winner is sent."),
    )
    winner = models.ForeignKey(
        "CampaignVariant",
        verbose_name=_("A/B winner"),
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    winner_chosen_at = models.DateTimeField(
        _("winner chosen"), null=True, blank=True, editable=False
    )
    audience_file_name = models.CharField(
        _("uploaded audience"), max_length=255, blank=True, editable=False
    )
    audience_uploaded_at = models.DateTimeField(
        _("audience uploaded"), null=True, blank=True, editable=False
    )
    audience_stats = models.JSONField(
        _("audience upload summary"), default=dict, blank=True, editable=False
    )
    step = models.PositiveSmallIntegerField(
        _("occurrence"), default=0, editable=False, help_text=_("A recurring campaign's run.")
    )
    started_at = models.DateTimeField(_("sending started"), null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True)
                | Q(ends_at__isnull=True)
                | Q(ends_at__gt=F("starts_at")),
                name="campaigns_campaign_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(channels__contained_by=CampaignChannel.values),
                name="campaigns_campaign_known_channels",
            ),
            models.CheckConstraint(
                condition=Q(holdout_percent__lte=MAX_HOLDOUT_PERCENT),
                name="campaigns_campaign_holdout_max",
            ),
            models.CheckConstraint(
                condition=Q(status__in=CampaignStatus.values),
                name="campaigns_campaign_known_status",
            ),
        ]
        indexes = [
            models.Index(
                fields=["send_at"],
                condition=Q(status="scheduled"),
                name="campaigns_campaign_due_idx",
            )
        ]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {}
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = _("The campaign must end after it starts.")
        required = ("holdout_percent", "priority", "allow_preferred_channel", "channels")
        for name in (*required, "ab_test_percent", "ab_test_hours"):
            if getattr(self, name) is None:
                errors[name] = _("This field is required.")
        if self.channels and len(set(self.channels)) != len(self.channels):
            errors["channels"] = _("Each channel may appear once.")
        errors.update(_rate_errors(self.send_rates))
        if self.recurrence:
            errors.update(_recurrence_errors(self.recurrence))
        if errors:
            raise ValidationError(errors)


MAX_RATE = 1_000_000


def _rate_errors(rates) -> dict:
    message = _("Messages per minute by channel: a positive whole number per channel.")
    if not isinstance(rates, dict):
        return {"send_rates": message}
    for channel, rate in rates.items():
        if (
            channel not in CampaignChannel.values
            or type(rate) is not int
            or not 0 < rate <= MAX_RATE
        ):
            return {"send_rates": message}
    return {}


def parse_recurrence(text: str):
    """A standard five-field crontab ("minute hour day-of-month month day-of-week", Sunday 0)
    as Celery's ``crontab``; ValueError when it is not one."""
    from celery.schedules import crontab

    parts = text.split() if isinstance(text, str) else []
    if len(parts) != 5:
        raise ValueError(text)
    minute, hour, day_of_month, month_of_year, day_of_week = parts
    try:
        return crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
        )
    except (TypeError, KeyError) as exc:
        raise ValueError(text) from exc


def _recurrence_errors(text) -> dict:
    try:
        parse_recurrence(text)
    except ValueError:
        return {"recurrence": _("A crontab schedule: minute hour day month weekday.")}
    return {}


class CampaignStatusChange(models.Model):
    """The audit trail of a campaign's lifecycle: who moved it from what to what, and when."""

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="history"
    )
    from_status = models.CharField(_("from"), max_length=12, choices=CampaignStatus.choices)
    to_status = models.CharField(_("to"), max_length=12, choices=CampaignStatus.choices)
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("campaign status change")
        verbose_name_plural = _("campaign status changes")
        ordering = ["created_at", "pk"]

    def __str__(self):
        return f"{self.from_status} → {self.to_status}"


def _content_errors(content) -> dict:
    """{channel: [messages]} of a variant's content ({channel: {part: source}})."""
    if not isinstance(content, dict):
        return {"content": [_("The content maps each channel to its parts.")]}
    errors = {}
    for channel, parts in content.items():
        if channel not in CampaignChannel.values or channel == CampaignChannel.SOCIAL:
            errors[str(channel)] = [_("This channel has no message content.")]
            continue
        try:
            validate_message(channel, parts)
        except ValidationError as exc:
            errors[channel] = exc.messages
    return errors


class CampaignVariant(models.Model):
    """One version of a campaign's content (A/B): its share of the audience and, per channel,
    the templates of each part (``{"email": {"subject": ..., "html": ...}, "sms": {...}}``),
    checked in the sandbox (``campaigns.content``) whenever it is saved."""

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="variants"
    )
    name = models.CharField(_("name"), max_length=100)
    split_percent = models.PositiveSmallIntegerField(
        _("share of the audience %"), default=100, validators=[MaxValueValidator(100)]
    )
    content = models.JSONField(_("content per channel"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("campaign variant")
        verbose_name_plural = _("campaign variants")
        ordering = ["campaign", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "name"], name="campaigns_variant_name_uniq"
            ),
            models.CheckConstraint(
                condition=Q(split_percent__lte=100), name="campaigns_variant_split_max"
            ),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self.clean()  # a template that fails is never stored
        super().save(*args, **kwargs)

    def clean(self):
        errors = _content_errors(self.content)
        if errors:
            raise ValidationError(
                {"content": [f"{c}: {m}" for c, ms in errors.items() for m in ms]}
            )


def empty_rules() -> dict:
    return {"op": "all", "rules": []}


class Segment(models.Model):
    """Customers described by a rule tree (``campaigns.segments``), counted live, never stored
    as a list: the tree compiles to one query on Customer each time it is read."""

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    rules = models.JSONField(
        _("rules"),
        default=empty_rules,
        help_text=_('A rule tree: {"op": "all" or "any", "rules": [conditions or groups]}.'),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("last changed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name", "pk"]

    def __str__(self):
        return self.name


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    SUPPRESSED = "suppressed", _("Suppressed")
    OPENED = "opened", _("Opened")
    CLICKED = "clicked", _("Clicked")
    CONVERTED = "converted", _("Converted")


# A delivery in these states reached the shopper: it counts against the contact budget.
REACHED = (
    DeliveryStatus.SENT,
    DeliveryStatus.OPENED,
    DeliveryStatus.CLICKED,
    DeliveryStatus.CONVERTED,
)


class DeliveryReason(models.TextChoices):
    NO_CONSENT = "no_consent", _("No consent")
    CAP = "cap", _("Contact budget reached")
    QUIET_HOURS = "quiet_hours", _("Deferred: quiet hours")
    HOLDOUT = "holdout", _("Holdout (control group)")
    NO_ADDRESS = "no_address", _("No address")
    BOUNCED = "bounced", _("Bounced")
    UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
    ERROR = "error", _("Could not be rendered or sent")
    RATE_LIMITED = "rate_limited", _("Deferred: sending rate")
    AB_WAIT = "ab_wait", _("Waiting for the A/B winner")
    DUPLICATE = "duplicate", _("Same person, already planned")
    EXITED = "exited", _("Left the journey before this step")


class Delivery(models.Model):
    """One campaign step to one customer: the unique row that makes retries and crashed workers
    safe (planning inserts it once; sending claims it with SKIP LOCKED and marks it)."""

    # Indexed by the unique constraint (campaign, step, customer): no index of its own.
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
    )
    step = models.PositiveSmallIntegerField(_("step"), default=0)
    variant = models.ForeignKey(
        CampaignVariant,
        verbose_name=_("variant"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    channel = models.CharField(
        _("channel"), max_length=10, choices=CampaignChannel.choices, blank=True
    )
    status = models.CharField(
        _("status"), max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    reason = models.CharField(
        _("reason"), max_length=20, choices=DeliveryReason.choices, blank=True
    )
    not_before = models.DateTimeField(_("not before"), null=True, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    coupon_code = models.CharField(_("coupon code"), max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    opened_at = models.DateTimeField(_("first opened"), null=True, blank=True)
    clicked_at = models.DateTimeField(_("first clicked"), null=True, blank=True)
    # A journey's message: the step of one entry (then ``step`` is the step's position).
    entry = models.ForeignKey(
        "JourneyEntry",
        verbose_name=_("journey entry"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,  # campaigns_delivery_entry_step_uniq
    )

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["campaign", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "step", "customer"],
                condition=Q(entry__isnull=True),
                name="campaigns_delivery_step_customer_uniq",
            ),
            # A journey's step is sent once per entry (a customer may enter again for
            # another cart): planning's key, per entry.
            models.UniqueConstraint(
                fields=["entry", "step"],
                condition=Q(entry__isnull=False),
                name="campaigns_delivery_entry_step_uniq",
            ),
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values),
                name="campaigns_delivery_known_status",
            ),
        ]
        indexes = [
            # The claim: a campaign's queued rows in pk order (a small index: sent rows leave it).
            models.Index(
                fields=["campaign", "id"],
                condition=Q(status="queued"),
                name="campaigns_delivery_queued_idx",
            ),
            # The contact budget: a customer's messages sent in the window, every campaign.
            models.Index(
                fields=["customer", "sent_at"],
                condition=Q(sent_at__isnull=False),
                name="campaigns_delivery_budget_idx",
            ),
            # Attribution: a customer's deliveries made in the window before an order.
            models.Index(fields=["customer", "created_at"], name="campaigns_delivery_cust_idx"),
        ]

    def __str__(self):
        return f"{self.campaign_id}/{self.step}/{self.customer_id}: {self.status}"


class AudienceMember(models.Model):
    """A customer of a campaign's uploaded audience (a CSV of identifiers, matched to profiles
    when it is uploaded; ``campaigns.services.audience_upload``)."""

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="audience_members",
        db_index=False,  # the unique constraint's index leads with it
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    created_at = models.DateTimeField(_("added"), default=timezone.now)

    class Meta:
        verbose_name = _("audience member")
        verbose_name_plural = _("audience members")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "customer"], name="campaigns_audience_member_uniq"
            )
        ]

    def __str__(self):
        return f"{self.campaign_id}: {self.customer_id}"


# --- Journeys ---------------------------------------------------------------------------------


class JourneyKind(models.TextChoices):
    ABANDONED_CART = "abandoned_cart", _("Abandoned cart")


class Journey(models.Model):
    """An event-triggered series of steps for one customer and one entity (a cart, an order).

    Its messages are sent as its campaign's deliveries (content per channel in the campaign's
    variants, the personal coupon of its promotion, its holdout and priority), so consent, the
    contact budget, quiet hours, tracking and attribution are those of every campaign."""

    kind = models.CharField(_("kind"), max_length=30, choices=JourneyKind.choices, unique=True)
    name = models.CharField(_("name"), max_length=200)
    enabled = models.BooleanField(_("switched on"), default=False)
    campaign = models.OneToOneField(
        Campaign,
        verbose_name=_("campaign (content, coupon, holdout)"),
        on_delete=models.PROTECT,
        related_name="journey",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("journey")
        verbose_name_plural = _("journeys")
        ordering = ["pk"]

    def __str__(self):
        return self.name


class StepKind(models.TextChoices):
    WAIT = "wait", _("Wait")
    MESSAGE = "message", _("Send a message")
    WAIT_EVENT = "wait_event", _("Wait for an event (with a timeout)")
    BRANCH = "branch", _("Branch on a condition")
    EXIT = "exit", _("End")


class StepEvent(models.TextChoices):
    OPENED = "opened", _("The last message was opened")
    CLICKED = "clicked", _("The last message was clicked")


class StepCondition(models.TextChoices):
    OPENED = "opened", _("The last message was opened")
    CLICKED = "clicked", _("The last message was clicked")
    HOLDOUT = "holdout", _("The customer is in the holdout group")


class JourneyStep(models.Model):
    """One step. A wait lasts ``wait_minutes``, or until the next ``wait_until_time`` in the
    customer's local time (their store's zone), or both (the duration, then the time of day);
    a wait for an event goes to ``goto`` when it comes, on to the next step after
    ``wait_minutes``; a branch goes to ``goto`` when its condition holds."""

    journey = models.ForeignKey(
        Journey, verbose_name=_("journey"), on_delete=models.CASCADE, related_name="steps"
    )
    position = models.PositiveSmallIntegerField(_("position"))
    kind = models.CharField(_("kind"), max_length=12, choices=StepKind.choices)
    channel = models.CharField(
        _("channel"),
        max_length=10,
        choices=CampaignChannel.choices,
        blank=True,
        help_text=_("Empty: the first of the campaign's channels the customer agreed to."),
    )
    wait_minutes = models.PositiveIntegerField(
        _("minutes"), null=True, blank=True, help_text=_("A wait's length, or an event's timeout.")
    )
    wait_until_time = models.TimeField(
        _("until local time"), null=True, blank=True, help_text=_("e.g. 10:00")
    )
    event = models.CharField(_("event"), max_length=12, choices=StepEvent.choices, blank=True)
    condition = models.CharField(
        _("branch condition"), max_length=12, choices=StepCondition.choices, blank=True
    )
    goto = models.PositiveSmallIntegerField(
        _("then go to step"),
        null=True,
        blank=True,
        help_text=_("When the event comes or the condition holds."),
    )

    class Meta:
        verbose_name = _("journey step")
        verbose_name_plural = _("journey steps")
        ordering = ["journey", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["journey", "position"], name="campaigns_journeystep_position_uniq"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=StepKind.values), name="campaigns_journeystep_known_kind"
            ),
        ]

    def __str__(self):
        return f"{self.position}. {self.get_kind_display()}"

    def clean(self):
        errors = {}
        if self.kind == StepKind.WAIT and not (self.wait_minutes or self.wait_until_time):
            errors["wait_minutes"] = _("Give a length, a time of day or both.")
        if self.kind == StepKind.WAIT_EVENT:
            if not self.event:
                errors["event"] = _("Choose the event to wait for.")
            if not self.wait_minutes:
                errors["wait_minutes"] = _("Give the timeout.")
        if self.kind == StepKind.BRANCH and not self.condition:
            errors["condition"] = _("Choose the condition.")
        if self.kind in (StepKind.WAIT_EVENT, StepKind.BRANCH) and self.goto is None:
            errors["goto"] = _("Choose the step to go to.")
        if self.goto is not None and self.position is not None and self.goto <= self.position:
            errors["goto"] = _("A journey only moves forward: choose a later step.")
        if errors:
            raise ValidationError(errors)


class EntryState(models.TextChoices):
    ACTIVE = "active", _("In the journey")
    COMPLETED = "completed", _("Completed")
    EXITED = "exited", _("Exited")


class ExitReason(models.TextChoices):
    ORDERED = "ordered", _("Ordered")
    EMPTIED = "emptied", _("Cart emptied or gone")
    SWITCHED_OFF = "switched_off", _("Journey switched off")
    CUSTOMER_GONE = "customer_gone", _("Customer merged or erased")


class JourneyEntry(models.Model):
    """One customer in one journey for one entity (a cart, an order): at most one entry each.
    ``next_at`` is when the sweep looks at it again (indexed while active)."""

    journey = models.ForeignKey(
        Journey, verbose_name=_("journey"), on_delete=models.CASCADE, related_name="entries"
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    entity_type = models.CharField(_("entity"), max_length=20)
    entity_id = models.BigIntegerField(_("entity id"))
    state = models.CharField(
        _("state"), max_length=10, choices=EntryState.choices, default=EntryState.ACTIVE
    )
    exit_reason = models.CharField(
        _("exit reason"), max_length=20, choices=ExitReason.choices, blank=True
    )
    position = models.PositiveSmallIntegerField(_("step"), default=0)
    next_at = models.DateTimeField(_("next look"), null=True, blank=True)
    waiting_event = models.CharField(max_length=12, blank=True)
    event_at = models.DateTimeField(_("event came"), null=True, blank=True)
    holdout = models.BooleanField(_("holdout"), default=False)
    created_at = models.DateTimeField(_("entered"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("journey entry")
        verbose_name_plural = _("journey entries")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["journey", "customer", "entity_type", "entity_id"],
                name="campaigns_journeyentry_once",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_at", "id"],
                condition=Q(state="active"),
                name="campaigns_entry_due_idx",
            ),
            models.Index(
                fields=["entity_type", "entity_id"],
                condition=Q(state="active"),
                name="campaigns_entry_entity_idx",
            ),
        ]

    def __str__(self):
        return f"{self.journey_id}/{self.customer_id}/{self.entity_type}:{self.entity_id}"


# --- Attribution ------------------------------------------------------------------------------


class TouchKind(models.TextChoices):
    COUPON = "coupon", _("Coupon redeemed")
    CLICK = "click", _("Clicked")
    MESSAGE = "message", _("Message received")
    HOLDOUT = "holdout", _("Holdout (not sent)")
    ASSIGNED = "assigned", _("In the audience, not reached")


class Conversion(models.Model):
    """An order credited to a campaign's delivery: one row per (order, delivery) in the
    attribution window, or for the delivery whose coupon the order redeemed. The credits are
    the shares of the order under each model (last touch, first touch, linear); a holdout row
    is the order a customer of the control group placed — it counts for uplift, never for
    revenue."""

    order = models.ForeignKey(
        "orders.Order", verbose_name=_("order"), on_delete=models.CASCADE, related_name="+"
    )
    delivery = models.ForeignKey(
        Delivery,
        verbose_name=_("delivery"),
        on_delete=models.CASCADE,
        related_name="conversions",
        db_index=False,
    )
    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="conversions"
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    touch = models.CharField(_("touch"), max_length=10, choices=TouchKind.choices)
    touched_at = models.DateTimeField(_("touched"))
    order_channel = models.CharField(_("sold in"), max_length=20)
    store = models.ForeignKey(
        "inventory.Location",
        verbose_name=_("store"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    revenue = models.DecimalField(_("revenue"), max_digits=12, decimal_places=2)
    credit_last = models.DecimalField(_("last touch"), max_digits=5, decimal_places=4)
    credit_first = models.DecimalField(_("first touch"), max_digits=5, decimal_places=4)
    credit_linear = models.DecimalField(_("linear"), max_digits=5, decimal_places=4)
    created_at = models.DateTimeField(_("credited"), default=timezone.now)

    class Meta:
        verbose_name = _("conversion")
        verbose_name_plural = _("conversions")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "order"], name="campaigns_conversion_once"),
        ]

    def __str__(self):
        return f"{self.order_id} ← {self.delivery_id}"
