"""Every change to customers: identity stitching and merges, consent, GDPR export and erasure.

Identity claims (the one rule; README "Security" says the same):

* Only proof links a person to existing data: an e-mail verified through allauth or our
  confirmation link, a phone verified by a code, a signed-in session (its own profile), the
  storefront's or till's server key (``identify``), or a staff member who checked the shopper at
  the counter (audited ``acting_user``).
* An identifier someone merely typed (a guest's e-mail or phone at checkout, an account's
  e-mail before it is verified) is contact data: ``record_contact`` stores it unverified on the
  typist's own profile and never merges profiles or reveals another profile. A device id or a
  cart token gives access only to an unclaimed profile (``is_claimed``: no account, no proven
  identifier); a signed-in shopper's cart token merges only an anonymous profile.
* A guest's past orders join an account when the account verifies that e-mail or phone
  (``link_verified_identifier``): the unclaimed profiles that typed it merge into the account's
  profile. A profile linked to another account is never merged by it (review queue).

Stitching and merging (``identify``, for callers that bring proof):

* Deterministic identifiers (a verified e-mail or phone, a loyalty card, a till customer id)
  prove a person: two live profiles holding them in one ``identify`` call are merged. Phones given
  to ``identify`` count as verified (the till and the storefront's server vouch for them).
* Other identifiers (device/cookie id, push token, social handle, marketplace id, an
  unverified e-mail or phone) only *stitch*: an anonymous profile is merged into the known one.
  Two known profiles sharing such an identifier are never merged automatically: the pair goes
  to the review queue. Once SHARED_IDENTIFIER_THRESHOLD known profiles have claimed the same
  value (a shop's tablet, a till's default customer) the value is blocked and ignored from then
  on.
* A merge that would give one profile more than IDENTITY_LIMITS identities of a kind goes to
  the review queue too.
* The survivor of a merge is the older profile holding a deterministic identifier (else the
  older profile). Field conflicts: the survivor's non-empty values win; its empty ones are
  filled from the absorbed profile. Consent rows move as they are, so the latest evidence for
  each channel × purpose stays the current state.
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from customers import locks, queries
from customers.exceptions import CustomerNotLive, InvalidIdentifier, MergeRefused, ProfileClaimed
from customers.identifiers import normalise
from customers.models import (
    DETERMINISTIC_KINDS,
    OUTBOUND_EVENT_TYPES,
    PROVABLE_KINDS,
    BlockedIdentifier,
    Channel,
    Consent,
    ConsentChannel,
    ConsentPurpose,
    ConsentSource,
    ConsentState,
    Customer,
    CustomerStatus,
    CustomerTraits,
    Event,
    EventType,
    Identity,
    IdentityKind,
    Merge,
    MergeReview,
    PhoneVerification,
    ReviewStatus,
)
from customers.selectors import claimed_ids, is_claimed
from customers.signals import customer_erased, customers_merged

# Looked up on every identify and event (``Choices.values`` builds a new list each time).
_CHANNELS = frozenset(Channel.values)
_EVENT_TYPES = frozenset(EventType.values)

IDENTITY_LIMITS = {
    IdentityKind.EMAIL: 5,
    IdentityKind.PHONE: 5,
    IdentityKind.LOYALTY_CARD: 3,
    IdentityKind.POS_ID: 5,
    IdentityKind.ANONYMOUS: 50,
    IdentityKind.PUSH_TOKEN: 20,
    IdentityKind.SOCIAL: 10,
    IdentityKind.MARKETPLACE: 10,
}
SHARED_IDENTIFIER_THRESHOLD = 3
PROFILE_FIELDS = ("first_name", "last_name", "birth_date", "preferred_language", "home_store")


@dataclass(frozen=True)
class Identifier:
    kind: str
    value: str
    verified: bool = False

    @property
    def deterministic(self) -> bool:
        return self.kind in DETERMINISTIC_KINDS or (self.kind in PROVABLE_KINDS and self.verified)


_VOUCHED_KINDS = frozenset({*DETERMINISTIC_KINDS, IdentityKind.PHONE})


def clean_identifiers(raw: Iterable, *, vouched: bool = True) -> list[Identifier]:
    """Normalise (raises InvalidIdentifier naming the field), de-duplicate, keep order.

    ``vouched``: the caller brings proof (server key, till, staff), so phones, cards and till
    ids count as verified; e-mails only when told. Typed contact passes ``vouched=False``."""
    seen: dict[tuple[str, str], Identifier] = {}
    for item in raw:
        ident = item if isinstance(item, Identifier) else Identifier(*item)
        value = normalise(ident.kind, ident.value)
        verified = ident.verified or (vouched and ident.kind in _VOUCHED_KINDS)
        key = (ident.kind, value)
        previous = seen.get(key)
        seen[key] = Identifier(ident.kind, value, verified or bool(previous and previous.verified))
    return list(seen.values())


def lock_identifiers(identifiers: Sequence[Identifier]) -> None:
    """Serialise concurrent identify calls on the same identifier values (advisory locks)."""
    if not identifiers:
        return
    keys = sorted(
        {
            int.from_bytes(
                hashlib.blake2b(f"{i.kind}:{i.value}".encode(), digest_size=8).digest(),
                "big",
                signed=True,
            )
            for i in identifiers
        }
    )
    queries.lock_identifier_keys(keys)


def blocked_identifiers(identifiers: Sequence[Identifier]) -> set[tuple[str, str]]:
    return queries.blocked_values(identifiers)


def identifier_owners(identifiers: Sequence[Identifier]) -> dict[tuple[str, str], set[int]]:
    """(kind, value) → the live profiles holding it."""
    return queries.live_owners(identifiers)


def survivor_order(customer: Customer):
    """Sort key of a merge: the known profile, then the older one, survives."""
    return (customer.is_anonymous, customer.created_at, customer.pk)


def _queue_review(a: Customer, b: Customer, ident: Identifier, reason: str) -> None:
    first, second = sorted((a, b), key=lambda c: c.pk)
    MergeReview.objects.get_or_create(
        customer_a=first,
        customer_b=second,
        kind=ident.kind,
        value=ident.value,
        status=ReviewStatus.PENDING,
        defaults={"reason": reason},
    )
    claimants = set()
    for pair in MergeReview.objects.filter(kind=ident.kind, value=ident.value).values_list(
        "customer_a_id", "customer_b_id"
    ):
        claimants.update(pair)
    if len(claimants) >= SHARED_IDENTIFIER_THRESHOLD and not ident.deterministic:
        BlockedIdentifier.objects.get_or_create(
            kind=ident.kind,
            value=ident.value,
            defaults={
                "reason": _("Claimed by %(n)s known profiles; blocked automatically.")
                % {"n": len(claimants)}
            },
        )


@transaction.atomic
def identify(
    *,
    identifiers: Iterable,
    source: str = Channel.WEB,
    customer: Customer | None = None,
    profile: dict | None = None,
    acting_user=None,
) -> Customer:
    """Attach identifiers to one live profile, stitching and merging as the rules above say.

    Returns the live profile the identifiers now belong to (created if none matched).
    """
    if source not in _CHANNELS:
        raise InvalidIdentifier(_("Unknown channel “%(c)s”.") % {"c": source})
    idents = clean_identifiers(identifiers)
    lock_identifiers(idents)
    blocked = blocked_identifiers(idents)
    idents = [i for i in idents if (i.kind, i.value) not in blocked]
    owners = identifier_owners(idents)
    involved_ids = set().union(*owners.values()) if owners else set()
    if customer is not None:
        involved_ids.add(customer.pk)
    involved = queries.customers_by_id(involved_ids)  # on every guest checkout
    if customer is not None:
        customer = involved.get(customer.pk)  # fresh: the caller's copy may be stale
        if customer is None:
            raise Customer.DoesNotExist()
        if not customer.is_live:
            raise CustomerNotLive()

    main, skipped = _merge_same_person(idents, owners, involved, customer, acting_user)
    main = _stitch(idents, owners, main, skipped, acting_user)
    if main is None:
        main = Customer.objects.create(is_anonymous=True)
    _attach(main, [i for i in idents if (i.kind, i.value) not in skipped], source)
    if profile:
        _fill_profile(main, profile, overwrite=True)
    return main


def _merge_same_person(idents, owners, involved, customer, acting_user):
    """Step 1: everyone holding a deterministic identifier of this call is the same person.
    Returns the profile they became (or None) and the identifiers left with a profile whose
    merge the guard rails refused (now in the review queue, still live)."""
    same_person = {customer.pk} if customer else set()
    for ident in idents:
        if ident.deterministic:
            same_person |= owners.get((ident.kind, ident.value), set())
    main = None
    for other_id in sorted(same_person, key=lambda pk: survivor_order(involved[pk])):
        other = involved[other_id]
        if main is None:
            main = other
            continue
        main = _merge_or_review(
            main,
            other,
            cause=_("shared deterministic identifier"),
            ident=next(i for i in idents if i.deterministic),
            acting_user=acting_user,
        )
    skipped: set[tuple[str, str]] = set()
    others = same_person - {main.pk} if main is not None else set()
    if others:
        apart = set(
            Customer.objects.filter(pk__in=others, status=CustomerStatus.LIVE).values_list(
                "pk", flat=True
            )
        )
        for ident in idents:
            if ident.deterministic and owners.get((ident.kind, ident.value), set()) & apart:
                skipped.add((ident.kind, ident.value))
    return main, skipped


def _stitch(idents, owners, main, skipped, acting_user):
    """Step 2: other identifiers stitch anonymous profiles; two known ones go to review (their
    identifier is added to ``skipped``). Returns the profile, None if still nobody."""
    carries_new_person = any(i.deterministic and not owners.get((i.kind, i.value)) for i in idents)
    for ident in idents:
        if ident.deterministic:
            continue
        for owner_id in sorted(owners.get((ident.kind, ident.value), set())):
            owner = Customer.objects.get(pk=owner_id)
            if not owner.is_live or (main is not None and owner.pk == main.pk):
                continue
            if main is None:
                if owner.is_anonymous or not carries_new_person:
                    main = owner
                    continue
                main = Customer.objects.create(is_anonymous=False)
            main = _stitch_pair(main, owner, ident, carries_new_person, skipped, acting_user)
    return main


def _stitch_pair(main, owner, ident, carries_new_person, skipped, acting_user):
    cause = _("anonymous profile stitched by %(kind)s") % {"kind": ident.kind}
    if owner.is_anonymous:
        return _merge_or_review(
            main, owner, cause=cause, ident=ident, acting_user=acting_user, prefer=main
        )
    if main.is_anonymous and not carries_new_person:
        return _merge_or_review(
            owner, main, cause=cause, ident=ident, acting_user=acting_user, prefer=owner
        )
    reason = _("Two known profiles share the identifier (%(kind)s).") % {"kind": ident.kind}
    _queue_review(main, owner, ident, reason)
    skipped.add((ident.kind, ident.value))
    return main


def _attach(customer: Customer, idents: Sequence[Identifier], source: str) -> None:
    now = timezone.now()
    existing = {(i.kind, i.value): i for i in queries.identities_of(customer.pk)}
    counts: dict[str, int] = {}
    for identity in existing.values():
        counts[identity.kind] = counts.get(identity.kind, 0) + 1
    new, seen, now_verified = [], [], []
    for ident in idents:
        current = existing.get((ident.kind, ident.value))
        if current is not None:
            seen.append(current.pk)
            if ident.verified and not current.verified:
                now_verified.append(current.pk)
            continue
        if counts.get(ident.kind, 0) >= IDENTITY_LIMITS[ident.kind]:
            continue  # guard rail: never pile up identifiers of one kind on a profile
        counts[ident.kind] = counts.get(ident.kind, 0) + 1
        new.append(queries.NewIdentity(customer.pk, ident.kind, ident.value, ident.verified))
    if seen:
        Identity.objects.filter(pk__in=seen).update(last_seen_at=now)
    if now_verified:
        Identity.objects.filter(pk__in=now_verified).update(verified=True)
    queries.add_identities(new, source=source, now=now)  # on every guest checkout: one INSERT
    kinds = {i.kind for i in new} | {i.kind for i in existing.values()}  # all the profile has
    _refresh_anonymity(customer, known=bool(kinds & KNOWN_KINDS) or bool(customer.user_id))


KNOWN_KINDS = frozenset(
    {IdentityKind.EMAIL, IdentityKind.PHONE, IdentityKind.LOYALTY_CARD, IdentityKind.POS_ID}
)


def _refresh_anonymity(customer: Customer, known: bool | None = None) -> None:
    """A profile with an e-mail, phone, loyalty card, till id or account is a known person.
    ``known``: already established by the caller (skips the query)."""
    if known is None:
        known = Identity.objects.filter(customer=customer, kind__in=KNOWN_KINDS).exists() or bool(
            customer.user_id
        )
    if customer.is_anonymous == known:
        customer.is_anonymous = not known
        queries.save_is_anonymous(customer)


def _fill_profile(customer: Customer, profile: dict, *, overwrite: bool) -> None:
    changed = []
    for name in PROFILE_FIELDS:
        value = profile.get(name)
        if value in (None, ""):
            continue
        current = getattr(customer, name)
        if (overwrite or current in (None, "")) and current != value:
            setattr(customer, name, value)
            changed.append(name)
    if changed:
        customer.save(update_fields=[*changed, "updated_at"])


def _merge_or_review(a, b, *, cause, ident, acting_user=None, prefer=None) -> Customer:
    """Merge b and a (the survivor by the rules) unless a guard rail refuses; then queue it."""
    survivor, absorbed = sorted((a, b), key=survivor_order)
    if prefer is not None and prefer.pk in (a.pk, b.pk) and survivor.is_anonymous:
        survivor, absorbed = (a, b) if prefer.pk == a.pk else (b, a)
    try:
        merge_customers(survivor=survivor, absorbed=absorbed, cause=cause, acting_user=acting_user)
    except MergeRefused as exc:
        _queue_review(survivor, absorbed, ident, exc.message)
        return a
    survivor.refresh_from_db()
    return survivor


def _snapshot(customer: Customer) -> dict:
    return {
        "id": customer.pk,
        "profile": {name: str(getattr(customer, name) or "") for name in PROFILE_FIELDS},
        "created_at": customer.created_at.isoformat(),
        "identities": list(
            Identity.objects.filter(customer=customer).values("kind", "value", "verified", "source")
        ),
        "events": Event.objects.filter(customer=customer).count(),
        "consents": Consent.objects.filter(customer=customer).count(),
    }


@transaction.atomic
def merge_customers(
    *, survivor: Customer, absorbed: Customer, cause: str, acting_user=None
) -> Merge:
    """Absorb one live profile into another: every related row moves, an audit row stays."""
    if survivor.pk == absorbed.pk:
        raise MergeRefused(_("A profile cannot be merged into itself."))
    locked = locks.customers_for_update([survivor.pk, absorbed.pk])
    survivor, absorbed = locked[survivor.pk], locked[absorbed.pk]
    if not survivor.is_live or not absorbed.is_live:
        raise CustomerNotLive()
    combined: dict[str, set[str]] = {}
    for kind, value in Identity.objects.filter(customer__in=[survivor, absorbed]).values_list(
        "kind", "value"
    ):
        combined.setdefault(kind, set()).add(value)
    for kind, values in combined.items():
        if len(values) > IDENTITY_LIMITS[kind]:
            raise MergeRefused(
                _("The merged profile would hold %(n)s identifiers of kind %(kind)s.")
                % {"n": len(values), "kind": kind}
            )
    snapshot = _snapshot(absorbed)

    survivor_keys = set(Identity.objects.filter(customer=survivor).values_list("kind", "value"))
    duplicates = [
        pk
        for pk, kind, value in Identity.objects.filter(customer=absorbed).values_list(
            "pk", "kind", "value"
        )
        if (kind, value) in survivor_keys
    ]
    Identity.objects.filter(pk__in=duplicates).delete()
    Identity.objects.filter(customer=absorbed).update(customer=survivor)
    Event.objects.filter(customer=absorbed).update(customer=survivor)
    Consent.objects.filter(customer=absorbed).update(customer=survivor)
    PhoneVerification.objects.filter(customer=absorbed).update(customer=survivor)
    MergeReview.objects.filter(
        Q(customer_a=absorbed) | Q(customer_b=absorbed), status=ReviewStatus.PENDING
    ).filter(Q(customer_a=survivor) | Q(customer_b=survivor)).update(
        status=ReviewStatus.MERGED, decided_by=acting_user, decided_at=timezone.now()
    )

    _fill_profile(
        survivor, {name: getattr(absorbed, name) for name in PROFILE_FIELDS}, overwrite=False
    )
    user = absorbed.user
    absorbed.status = CustomerStatus.MERGED
    absorbed.merged_into = survivor
    absorbed.user = None
    absorbed.save(update_fields=["status", "merged_into", "user", "updated_at"])
    if user is not None and survivor.user_id is None:
        survivor.user = user
        survivor.save(update_fields=["user", "updated_at"])
    _refresh_anonymity(survivor)
    CustomerTraits.objects.filter(customer=absorbed).delete()

    merge = Merge.objects.create(
        survivor=survivor,
        absorbed=absorbed,
        snapshot=snapshot,
        cause=cause[:255],
        acting_user=acting_user,
    )
    # Inside the transaction: other apps move carts, orders, deliveries with us, or not at all.
    customers_merged.send(sender=Customer, survivor=survivor, absorbed=absorbed)
    from customers.traits import recompute_traits

    recompute_traits(customer_ids=[survivor.pk])
    return merge


@transaction.atomic
def reject_review(*, review: MergeReview, acting_user=None) -> MergeReview:
    review = locks.review_for_update(review.pk)
    if review.status != ReviewStatus.PENDING:
        raise MergeRefused(_("This review was already decided."))
    review.status = ReviewStatus.REJECTED
    review.decided_by = acting_user
    review.decided_at = timezone.now()
    review.save(update_fields=["status", "decided_by", "decided_at"])
    return review


@transaction.atomic
def approve_review(*, review: MergeReview, acting_user=None) -> Merge:
    review = locks.review_for_update(review.pk)
    if review.status != ReviewStatus.PENDING:
        raise MergeRefused(_("This review was already decided."))
    survivor, absorbed = sorted((review.customer_a, review.customer_b), key=survivor_order)
    merge = merge_customers(
        survivor=survivor,
        absorbed=absorbed,
        cause=_("approved in the review queue: %(reason)s") % {"reason": review.reason},
        acting_user=acting_user,
    )
    MergeReview.objects.filter(pk=review.pk).update(
        status=ReviewStatus.MERGED, decided_by=acting_user, decided_at=timezone.now()
    )
    return merge


# --- Consent ----------------------------------------------------------------------------------

CONFIRM_SALT = "customers.consent.confirm"


def current_consents(customer: Customer) -> dict[tuple[str, str], Consent]:
    """Latest evidence row per channel × purpose."""
    latest: dict[tuple[str, str], Consent] = {}
    for row in Consent.objects.filter(customer=customer).order_by("created_at", "pk"):
        latest[(row.channel, row.purpose)] = row
    return latest


def has_consent(customer: Customer, channel: str, purpose: str = ConsentPurpose.MARKETING) -> bool:
    row = (
        Consent.objects.filter(customer=customer, channel=channel, purpose=purpose)
        .order_by("-created_at", "-pk")
        .first()
    )
    return row is not None and row.state == ConsentState.GRANTED


@transaction.atomic
def set_consent(
    *,
    customer: Customer,
    channel: str,
    purpose: str,
    granted: bool,
    source: str,
    wording_version: str = "",
    staff=None,
    evidence: dict | None = None,
) -> Consent:
    """Append evidence. E-mail marketing opt-ins wait for the confirmation link (double opt-in),
    except when the shopper confirms it in person with staff at the store."""
    if channel not in ConsentChannel.values:
        raise InvalidIdentifier(_("Unknown consent channel."), fields={"channel": [channel]})
    if purpose not in ConsentPurpose.values:
        raise InvalidIdentifier(_("Unknown consent purpose."), fields={"purpose": [purpose]})
    if source not in ConsentSource.values:
        raise InvalidIdentifier(_("Unknown consent source."), fields={"source": [source]})
    if source == ConsentSource.STORE and staff is None:
        raise InvalidIdentifier(_("Consent taken in a store names the staff member."))
    customer = locks.customer_for_update(customer.pk)
    if not customer.is_live:
        raise CustomerNotLive()
    state = ConsentState.GRANTED if granted else ConsentState.WITHDRAWN
    double_opt_in = (
        granted
        and channel == ConsentChannel.EMAIL
        and purpose == ConsentPurpose.MARKETING
        and source
        not in (ConsentSource.EMAIL_CONFIRMATION, ConsentSource.STORE, ConsentSource.IMPORT)
    )
    if double_opt_in:
        state = ConsentState.PENDING
    consent = Consent.objects.create(
        customer=customer,
        channel=channel,
        purpose=purpose,
        state=state,
        source=source,
        wording_version=wording_version,
        staff=staff,
        evidence=evidence or {},
    )
    if double_opt_in:
        transaction.on_commit(lambda: _send_confirmation(consent.pk))
    return consent


def confirmation_token(consent: Consent, email: str | None = None) -> str:
    """Signed link token: the pending consent and the address the link was sent to."""
    return signing.dumps({"consent": consent.pk, "email": email}, salt=CONFIRM_SALT)


def _send_confirmation(consent_id: int) -> None:
    from django.core.mail import send_mail

    consent = Consent.objects.select_related("customer").get(pk=consent_id)
    email = (
        Identity.objects.filter(customer=consent.customer, kind=IdentityKind.EMAIL)
        .order_by("-verified", "pk")
        .values_list("value", flat=True)
        .first()
    )
    if not email:
        return
    link = f"{settings.OMNI_PUBLIC_URL}/consent/confirm/{confirmation_token(consent, email)}/"
    send_mail(
        _("Confirm your subscription"),
        _("Please confirm that you want our news by e-mail: %(link)s") % {"link": link},
        None,
        [email],
    )


@transaction.atomic
def confirm_consent(*, token: str, evidence: dict | None = None) -> Consent:
    """The double opt-in link: turns a pending e-mail opt-in into a granted one."""
    try:
        data = signing.loads(token, salt=CONFIRM_SALT, max_age=settings.CONSENT_CONFIRM_MAX_AGE)
    except signing.BadSignature:
        raise InvalidIdentifier(_("This confirmation link is invalid or has expired.")) from None
    pending = Consent.objects.select_related("customer").get(pk=data["consent"])
    latest = (
        Consent.objects.filter(
            customer=pending.customer, channel=pending.channel, purpose=pending.purpose
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    if latest.state == ConsentState.GRANTED:
        return latest  # clicking twice changes nothing
    if latest.pk != pending.pk:
        raise InvalidIdentifier(_("A newer choice replaced this request."))
    # Clicking the link proves the address it was sent to (unless someone else holds it verified).
    email = data.get("email")
    taken = Identity.objects.filter(kind=IdentityKind.EMAIL, value=email, verified=True).exclude(
        customer=pending.customer
    )
    if email and not taken.exists():
        Identity.objects.filter(
            customer=pending.customer, kind=IdentityKind.EMAIL, value=email
        ).update(verified=True)
    return set_consent(
        customer=pending.customer,
        channel=pending.channel,
        purpose=pending.purpose,
        granted=True,
        source=ConsentSource.EMAIL_CONFIRMATION,
        wording_version=pending.wording_version,
        evidence=evidence,
    )


# --- GDPR -------------------------------------------------------------------------------------


def export_customer(customer: Customer) -> dict:
    """Everything we hold about a person, as JSON-serialisable data (article 15 / 20)."""
    traits = CustomerTraits.objects.filter(customer=customer).values().first() or {}
    return {
        "customer": {
            "id": customer.pk,
            **{name: getattr(customer, name) for name in PROFILE_FIELDS},
            "status": customer.status,
            "created_at": customer.created_at,
        },
        "identities": list(
            Identity.objects.filter(customer=customer).values(
                "kind", "value", "verified", "source", "created_at", "last_seen_at"
            )
        ),
        "consents": list(
            Consent.objects.filter(customer=customer)
            .order_by("created_at", "pk")
            .values("channel", "purpose", "state", "source", "wording_version", "created_at")
        ),
        "events": list(
            Event.objects.filter(customer=customer)
            .order_by("occurred_at", "pk")
            .values("channel", "type", "name", "properties", "occurred_at")
        ),
        "traits": {k: v for k, v in traits.items() if k != "customer_id"},
        "merges": list(
            Merge.objects.filter(survivor=customer).values("absorbed_id", "cause", "created_at")
        ),
        "phone_verifications": list(
            PhoneVerification.objects.filter(customer=customer)
            .order_by("created_at", "pk")
            .values("phone", "created_at", "verified_at")
        ),
    }


@transaction.atomic
def erase_customer(*, customer: Customer, acting_user=None, reason: str = "") -> Customer:
    """GDPR erasure (irreversible): strip PII from the profile, identities, events, consents
    and merge snapshots. Orders and stock ledger rows stay for accounting, without PII (their
    apps strip it on ``customer_erased``). Audited by a Merge-free ErasureRecord."""
    from customers.models import Erasure

    customer = locks.customer_for_update(customer.pk)
    if customer.status == CustomerStatus.ERASED:
        return customer
    absorbed_ids = list(Customer.objects.filter(merged_into=customer).values_list("pk", flat=True))
    people = [customer.pk, *absorbed_ids]
    Identity.objects.filter(customer_id__in=people).delete()
    PhoneVerification.objects.filter(customer_id__in=people).delete()
    Event.objects.filter(customer_id__in=people).update(properties={}, identity=None)
    Consent.objects.filter(customer_id__in=people).update(evidence={})
    Merge.objects.filter(Q(survivor_id__in=people) | Q(absorbed_id__in=people)).update(
        snapshot={"erased": True}
    )
    MergeReview.objects.filter(
        Q(customer_a_id__in=people) | Q(customer_b_id__in=people), status=ReviewStatus.PENDING
    ).update(status=ReviewStatus.REJECTED, decided_by=acting_user, decided_at=timezone.now())
    MergeReview.objects.filter(Q(customer_a_id__in=people) | Q(customer_b_id__in=people)).update(
        value="erased"
    )
    CustomerTraits.objects.filter(customer_id__in=people).delete()
    user_ids = [
        uid
        for uid in Customer.objects.filter(pk__in=people).values_list("user_id", flat=True)
        if uid
    ]
    Customer.objects.filter(pk__in=people).update(
        first_name="",
        last_name="",
        birth_date=None,
        home_store="",
        user=None,
        status=CustomerStatus.ERASED,
        updated_at=timezone.now(),
    )
    _erase_shopper_accounts(user_ids)
    Erasure.objects.create(customer=customer, acting_user=acting_user, reason=reason[:255])
    customer_erased.send(sender=Customer, customer=customer, customer_ids=people)
    customer.refresh_from_db()
    return customer


def _erase_shopper_accounts(user_ids: list[int]) -> None:
    """The shopper's sign-in account holds the e-mail too: anonymise and disable it."""
    if not user_ids:
        return
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    EmailAddress.objects.filter(user_id__in=user_ids).delete()
    User = get_user_model()
    for user in User.objects.filter(pk__in=user_ids, is_staff=False):
        user.email = f"erased-{user.pk}@erased.invalid"
        user.first_name = user.last_name = ""
        user.is_active = False
        user.set_unusable_password()
        user.save()


