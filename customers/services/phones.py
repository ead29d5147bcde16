"""A phone verified by a code: the shopper's proof of a phone number (the identity rule at the
top of ``profiles.py``).

``start_phone_verification`` sends a 6-digit code by SMS (after commit, in the customer's
language); ``confirm_phone_verification`` checks it and calls ``link_verified_identifier``, so
the unclaimed profiles that typed the phone (a guest's past orders) join the account's profile
and a profile of another account goes to the review queue. Only an HMAC of the code is stored.

Locks follow ``identify``: the phone's identifier lock, then the profile, then the code's row.
"""

import hmac
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from customers import locks
from customers.exceptions import (
    CustomerNotLive,
    PhoneCodeExpired,
    PhoneCodeUsed,
    PhoneVerificationNotFound,
    TooManyCodeAttempts,
    TooManyPhoneVerifications,
    WrongPhoneCode,
)
from customers.identifiers import normalise
from customers.models import Channel, Customer, IdentityKind, PhoneVerification
from customers.services.profiles import Identifier, link_verified_identifier, lock_identifiers
from omni import messaging

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS = 5
STARTS_WINDOW = timedelta(hours=1)
MAX_STARTS_PER_CUSTOMER = 5
MAX_STARTS_PER_PHONE = 5


def _digest(phone: str, code) -> str:
    return salted_hmac(
        "customers.phone-verification", f"{phone}:{code}", algorithm="sha256"
    ).hexdigest()


def _locked_customer(customer: Customer, phone: str) -> Customer:
    lock_identifiers([Identifier(IdentityKind.PHONE, phone)])
    customer = locks.customer_for_update(customer.pk)
    if not customer.is_live:
        raise CustomerNotLive()
    return customer


def _refuse_too_many_starts(customer: Customer, phone: str) -> None:
    recent = PhoneVerification.objects.filter(created_at__gt=timezone.now() - STARTS_WINDOW)
    if (
        recent.filter(customer=customer).count() >= MAX_STARTS_PER_CUSTOMER
        or recent.filter(phone=phone).count() >= MAX_STARTS_PER_PHONE
    ):
        raise TooManyPhoneVerifications()


def _send_code(phone: str, code: str, language: str) -> None:
    with translation.override(language):
        body = _(
            "Your Omni verification code is %(code)s. It expires in %(minutes)s minutes. "
            "Do not share it with anyone."
        ) % {"code": code, "minutes": int(CODE_LIFETIME.total_seconds() // 60)}
    messaging.send(channel="sms", to=phone, body=body)


@transaction.atomic
def start_phone_verification(*, customer: Customer, phone: str) -> PhoneVerification:
    """Send a new code to ``phone`` (any earlier code for it stops working). At most
    MAX_STARTS_PER_CUSTOMER codes per profile and MAX_STARTS_PER_PHONE per number an hour."""
    phone = normalise(IdentityKind.PHONE, phone)
    customer = _locked_customer(customer, phone)
    _refuse_too_many_starts(customer, phone)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    verification = PhoneVerification.objects.create(
        customer=customer,
        phone=phone,
        code_digest=_digest(phone, code),
        expires_at=timezone.now() + CODE_LIFETIME,
    )
    language = customer.preferred_language
    transaction.on_commit(lambda: _send_code(phone, code, language), robust=True)
    return verification


def _latest_usable(customer: Customer, phone: str) -> PhoneVerification:
    verification = locks.latest_phone_code_for_update(customer, phone)
    if verification is None:
        raise PhoneVerificationNotFound()
    if verification.verified_at is not None:
        raise PhoneCodeUsed()
    if verification.attempts >= MAX_ATTEMPTS:
        raise TooManyCodeAttempts()
    if verification.expires_at <= timezone.now():
        raise PhoneCodeExpired()
    return verification


def confirm_phone_verification(
    *, customer: Customer, phone: str, code: str, source: str = Channel.WEB
) -> PhoneVerification:
    """Check the latest code sent to ``phone`` for this profile; right: the phone is proved
    (``link_verified_identifier``) and the code used up. Returns the verification, whose
    ``customer`` is the live profile (merges may have changed which one it is).

    Wrong codes are counted (committed even though the call fails, so do not call this inside
    an outer transaction); the MAX_ATTEMPTS-th locks the code."""
    phone = normalise(IdentityKind.PHONE, phone)
    with transaction.atomic():
        customer = _locked_customer(customer, phone)
        verification = _latest_usable(customer, phone)
        right = isinstance(code, str) and hmac.compare_digest(
            _digest(phone, code), verification.code_digest
        )
        if right:
            verification.verified_at = timezone.now()
            verification.save(update_fields=["verified_at"])
            link_verified_identifier(
                customer=customer, kind=IdentityKind.PHONE, value=phone, source=source
            )
            verification.refresh_from_db()
            return verification
        verification.attempts += 1
        verification.save(update_fields=["attempts"])
    if verification.attempts >= MAX_ATTEMPTS:
        raise TooManyCodeAttempts()
    raise WrongPhoneCode(fields={"code": [_("Does not match.")]})
