"""Reads of the customers app."""

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from customers.identifiers import guess_kind
from customers.models import (
    DETERMINISTIC_KINDS,
    PROVABLE_KINDS,
    Consent,
    Customer,
    CustomerStatus,
    Event,
    Identity,
    IdentityKind,
)


def claimed_ids(customer_ids) -> set[int]:
    """Those of these profiles someone proved: an account, a verified e-mail or phone, a loyalty
    card or a till id. A device id or a cart token never opens such a profile (one query)."""
    proven = Identity.objects.filter(
        Q(kind__in=DETERMINISTIC_KINDS) | Q(kind__in=PROVABLE_KINDS, verified=True),
        customer=OuterRef("pk"),
    )
    return set(
        Customer.objects.filter(pk__in=list(customer_ids))
        .filter(Q(user__isnull=False) | Exists(proven))
        .values_list("pk", flat=True)
    )


def live_ids(customer_ids) -> list[int]:
    """Those of these ids that are live profiles (not merged away, not erased), in id order."""
    return list(
        Customer.objects.filter(pk__in=list(customer_ids), status=CustomerStatus.LIVE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def contact_identifiers(*, email_customers: QuerySet, phone_customers: QuerySet):
    """(customer id, "email" | "phone", value) of the verified e-mails of ``email_customers``
    and verified phones of ``phone_customers``, ordered by customer: one query, streamed.
    Typed, unverified identifiers are left out: they may be somebody else's."""
    rows = Identity.objects.filter(
        Q(kind=IdentityKind.EMAIL, customer__in=email_customers.values("pk"))
        | Q(kind=IdentityKind.PHONE, customer__in=phone_customers.values("pk")),
        verified=True,
    )
    return (
        rows.order_by("customer_id", "kind", "pk")
        .values_list("customer_id", "kind", "value")
        .iterator(chunk_size=5_000)
    )


def is_claimed(customer_id: int) -> bool:
    return bool(claimed_ids([customer_id]))


def search_customers(term: str) -> QuerySet[Customer]:
    """Counter search: name, e-mail, phone or loyalty card, normalised like the services do."""
    term = (term or "").strip()
    customers = Customer.objects.filter(status=CustomerStatus.LIVE)
    if not term:
        return customers.none()
    condition = Q()
    for kind, value in guess_kind(term):
        condition |= Q(identities__kind=kind, identities__value=value)
    if "@" not in term:
        parts = term.split()
        name = Q()
        for part in parts:
            name &= Q(first_name__icontains=part) | Q(last_name__icontains=part)
        condition |= name
    return customers.filter(condition).distinct().order_by("last_name", "first_name", "pk")


def customer_360(customer_id: int) -> Customer:
    return (
        Customer.objects.select_related("traits", "merged_into")
        .prefetch_related(
            Prefetch("identities", queryset=Identity.objects.order_by("kind", "pk")),
        )
        .get(pk=customer_id)
    )


def timeline(customer: Customer, limit: int = 100) -> QuerySet[Event]:
    return Event.objects.filter(customer=customer).order_by("-occurred_at", "-pk")[:limit]


def consent_history(customer: Customer) -> QuerySet[Consent]:
    return (
        Consent.objects.filter(customer=customer)
        .select_related("staff")
        .order_by("-created_at", "-pk")
    )