@transaction.atomic
def customer_for_user(user) -> Customer:
    """The shopper's live profile, created and linked on first use. The account's e-mail joins
    it as contact data; only once verified does it bring the profiles that hold it along
    (``link_verified_identifier``), never a profile of another account."""
    customer = Customer.objects.filter(user=user, status=CustomerStatus.LIVE).first()
    if customer is not None:
        return customer
    # Two first requests of one account at once: the account row serialises them.
    locks.account_for_update(user.pk)
    customer = Customer.objects.filter(user=user, status=CustomerStatus.LIVE).first()
    if customer is not None:
        return customer
    customer = Customer.objects.create(user=user, is_anonymous=False)
    if user.email:
        typed = clean_identifiers([(IdentityKind.EMAIL, user.email)], vouched=False)
        _attach(customer, typed, Channel.WEB)
        if _email_verified(user):
            customer = link_verified_identifier(
                customer=customer, kind=IdentityKind.EMAIL, value=user.email
            )
    return customer


@transaction.atomic
def record_contact(*, customer: Customer, identifiers: Iterable, source: str) -> Customer:
    """Contact data someone typed (a guest's e-mail or phone at checkout): stored unverified on
    this profile only. No owner is looked up, nothing merges, nothing of another profile shows.
    A claimed profile (``selectors.is_claimed``) takes no typed contact: its owner signs in."""
    idents = clean_identifiers(identifiers, vouched=False)
    customer = locks.customer_for_update(customer.pk)
    if not customer.is_live:
        raise CustomerNotLive()
    if is_claimed(customer.pk):
        raise ProfileClaimed()
    _attach(customer, idents, source)
    return customer


