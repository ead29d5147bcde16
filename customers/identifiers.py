"""Normalising identifiers: the same rule for the API, the admin search and the services."""

import contextlib

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from customers.exceptions import InvalidIdentifier
from customers.models import IdentityKind
from omni.text import is_storable, shorten

DEFAULT_PHONE_REGION = "ES"
MAX_LENGTH = 255
KINDS = frozenset(IdentityKind.values)


def normalise_email(value: str) -> str:
    email = (value or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidIdentifier(
            _("“%(value)s” is not a valid e-mail address.") % {"value": shorten(value)},
            fields={"email": [_("Enter a valid e-mail address.")]},
        ) from None
    return email


def normalise_phone(value: str, region: str = DEFAULT_PHONE_REGION) -> str:
    """E.164 (+34600111222). Numbers without a country code are read as Spanish."""
    try:
        number = phonenumbers.parse((value or "").strip(), region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier(
            _("“%(value)s” is not a valid phone number.") % {"value": shorten(value)},
            fields={"phone": [_("Enter a valid phone number, e.g. +34 600 111 222.")]},
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise(kind: str, value) -> str:
    if kind not in KINDS:
        raise InvalidIdentifier(
            _("Unknown identifier kind “%(kind)s”.") % {"kind": kind}, fields={kind: ["unknown"]}
        )
    if not isinstance(value, str) or not value.strip():
        raise InvalidIdentifier(
            _("The %(kind)s must be a non-empty string.") % {"kind": kind},
            fields={kind: [_("Required.")]},
        )
    if not is_storable(value):
        message = _("Null characters and lone surrogates are not allowed.")
        raise InvalidIdentifier(message, fields={kind: [message]})
    if kind == IdentityKind.EMAIL:
        result = normalise_email(value)
    elif kind == IdentityKind.PHONE:
        result = normalise_phone(value)
    elif kind == IdentityKind.LOYALTY_CARD:
        result = "".join(value.split()).upper()
    elif kind == IdentityKind.SOCIAL:
        result = value.strip().lower()
    else:
        result = value.strip()
    if len(result) > MAX_LENGTH:
        raise InvalidIdentifier(
            _("The %(kind)s is too long.") % {"kind": kind}, fields={kind: [_("Too long.")]}
        )
    return result


def guess_kind(term: str) -> list[tuple[str, str]]:
    """For the admin's search box: what identifiers could this text be? [(kind, value), ...]"""
    term = (term or "").strip()
    found = []
    if "@" in term:
        with contextlib.suppress(InvalidIdentifier):
            found.append((IdentityKind.EMAIL, normalise_email(term)))
    digits = sum(ch.isdigit() for ch in term)
    if digits >= 6:
        with contextlib.suppress(InvalidIdentifier):
            found.append((IdentityKind.PHONE, normalise_phone(term)))
    if any(ch.isdigit() for ch in term):
        found.append((IdentityKind.LOYALTY_CARD, "".join(term.split()).upper()))
        found.append((IdentityKind.POS_ID, term))
    return found
