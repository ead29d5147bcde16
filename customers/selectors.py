"""Reads of the customers app."""

from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet

from customers.exceptions import InvalidIdentifier
from customers.identifiers import guess_kind, normalise
from customers.models import (
    DETERMINISTIC_KINDS,
    PROVABLE_KINDS,
    Consent,
    Customer,
    CustomerStatus,
    Event,
    Identity,
    IdentityKind,
    Suppression,
)

MERGE_CHAIN_LIMIT = 20


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


def stores_and_favourites(customer_ids) -> dict[int, tuple[str, list[str]]]:
    """(home store, else preferred store; favourite category slugs) per customer (1 query)."""
    rows = Customer.objects.filter(pk__in=list(customer_ids)).values_list(
        "pk", "home_store", "traits__preferred_store", "traits__favourite_categories"
    )
    return {
        pk: (home or preferred or "", [c for c in favourites or () if isinstance(c, str)])
        for pk, home, preferred, favourites in rows
    }


def contact_identifiers(*, email_customers: QuerySet, phone_customers: QuerySet):
    """(customer id, "email" | "phone", value) of the verified e-mails of ``email_customers``
    and verified phones of ``phone_customers``, ordered by customer: one query, streamed.
    Typed, unverified identifiers are left out (they may be somebody else's), and so are
    suppressed addresses (bounced, complained)."""
    rows = Identity.objects.filter(
        Q(kind=IdentityKind.EMAIL, customer__in=email_customers.values("pk"))
        | Q(kind=IdentityKind.PHONE, customer__in=phone_customers.values("pk")),
        verified=True,
    ).exclude(Exists(Suppression.objects.filter(kind=OuterRef("kind"), value=OuterRef("value"))))
    return (
        rows.order_by("customer_id", "kind", "pk")
        .values_list("customer_id", "kind", "value")
        .iterator(chunk_size=5_000)
    )


def verified_owners(kind: str, values) -> dict[str, int]:
    """normalised value → the live customer who holds it as a verified identifier, for those
    of ``values`` (e-mails or phones, normalised) that someone proved (one query). A typed,
    unverified identifier matches nobody: it may be somebody else's."""
    rows = Identity.objects.filter(
        kind=kind, value__in=list(values), verified=True, customer__status=CustomerStatus.LIVE
    )
    return dict(rows.values_list("value", "customer_id"))


def live_survivors(customer_ids) -> dict[int, int]:
    """id → the live profile it is now: itself when live, the survivor of the merges that
    absorbed it (one query per merge hop, never per id); erased or unknown ids are left out."""
    found: dict[int, int] = {}
    pending = {pk: [pk] for pk in customer_ids}  # the profile to look at → the ids asked for
    for _hop in range(MERGE_CHAIN_LIMIT):
        if not pending:
            break
        rows = Customer.objects.filter(pk__in=list(pending)).values_list(
            "pk", "status", "merged_into_id"
        )
        following: dict[int, list[int]] = {}
        for pk, status, merged_into in rows:
            if status == CustomerStatus.LIVE:
                found.update(dict.fromkeys(pending[pk], pk))
            elif status == CustomerStatus.MERGED and merged_into is not None:
                following.setdefault(merged_into, []).extend(pending[pk])
        pending = following
    return found


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


# --- Addresses and suppression ----------------------------------------------------------------


def profile_after_merges(customer_id: int) -> Customer | None:
    """The profile ``customer_id`` lives on as: itself, or the survivor of the merges that
    absorbed it (followed along ``merged_into``); erased profiles are returned as they are.
    None when there is no such profile."""
    customer = Customer.objects.filter(pk=customer_id).first()
    for _hop in range(MERGE_CHAIN_LIMIT):
        if customer is None or customer.status != CustomerStatus.MERGED:
            return customer
        customer = customer.merged_into
    return None


def contact_address(customer: Customer, kind: str) -> str | None:
    """The profile's address of this kind to show or use: a verified one first, then the
    most recently seen or added."""
    identity = (
        Identity.objects.filter(customer=customer, kind=kind)
        .order_by("-verified", F("last_seen_at").desc(nulls_last=True), "-created_at", "-pk")
        .first()
    )
    return identity.value if identity else None


def suppressed_values(kind: str, values) -> set[str]:
    """Those of these normalised addresses that are suppressed (one query)."""
    return set(
        Suppression.objects.filter(kind=kind, value__in=list(values)).values_list(
            "value", flat=True
        )
    )


def is_suppressed(kind: str, value) -> bool:
    """Whether this address (normalised here) is suppressed; an invalid address is not."""
    try:
        value = normalise(kind, value)
    except InvalidIdentifier:
        return False
    return Suppression.objects.filter(kind=kind, value=value).exists()


def is_suppressed_address(kind: str, value_ref: str = "value") -> Exists:
    """SQL: the outer row's normalised address ``value_ref`` (an Identity's ``value`` by
    default) is suppressed. ``Identity.objects.filter(kind="email").exclude(
    is_suppressed_address("email"))`` are the e-mails that may still be messaged."""
    return Exists(Suppression.objects.filter(kind=kind, value=OuterRef(value_ref)))


def has_unsuppressed_address(kind: str, customer_ref: str = "pk") -> Exists:
    """SQL: the outer customer (``customer_ref``) holds an address of this kind that is not
    suppressed. ``Customer.objects.filter(has_unsuppressed_address("email"))`` can be mailed."""
    return Exists(
        Identity.objects.filter(customer=OuterRef(customer_ref), kind=kind).exclude(
            is_suppressed_address(kind)
        )
    )