@transaction.atomic
def link_verified_identifier(
    *, customer: Customer, kind: str, value: str, source: str = Channel.WEB, acting_user=None
) -> Customer:
    """The person behind ``customer`` proved ``value`` (allauth's e-mail confirmation, a phone
    code, a staff check): the unclaimed profiles that hold it (a guest's past orders) merge with
    this one and the identifier is verified here. A profile linked to another account is never
    merged: the pair goes to the review queue (and the value stays unverified here while that
    profile holds it verified). Returns the live profile."""
    (ident,) = clean_identifiers([(kind, value, True)])
    lock_identifiers([ident])
    owners = identifier_owners([ident]).get((ident.kind, ident.value), set()) - {customer.pk}
    profiles = queries.customers_by_id(owners | {customer.pk})
    main = profiles[customer.pk]
    if not main.is_live:
        raise CustomerNotLive()
    proven_by = set(
        Identity.objects.filter(
            kind=ident.kind, value=ident.value, verified=True, customer_id__in=owners
        ).values_list("customer_id", flat=True)
    )
    proven_otherwise = claimed_ids(owners - proven_by)
    for other in sorted((profiles[pk] for pk in owners), key=survivor_order):
        if other.user_id is not None and other.user_id != main.user_id:
            _queue_review(main, other, ident, _("Another account holds this identifier."))
            continue
        if other.pk in proven_otherwise:
            # Someone proved who that profile is (a card, a till id), not this value: a person
            # checks before the two become one.
            _queue_review(main, other, ident, _("A profile with other proof typed this value."))
            continue
        main = _merge_or_review(
            main,
            other,
            cause=_("%(kind)s verified") % {"kind": ident.kind},
            ident=ident,
            acting_user=acting_user,
            prefer=main,
        )
    taken = Identity.objects.filter(kind=ident.kind, value=ident.value, verified=True).exclude(
        customer=main
    )
    _attach(main, [ident if not taken.exists() else Identifier(ident.kind, ident.value)], source)
    return main


