"""Bounce and complaint reports from the e-mail provider: checked, then applied at once.

The webhook (``views.EmailWebhookView``, ``POST /c/webhooks/email/``) takes a JSON list of
events ``{"type": "bounce"|"complaint"|"delivered"|…, "email": "…", "bounce_type":
"hard"|"soft", "id": "…"}``, signed with ``X-Omni-Signature`` (``tracking.sign_webhook``).
``parse_events`` refuses the whole batch on the first malformed event (a 400 naming it, nothing
applied); ``apply_events`` applies a valid batch in one transaction: a hard bounce or a
complaint suppresses the address (``customers.services.suppress_address``, idempotent, so an
ESP's retries and replays change nothing more), a complaint also withdraws the holders' e-mail
marketing consent; soft bounces and other types are counted and ignored.

django-anymail: its ``anymail.signals.tracking`` signal (receiving every ESP's webhook through
anymail's own views and signature checks) can feed the same path: a receiver maps an
``AnymailTrackingEvent`` to :class:`EmailFeedback` (``event_type`` "bounced" → ``bounce`` with
``hard``, "complained" → ``complaint``, ``recipient`` → ``email``, ``event_id`` → ``id``) and
calls ``apply_events([feedback])``.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError

from customers import services as customer_services
from customers.exceptions import InvalidIdentifier
from customers.identifiers import normalise
from customers.models import IdentityKind, SuppressionReason

MAX_EVENTS = 1000
MAX_TEXT = 254  # an e-mail address is at most 254 characters
BOUNCE, COMPLAINT = "bounce", "complaint"
BOUNCE_TYPES = ("hard", "soft")


@dataclass(frozen=True)
class EmailFeedback:
    """One provider event: ``email`` normalised when the event suppresses it."""

    type: str
    email: str
    bounce_type: str = ""
    id: str = ""

    @property
    def reason(self) -> str | None:
        """The suppression reason this event carries, or None (nothing to do)."""
        if self.type == COMPLAINT:
            return SuppressionReason.COMPLAINT
        if self.type == BOUNCE and self.bounce_type == "hard":
            return SuppressionReason.HARD_BOUNCE
        return None


def _invalid(where: str, message: str) -> ValidationError:
    return ValidationError({where: [message]})


def _text(item: dict, key: str, where: str, *, required: bool) -> str:
    value = item.get(key)
    if value is None and not required:
        return ""
    if type(value) is int and key == "id":
        value = str(value)
    if not isinstance(value, str) or (required and not value.strip()):
        raise _invalid(f"{where}.{key}", _("A non-empty string is required."))
    if len(value) > MAX_TEXT:
        raise _invalid(f"{where}.{key}", _("Too long."))
    return value


def _event(item, index: int) -> EmailFeedback:
    where = f"[{index}]"
    if type(item) is not dict:
        raise _invalid(where, _("Each event must be a JSON object."))
    kind = _text(item, "type", where, required=True)
    bounce_type = _text(item, "bounce_type", where, required=kind == BOUNCE)
    if kind == BOUNCE and bounce_type not in BOUNCE_TYPES:
        raise _invalid(f"{where}.bounce_type", _("Must be “hard” or “soft”."))
    feedback = EmailFeedback(
        type=kind,
        email=_text(item, "email", where, required=True),
        bounce_type=bounce_type,
        id=_text(item, "id", where, required=False),
    )
    if feedback.reason is None:
        return feedback
    try:
        email = normalise(IdentityKind.EMAIL, feedback.email)
    except InvalidIdentifier:
        raise _invalid(f"{where}.email", _("Enter a valid e-mail address.")) from None
    return EmailFeedback(type=kind, email=email, bounce_type=bounce_type, id=feedback.id)


def parse_events(data) -> list[EmailFeedback]:
    """The batch as events, or ValidationError naming the first bad one (nothing applied)."""
    if type(data) is not list:
        raise _invalid("body", _("Send a JSON list of events."))
    if len(data) > MAX_EVENTS:
        raise _invalid("body", _("At most %(n)s events per request.") % {"n": MAX_EVENTS})
    return [_event(item, index) for index, item in enumerate(data)]


@transaction.atomic
def apply_events(events: list[EmailFeedback]) -> dict[str, int]:
    """Suppress the hard-bounced and complained addresses, in address order (so concurrent
    batches lock the holders' profiles in one order). Returns counts for the response."""
    acting = sorted((e for e in events if e.reason), key=lambda e: (e.email, e.type))
    suppressed = 0
    for event in acting:
        _row, created = customer_services.suppress_address(
            kind=IdentityKind.EMAIL,
            value=event.email,
            reason=event.reason,
            evidence={"source": "email_webhook", "type": event.type, "event_id": event.id},
        )
        suppressed += created
    return {"received": len(events), "acted_on": len(acting), "newly_suppressed": suppressed}
