"""Social custom audiences: a segment's e-mails and phones, normalised and SHA-256-hashed, in the
CSV layout the ad platforms take for an uploaded customer list.

Normalisation follows the platforms' published rules: e-mail trimmed and lower-cased; phone in
E.164 — Meta wants digits only with the country code (no ``+``), Google wants the ``+``. Only
hashes leave Omni: the platforms match on them and cannot read them back.
"""

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import zip_longest

from campaigns.selectors import segment_queryset
from customers.selectors import contact_identifiers


@dataclass(frozen=True)
class Layout:
    name: str
    headers: tuple[str, str]
    phone_plus: bool


LAYOUTS = {
    "meta": Layout("meta", ("email", "phone"), phone_plus=False),
    "google": Layout("google", ("Email", "Phone"), phone_plus=True),
}


def normalise_email(value: str) -> str:
    return value.strip().lower()


def normalise_phone(value: str, *, plus: bool) -> str:
    digits = "".join(ch for ch in value if ch.isdigit())
    return f"+{digits}" if plus else digits


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def hashed_rows(contacts: Iterable[tuple[int, str, str]], layout: Layout) -> Iterator[tuple]:
    """``contacts``: (customer id, "email" | "phone", value) ordered by customer id. One row per
    customer and pair of identifiers (a second e-mail or phone makes another row)."""
    current, emails, phones = None, [], []
    for customer_id, kind, value in contacts:
        if customer_id != current:
            yield from _pairs(emails, phones)
            current, emails, phones = customer_id, [], []
        if kind == "email" and (email := normalise_email(value)):
            emails.append(sha256(email))
        elif kind == "phone" and (phone := normalise_phone(value, plus=layout.phone_plus)):
            phones.append(sha256(phone))
    yield from _pairs(emails, phones)


def _pairs(emails: list[str], phones: list[str]) -> Iterator[tuple[str, str]]:
    yield from zip_longest(emails, phones, fillvalue="")


def csv_lines(contacts: Iterable[tuple[int, str, str]], layout: Layout) -> Iterator[str]:
    """The CSV file line by line (for a streaming download): the header, then the rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(layout.headers)
    for row in hashed_rows(contacts, layout):
        writer.writerow(row)
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def segment_contacts(segment) -> Iterator[tuple[int, str, str]]:
    """The segment's verified e-mails (with e-mail marketing consent) and phones (with SMS
    marketing consent), ordered by customer: what an ad platform may match on."""

    def consenting(channel: str):
        member = {"type": "segment", "segment": segment.pk}
        return segment_queryset(
            {"op": "all", "rules": [member, {"type": "consent", "channel": channel}]}
        )

    return contact_identifiers(
        email_customers=consenting("email"), phone_customers=consenting("sms")
    )