def _email_verified(user) -> bool:
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists()


@transaction.atomic(savepoint=False)
def record_messages_sent(
    *, sends: Sequence[tuple[int, str, dict]], type: str = EventType.MESSAGE_SENT
) -> int:
    """Outbound touchpoints, one per (customer id, channel, properties): a batch of messages a
    campaign sent (or of sales credited to one, ``type`` campaign_conversion), on the customers'
    timelines in one INSERT. No trait moves (a message we sent is not the customer being seen,
    and the sale itself is already on the timeline)."""
    if type not in OUTBOUND_EVENT_TYPES:
        raise InvalidIdentifier(_("Unknown event type or channel."))
    now = timezone.now()
    events = [
        Event(
            customer_id=customer_id,
            channel=channel,
            type=type,
            properties=properties,
            occurred_at=now,
        )
        for customer_id, channel, properties in sends
    ]
    if any(event.channel not in _CHANNELS for event in events):
        raise InvalidIdentifier(_("Unknown event type or channel."))
    return len(Event.objects.bulk_create(events, batch_size=1_000))


def record_customer_event(
    *, customer: Customer, type: str, channel: str, properties: dict | None = None, name=""
) -> Event:
    """A touchpoint another app saw for a known profile (cart changes, orders, pickups)."""
    from customers.traits import record_with_increments

    if type not in _EVENT_TYPES or channel not in _CHANNELS:
        raise InvalidIdentifier(_("Unknown event type or channel."))
    event = Event(
        customer=customer,
        channel=channel,
        type=type,
        name=name,
        properties=properties or {},
        occurred_at=timezone.now(),
    )
    record_with_increments(event)  # on every cart change and checkout: one statement
    return event
