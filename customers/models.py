"""One profile per person: identities, touchpoints, consent evidence, merges, traits.

customers imports no other domain app. A home or preferred store is kept as the location's
code (a soft reference), and other apps move their own rows on ``customers_merged``.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CustomerStatus(models.TextChoices):
    LIVE = "live", _("Live")
    MERGED = "merged", _("Merged into another profile")
    ERASED = "erased", _("Erased (GDPR)")


class Customer(models.Model):
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=10, choices=settings.LANGUAGES, default="es"
    )
    home_store = models.CharField(
        _("home store"), max_length=20, blank=True, help_text=_("Location code.")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=CustomerStatus.choices, default=CustomerStatus.LIVE
    )
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="absorbed",
    )
    is_anonymous = models.BooleanField(
        _("anonymous"), default=True, help_text=_("Known only by a device or cookie id.")
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("shopper account"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("merge_customers", _("Can merge customer profiles")),
            ("export_customer", _("Can export a customer's data (GDPR)")),
            ("erase_customer", _("Can erase a customer (GDPR)")),
        ]
        indexes = [
            models.Index(fields=["last_name", "first_name"], name="customers_name_idx"),
        ]

    def __str__(self):
        name = f"{self.first_name} {self.last_name}".strip()
        return name or _("Customer #%(id)s") % {"id": self.pk}

    @property
    def is_live(self) -> bool:
        return self.status == CustomerStatus.LIVE


class IdentityKind(models.TextChoices):
    EMAIL = "email", _("E-mail")
    PHONE = "phone", _("Phone")
    ANONYMOUS = "anonymous", _("Device / cookie id")
    LOYALTY_CARD = "loyalty_card", _("Loyalty card")
    POS_ID = "pos_id", _("Till customer id")
    SOCIAL = "social", _("Social handle")
    MARKETPLACE = "marketplace", _("Marketplace buyer id")
    PUSH_TOKEN = "push_token", _("App push token")


# A loyalty card or a till id identifies one person by itself; an e-mail or a phone only once it
# is verified (a code, a link, a staff check, or a server that verified it). A typed one is
# contact data.
DETERMINISTIC_KINDS = (IdentityKind.LOYALTY_CARD, IdentityKind.POS_ID)
PROVABLE_KINDS = (IdentityKind.EMAIL, IdentityKind.PHONE)


class Channel(models.TextChoices):
    WEB = "web", _("Web")
    APP = "app", _("App")
    STORE = "store", _("Store")
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    PUSH = "push", _("Push")
    SOCIAL = "social", _("Social")
    MARKETPLACE = "marketplace", _("Marketplace")
    CALL_CENTRE = "call_centre", _("Call centre")


class Identity(models.Model):
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), related_name="identities", on_delete=models.CASCADE
    )
    kind = models.CharField(_("kind"), max_length=20, choices=IdentityKind.choices)
    value = models.CharField(_("value"), max_length=255, help_text=_("Normalised."))
    verified = models.BooleanField(_("verified"), default=False)
    source = models.CharField(_("source channel"), max_length=20, choices=Channel.choices)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")
        ordering = ["kind", "pk"]
        constraints = [
            # Deterministic identifiers belong to one customer (identities only ever hang off
            # live customers: merges move them, erasure deletes them).
            models.UniqueConstraint(
                fields=["kind", "value"],
                condition=Q(kind__in=["loyalty_card", "pos_id"])
                | Q(kind__in=["email", "phone"], verified=True),
                name="customers_identity_deterministic_uniq",
            ),
            # One row per identifier per customer.
            models.UniqueConstraint(
                fields=["customer", "kind", "value"], name="customers_identity_per_customer_uniq"
            ),
        ]
        indexes = [models.Index(fields=["kind", "value"], name="customers_identity_lookup_idx")]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.value}"

    @property
    def is_deterministic(self) -> bool:
        return self.kind in DETERMINISTIC_KINDS or (self.kind in PROVABLE_KINDS and self.verified)


class EventType(models.TextChoices):
    PAGE_VIEWED = "page_viewed", _("Page viewed")
    PRODUCT_VIEWED = "product_viewed", _("Product viewed")
    CART_UPDATED = "cart_updated", _("Cart updated")
    CHECKOUT_STARTED = "checkout_started", _("Checkout started")
    ORDER_PLACED = "order_placed", _("Order placed")
    STORE_VISIT = "store_visit", _("Store visit")
    PICKUP_COLLECTED = "pickup_collected", _("Pickup collected")
    RETURN_RECEIVED = "return_received", _("Return received")
    MESSAGE_SENT = "message_sent", _("Message sent to the customer")
    MESSAGE_OPENED = "message_opened", _("Message opened")
    MESSAGE_CLICKED = "message_clicked", _("Message clicked")
    SUPPORT_CONTACT = "support_contact", _("Support contact")
    CAMPAIGN_CONVERSION = "campaign_conversion", _("Sale credited to a campaign")
    CUSTOM = "custom", _("Custom")


# What Omni did to the customer, not what the customer did: on the timeline, never in traits
# (a message we sent is not a visit, nor the customer's preferred channel).
OUTBOUND_EVENT_TYPES = frozenset({EventType.MESSAGE_SENT, EventType.CAMPAIGN_CONVERSION})


class Event(models.Model):
    """A touchpoint. The fastest-growing table: see README "Events at scale" for partitioning."""

    # The customer leads the timeline index; the identity is mostly unset (partial index).
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        related_name="events",
        on_delete=models.CASCADE,
        db_index=False,
    )
    identity = models.ForeignKey(
        Identity,
        verbose_name=_("identity"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    type = models.CharField(_("type"), max_length=30, choices=EventType.choices)
    name = models.CharField(
        _("name"), max_length=100, blank=True, help_text=_("For custom events.")
    )
    properties = models.JSONField(_("properties"), default=dict, blank=True)
    occurred_at = models.DateTimeField(_("occurred"))
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, null=True, blank=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-occurred_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="customers_event_idempotency_uniq"
            )
        ]
        indexes = [
            models.Index(fields=["customer", "-occurred_at"], name="customers_event_timeline_idx"),
            models.Index(fields=["type", "occurred_at"], name="customers_event_type_time_idx"),
            models.Index(
                fields=["identity"],
                condition=Q(identity__isnull=False),
                name="customers_event_identity_idx",
            ),
        ]

    def __str__(self):
        return f"{self.get_type_display()} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class ConsentChannel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    PUSH = "push", _("Push")
    WHATSAPP = "whatsapp", _("WhatsApp")
    POSTAL = "postal", _("Post")


class ConsentPurpose(models.TextChoices):
    MARKETING = "marketing", _("Marketing")
    PERSONALISATION = "personalisation", _("Personalisation")
    PROFILING = "profiling", _("Profiling")


class ConsentState(models.TextChoices):
    GRANTED = "granted", _("Granted")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    PENDING = "pending", _("Awaiting confirmation (double opt-in)")


class ConsentSource(models.TextChoices):
    WEB_FORM = "web_form", _("Web form")
    APP = "app", _("App")
    STORE = "store", _("Store")
    IMPORT = "import", _("Import")
    EMAIL_CONFIRMATION = "email_confirmation", _("E-mail confirmation link")
    SHOPPER_ACCOUNT = "shopper_account", _("Shopper's own account")
    UNSUBSCRIBE_LINK = "unsubscribe_link", _("Unsubscribe link in a message")
    COMPLAINT = "complaint", _("Spam complaint reported by the e-mail provider")


class Consent(models.Model):
    """Append-only evidence. The current state per channel × purpose is the latest row."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), related_name="consents", on_delete=models.CASCADE
    )
    channel = models.CharField(_("channel"), max_length=10, choices=ConsentChannel.choices)
    purpose = models.CharField(_("purpose"), max_length=20, choices=ConsentPurpose.choices)
    state = models.CharField(_("state"), max_length=10, choices=ConsentState.choices)
    source = models.CharField(_("source"), max_length=20, choices=ConsentSource.choices)
    wording_version = models.CharField(_("wording version"), max_length=40, blank=True)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff member"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    evidence = models.JSONField(_("evidence"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["customer", "channel", "purpose", "-created_at"],
                name="customers_consent_latest_idx",
            )
        ]

    def __str__(self):
        return f"{self.channel}/{self.purpose}: {self.state}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("Consent evidence is append-only.")
        super().save(*args, **kwargs)


