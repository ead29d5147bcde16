"""Social custom audiences: normalised, SHA-256-hashed identifiers in each platform's layout."""

import csv
import hashlib
import io

from campaigns.audiences import LAYOUTS, csv_lines, hashed_rows, normalise_email, normalise_phone


def _h(value):
    return hashlib.sha256(value.encode()).hexdigest()


def test_emails_are_trimmed_and_lower_cased_before_hashing():
    assert normalise_email("  Ana.Perez@Example.COM ") == "ana.perez@example.com"
    rows = list(hashed_rows([(1, "email", " Ana@Example.com")], LAYOUTS["meta"]))
    assert rows == [(_h("ana@example.com"), "")]


def test_phones_follow_each_platform_meta_digits_google_with_plus():
    assert normalise_phone("+34 600 123 456", plus=False) == "34600123456"
    assert normalise_phone("+34600123456", plus=True) == "+34600123456"
    meta = list(hashed_rows([(1, "phone", "+34600123456")], LAYOUTS["meta"]))
    google = list(hashed_rows([(1, "phone", "+34600123456")], LAYOUTS["google"]))
    assert meta == [("", _h("34600123456"))] and google == [("", _h("+34600123456"))]


def test_one_row_per_customer_pairing_their_identifiers():
    contacts = [
        (1, "email", "a@x.es"),
        (1, "phone", "+34600000001"),
        (1, "email", "a2@x.es"),
        (2, "phone", "+34600000002"),
        (3, "email", "   "),  # nothing left after normalising: no row
    ]
    rows = list(hashed_rows(contacts, LAYOUTS["meta"]))
    assert rows == [
        (_h("a@x.es"), _h("34600000001")),
        (_h("a2@x.es"), ""),
        ("", _h("34600000002")),
    ]


def test_the_csv_has_the_platform_header_and_only_hashes():
    contacts = ((n, "email", f"person{n}@example.com") for n in range(3000))
    text = "".join(csv_lines(contacts, LAYOUTS["google"]))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Email", "Phone"]
    assert len(rows) == 3001 and "example.com" not in text
    assert all(len(email) == 64 and set(email) <= set("0123456789abcdef") for email, _ in rows[1:])
