"""Identifier normalisation: the one rule shared by the API, the admin search and the services."""

import pytest

from customers.exceptions import InvalidIdentifier
from customers.identifiers import guess_kind, normalise, normalise_email, normalise_phone
from customers.models import IdentityKind


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ana@example.com", "ana@example.com"),
        ("  Ana.Garcia@Example.COM ", "ana.garcia@example.com"),
        ("JOSE+News@Omni.ES", "jose+news@omni.es"),
    ],
)
def test_email_is_trimmed_and_lower_cased(raw, expected):
    assert normalise_email(raw) == expected
    assert normalise(IdentityKind.EMAIL, raw) == expected


@pytest.mark.parametrize("raw", ["not-an-email", "ana@", "@example.com", "ana @example.com"])
def test_invalid_email_raises_naming_the_field(raw):
    with pytest.raises(InvalidIdentifier) as excinfo:
        normalise(IdentityKind.EMAIL, raw)
    assert set(excinfo.value.fields) == {"email"}
    assert excinfo.value.code == "invalid_identifier"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("600 111 222", "+34600111222"),  # no country code: read as Spanish
        ("600-111-222", "+34600111222"),
        ("+34 600 111 222", "+34600111222"),
        ("0034 600 111 222", "+34600111222"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+1 (202) 555-0143", "+12025550143"),
    ],
)
def test_phone_is_normalised_to_e164(raw, expected):
    assert normalise_phone(raw) == expected
    assert normalise(IdentityKind.PHONE, raw) == expected


@pytest.mark.parametrize("raw", ["123", "abc", "600 111", "+34 600 111 222 333 444", "+999 1234"])
def test_invalid_phone_raises_naming_the_field(raw):
    with pytest.raises(InvalidIdentifier) as excinfo:
        normalise(IdentityKind.PHONE, raw)
    assert set(excinfo.value.fields) == {"phone"}


def test_loyalty_card_is_upper_cased_without_spaces():
    assert normalise(IdentityKind.LOYALTY_CARD, " lc 1234 5678 ") == "LC12345678"
    assert normalise(IdentityKind.LOYALTY_CARD, "lc\t12\n34") == "LC1234"


def test_other_kinds():
    assert normalise(IdentityKind.SOCIAL, " @Ana_Shop ") == "@ana_shop"
    # Device ids and till ids are case-sensitive: only trimmed.
    assert normalise(IdentityKind.ANONYMOUS, " Dev-ABC-1 ") == "Dev-ABC-1"
    assert normalise(IdentityKind.POS_ID, " T01-0042 ") == "T01-0042"


@pytest.mark.parametrize("value", ["", "   ", None, 42])
def test_empty_or_non_string_values_are_refused(value):
    with pytest.raises(InvalidIdentifier) as excinfo:
        normalise(IdentityKind.LOYALTY_CARD, value)
    assert set(excinfo.value.fields) == {"loyalty_card"}


def test_unknown_kind_is_refused():
    with pytest.raises(InvalidIdentifier) as excinfo:
        normalise("fax", "+34 600 111 222")
    assert set(excinfo.value.fields) == {"fax"}


def test_too_long_value_is_refused():
    with pytest.raises(InvalidIdentifier) as excinfo:
        normalise(IdentityKind.ANONYMOUS, "x" * 256)
    assert set(excinfo.value.fields) == {"anonymous"}
    assert normalise(IdentityKind.ANONYMOUS, "x" * 255) == "x" * 255


def test_guess_kind_email():
    assert guess_kind(" Ana@Example.com ") == [(IdentityKind.EMAIL, "ana@example.com")]
    assert guess_kind("ana@") == []  # looks like an e-mail, but is not one


def test_guess_kind_phone_also_tries_a_card_and_a_till_id():
    assert guess_kind("600 111 222") == [
        (IdentityKind.PHONE, "+34600111222"),
        (IdentityKind.LOYALTY_CARD, "600111222"),
        (IdentityKind.POS_ID, "600 111 222"),
    ]


@pytest.mark.parametrize(
    "term, card", [("lc 1234 5678", "LC12345678"), ("omni 0001", "OMNI0001"), ("12345", "12345")]
)
def test_guess_kind_short_codes_with_digits_are_cards_or_till_ids(term, card):
    assert guess_kind(term) == [
        (IdentityKind.LOYALTY_CARD, card),
        (IdentityKind.POS_ID, term),
    ]


@pytest.mark.parametrize("term", ["", "   ", None, "García"])
def test_guess_kind_names_and_short_numbers_are_no_identifier(term):
    assert guess_kind(term) == []