class Merge(models.Model):
    """Audit of one merge: the absorbed profile as it was, who or what caused it, when."""

    survivor = models.ForeignKey(
        Customer, verbose_name=_("survivor"), related_name="merges", on_delete=models.PROTECT
    )
    absorbed = models.ForeignKey(
        Customer, verbose_name=_("absorbed"), related_name="+", on_delete=models.PROTECT
    )
    snapshot = models.JSONField(_("absorbed profile"))
    cause = models.CharField(_("cause"), max_length=255)
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("merge")
        verbose_name_plural = _("merges")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"#{self.absorbed_id} → #{self.survivor_id}"


class ReviewStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    MERGED = "merged", _("Merged")
    REJECTED = "rejected", _("Rejected")


class MergeReview(models.Model):
    """A merge the guard rails refused to do automatically: a person decides."""

    customer_a = models.ForeignKey(
        Customer, verbose_name=_("customer A"), related_name="+", on_delete=models.CASCADE
    )
    customer_b = models.ForeignKey(
        Customer, verbose_name=_("customer B"), related_name="+", on_delete=models.CASCADE
    )
    kind = models.CharField(_("identifier kind"), max_length=20, choices=IdentityKind.choices)
    value = models.CharField(_("identifier"), max_length=255)
    reason = models.CharField(_("reason"), max_length=255)
    status = models.CharField(
        _("status"), max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    class Meta:
        verbose_name = _("merge review")
        verbose_name_plural = _("merge review queue")
        ordering = ["status", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer_a", "customer_b", "kind", "value"],
                condition=Q(status="pending"),
                name="customers_review_pending_uniq",
            )
        ]

    def __str__(self):
        return f"#{self.customer_a_id} ? #{self.customer_b_id} ({self.kind})"


