"""Never message an address again, and a shopper's "stop": both idempotent.

* ``suppress_address`` records a hard bounce, a spam complaint or a staff decision against a
  normalised address (one row per kind × value, whoever holds it; the first reason is kept). A
  complaint also withdraws the e-mail marketing consent of every live profile holding the
  address. Campaigns exclude suppressed addresses in SQL (``selectors.is_suppressed_address``,
  ``selectors.has_unsuppressed_address``) and check one with ``selectors.is_suppressed``.
* ``withdraw_marketing`` appends a "withdrawn" consent row unless the latest evidence for the
  channel already says so: a second click on an unsubscribe link, or a replayed complaint,
  changes nothing.
"""

from django.db import transaction
from django.utils.translation import gettext as _

from customers import locks
from customers.exceptions import CustomerNotLive, InvalidIdentifier
from customers.identifiers import normalise
from customers.models import (
    Consent,
    ConsentChannel,
    ConsentPurpose,
    ConsentSource,
    ConsentState,
    Customer,
    CustomerStatus,
    Identity,
    IdentityKind,
    Suppression,
    SuppressionReason,
)
from customers.services.profiles import set_consent

SUPPRESSIBLE_KINDS = (IdentityKind.EMAIL, IdentityKind.PHONE)


@transaction.atomic
def withdraw_marketing(
    *, customer: Customer, channel: str, source: str, evidence: dict | None = None
) -> Consent | None:
    """Withdraw the profile's marketing consent on ``channel``: the new evidence row, or None
    when the latest row already said "withdrawn" (nothing written). Raises CustomerNotLive for
    a merged or erased profile."""
    customer = locks.customer_for_update(customer.pk)
    if not customer.is_live:
        raise CustomerNotLive()
    latest = (
        Consent.objects.filter(customer=customer, channel=channel, purpose=ConsentPurpose.MARKETING)
        .order_by("-created_at", "-pk")
        .first()
    )
    if latest is not None and latest.state == ConsentState.WITHDRAWN:
        return None
    return set_consent(
        customer=customer,
        channel=channel,
        purpose=ConsentPurpose.MARKETING,
        granted=False,
        source=source,
        evidence=evidence,
    )


def _checked(kind: str, value, reason: str) -> str:
    if kind not in SUPPRESSIBLE_KINDS:
        raise InvalidIdentifier(
            _("Only e-mail addresses and phones can be suppressed."), fields={"kind": [kind]}
        )
    if reason not in SuppressionReason.values:
        raise InvalidIdentifier(_("Unknown suppression reason."), fields={"reason": [reason]})
    return normalise(kind, value)


@transaction.atomic
def suppress_address(
    *, kind: str, value: str, reason: str, evidence: dict | None = None
) -> tuple[Suppression, bool]:
    """Suppress ``value`` (normalised here): ``(row, created)``; a repeat keeps the first row.
    A complaint withdraws e-mail marketing of the address's live holders (locked in pk order)."""
    value = _checked(kind, value, reason)
    suppression, created = Suppression.objects.get_or_create(
        kind=kind, value=value, defaults={"reason": reason, "evidence": evidence or {}}
    )
    if reason == SuppressionReason.COMPLAINT and kind == IdentityKind.EMAIL:
        owners = (
            Identity.objects.filter(kind=kind, value=value, customer__status=CustomerStatus.LIVE)
            .order_by("customer_id")
            .values_list("customer_id", flat=True)
            .distinct()
        )
        for customer in locks.customers_for_update(list(owners)).values():
            if customer.is_live:
                withdraw_marketing(
                    customer=customer,
                    channel=ConsentChannel.EMAIL,
                    source=ConsentSource.COMPLAINT,
                    evidence={"suppression": suppression.pk, **(evidence or {})},
                )
    return suppression, created