class BlockedIdentifier(models.Model):
    """Identifier values that never link profiles (a shop tablet, a till's default customer)."""

    kind = models.CharField(_("kind"), max_length=20, choices=IdentityKind.choices)
    value = models.CharField(_("value"), max_length=255, help_text=_("Normalised."))
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("blocked identifier")
        verbose_name_plural = _("blocked identifiers")
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="customers_blocked_uniq")
        ]

    def __str__(self):
        return f"{self.kind}: {self.value}"


class CustomerTraits(models.Model):
    """Computed per customer for segmenting: incremental on events, rebuilt nightly in SQL."""

    customer = models.OneToOneField(
        Customer,
        verbose_name=_("customer"),
        primary_key=True,
        related_name="traits",
        on_delete=models.CASCADE,
    )
    orders_count = models.PositiveIntegerField(_("orders"), default=0)
    revenue = models.DecimalField(_("revenue to date"), max_digits=12, decimal_places=2, default=0)
    average_order_value = models.DecimalField(
        _("average order value"), max_digits=12, decimal_places=2, default=0
    )
    first_order_at = models.DateTimeField(_("first order"), null=True, blank=True)
    last_order_at = models.DateTimeField(_("last order"), null=True, blank=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    recency_score = models.PositiveSmallIntegerField(_("R"), null=True, blank=True)
    frequency_score = models.PositiveSmallIntegerField(_("F"), null=True, blank=True)
    monetary_score = models.PositiveSmallIntegerField(_("M"), null=True, blank=True)
    preferred_channel = models.CharField(_("preferred channel"), max_length=20, blank=True)
    preferred_store = models.CharField(_("preferred store"), max_length=20, blank=True)
    favourite_categories = models.JSONField(_("favourite categories"), default=list, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("customer traits")
        verbose_name_plural = _("customer traits")
        indexes = [
            models.Index(
                fields=["recency_score", "frequency_score", "monetary_score"],
                name="customers_traits_rfm_idx",
            )
        ]

    def __str__(self):
        return f"traits of #{self.customer_id}"

    @property
    def rfm(self) -> str:
        if self.recency_score is None:
            return ""
        return f"{self.recency_score}{self.frequency_score}{self.monetary_score}"


class Erasure(models.Model):
    """Audit of a GDPR erasure: who erased which profile, when (no personal data kept)."""

    customer = models.OneToOneField(
        Customer, verbose_name=_("customer"), related_name="erasure", on_delete=models.PROTECT
    )
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("erasure")
        verbose_name_plural = _("erasures")

    def __str__(self):
        return f"erased #{self.customer_id}"


class PhoneVerification(models.Model):
    """A code sent by SMS to prove a phone (``services.start_phone_verification``). Only the
    code's digest is kept; the row records the attempts and when the code was used."""

    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        related_name="phone_verifications",
        on_delete=models.CASCADE,
    )
    phone = models.CharField(_("phone"), max_length=32, help_text=_("E.164."))
    code_digest = models.CharField(_("code digest"), max_length=64)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    attempts = models.PositiveSmallIntegerField(_("wrong attempts"), default=0)
    verified_at = models.DateTimeField(_("verified"), null=True, blank=True)

    class Meta:
        verbose_name = _("phone verification")
        verbose_name_plural = _("phone verifications")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["customer", "created_at"], name="customers_phonever_cust_idx"),
            models.Index(fields=["phone", "created_at"], name="customers_phonever_phone_idx"),
        ]

    def __str__(self):
        return f"{self.phone} ({timezone.localtime(self.created_at):%Y-%m-%d %H:%M})"


class SuppressionReason(models.TextChoices):
    HARD_BOUNCE = "hard_bounce", _("Hard bounce")
    COMPLAINT = "complaint", _("Spam complaint")
    MANUAL = "manual", _("Added by staff")


class Suppression(models.Model):
    """An address that is never messaged again (a hard bounce, a spam complaint, a staff
    decision), whoever holds it: one row per normalised (kind, value), the first reason kept.
    Campaigns exclude it in SQL (``selectors.is_suppressed_address``)."""

    kind = models.CharField(
        _("kind"),
        max_length=20,
        choices=[
            (IdentityKind.EMAIL, IdentityKind.EMAIL.label),
            (IdentityKind.PHONE, IdentityKind.PHONE.label),
        ],
    )
    value = models.CharField(_("address"), max_length=255, help_text=_("Normalised."))
    reason = models.CharField(_("reason"), max_length=20, choices=SuppressionReason.choices)
    evidence = models.JSONField(_("evidence"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppressed addresses")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="customers_suppression_uniq")
        ]

    def __str__(self):
        return f"{self.value} ({self.get_reason_display()})"
