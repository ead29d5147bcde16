"""A campaign's uploaded audience: a CSV of identifiers matched to live customers, kept as
``AudienceMember`` rows that planning reads (``campaigns.planning.contact_data``).

Layouts (UTF-8 with or without a BOM, comma or semicolon): a header row naming a column
``email``, ``phone`` or ``customer_id`` (any case; ``correo``, ``teléfono`` and ``telefono``
too; other columns are ignored; with several, a row's first filled one counts), or a single
column without a header whose values are told apart per row (an ``@``: an e-mail; digits, spaces
and ``+``: a phone). E-mails and phones are normalised as the customers app does
(``customers.identifiers``).

Matching follows the identity rule (``customers/services/profiles.py``): only a verified e-mail
or phone names a customer — an address somebody typed at a guest checkout is no proof of who
they are — and a customer id names its live profile (a merged one its survivor; erased ones
none). The whole file is read and checked before anything is written: a file that cannot be
read is refused whole (``InvalidAudienceFile`` naming the line); a value that is not an e-mail,
phone or id counts as invalid (the first :data:`MAX_INVALID_LISTED` listed with their line).
The campaign's previous list is replaced in one transaction.
"""

import csv
import io
import itertools
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns import locks
from campaigns.exceptions import AudienceLocked, InvalidAudienceFile
from campaigns.models import AudienceMember, Campaign, CampaignStatus
from customers import selectors as customer_selectors
from customers.exceptions import InvalidIdentifier
from customers.identifiers import normalise
from omni.text import shorten

EMAIL, PHONE, CUSTOMER_ID = "email", "phone", "customer_id"
HEADERS = {
    "email": EMAIL,
    "e-mail": EMAIL,
    "correo": EMAIL,
    "phone": PHONE,
    "teléfono": PHONE,
    "telefono": PHONE,
    "customer_id": CUSTOMER_ID,
}
# Why a row was not read, by code (stored in the summary; shown in the reader's language).
REASONS = {
    EMAIL: gettext_lazy("not a valid e-mail address"),
    PHONE: gettext_lazy("not a valid phone number"),
    CUSTOMER_ID: gettext_lazy("not a customer id"),
    "unknown": gettext_lazy("neither an e-mail address nor a phone number"),
    "missing": gettext_lazy("no e-mail, phone or customer id"),
}
EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
MAX_CELL = 1_000  # characters in one cell
MAX_INVALID_LISTED = 20
CHUNK = 5_000  # values per look-up query, rows per insert
PHONE_CHARACTERS = frozenset("0123456789+ -().\u00a0")
FILE_NAME_LENGTH = Campaign._meta.get_field("audience_file_name").max_length
logger = logging.getLogger(__name__)


def _refuse(message: str) -> InvalidAudienceFile:
    return InvalidAudienceFile(message, fields={"file": [message]})


def check_editable(campaign: Campaign) -> None:
    """AudienceLocked unless the campaign is a draft or scheduled."""
    if campaign.status not in EDITABLE:
        raise AudienceLocked(
            _("The audience of a campaign that is %(status)s cannot change.")
            % {"status": campaign.get_status_display()}
        )


# --- Reading ----------------------------------------------------------------------------------


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def read_text(file) -> str:
    """The upload as text: at most CAMPAIGN_AUDIENCE_MAX_BYTES of UTF-8 (a BOM is dropped),
    not empty, without NUL bytes; InvalidAudienceFile otherwise."""
    limit = settings.CAMPAIGN_AUDIENCE_MAX_BYTES
    too_big = _("The file is larger than %(mb)s MB: split it.") % {"mb": round(limit / 2**20, 1)}
    if (getattr(file, "size", None) or 0) > limit:
        raise _refuse(too_big)
    data = file.read(limit + 1)
    if isinstance(data, str):  # a text stream: its lone surrogates fail the decoding below
        data = data.encode("utf-8", "surrogatepass")
    if len(data) > limit:
        raise _refuse(too_big)
    data = data.removeprefix(b"\xef\xbb\xbf")
    if not data.strip():
        raise _refuse(_("The file is empty."))
    nul = data.find(b"\x00")
    if nul >= 0:
        raise _refuse(
            _("Line %(line)s holds a NUL character: save the file as CSV UTF-8.")
            % {"line": _line_at(data, nul)}
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(
            _("Line %(line)s is not UTF-8 text: save the file as CSV UTF-8.")
            % {"line": _line_at(data, exc.start)}
        ) from None


def _delimiter(text: str) -> str:
    first = text.lstrip().split("\n", 1)[0]
    return ";" if first.count(";") > first.count(",") else ","


def csv_rows(text: str):
    """(line, cells) of each row that is not blank; InvalidAudienceFile at a broken quote or
    an over-long cell."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            raise _refuse(
                _("Line %(line)s is not valid CSV: check its quotes.") % {"line": reader.line_num}
            ) from None
        if any(len(cell) > MAX_CELL for cell in row):
            raise _refuse(
                _("Line %(line)s has a value longer than %(n)s characters.")
                % {"line": reader.line_num, "n": MAX_CELL}
            )
        if any(cell.strip() for cell in row):
            yield reader.line_num, row


# --- Parsing ----------------------------------------------------------------------------------


def guess_kind(value: str) -> str | None:
    """A headerless value's kind: an ``@`` makes an e-mail, digits (with +, spaces, dashes,
    dots or brackets) a phone."""
    if "@" in value:
        return EMAIL
    if any(ch.isdigit() for ch in value) and set(value) <= PHONE_CHARACTERS:
        return PHONE
    return None


def _layout(line: int, row: list[str]) -> tuple[list[tuple[int, str | None]], bool]:
    """The identifier columns [(index, kind)] and whether ``row`` is a header (kind None:
    guessed per row)."""
    names = [cell.strip().lstrip("\ufeff").lower().replace(" ", "_") for cell in row]
    columns = [(i, HEADERS[name]) for i, name in enumerate(names) if name in HEADERS]
    if columns:
        return columns, True
    filled = [cell.strip() for cell in row if cell.strip()]
    if len(filled) == 1 and row[0].strip() and guess_kind(filled[0]):
        return [(0, None)], False
    raise _refuse(
        _(
            "Line %(line)s names no column email, phone or customer_id, and is not a single "
            "column of e-mails or phones."
        )
        % {"line": line}
    )


def _normalise(kind: str, raw: str):
    if kind == CUSTOMER_ID:
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18 and int(raw) > 0):
            raise ValueError(raw)
        return int(raw)
    return normalise(kind, raw)


def _first_filled(row: list[str], columns) -> tuple[str | None, str] | None:
    """(kind, value) of the row's first filled identifier column (kind None: a headerless
    value that is neither an e-mail nor a phone)."""
    for index, kind in columns:
        raw = row[index].strip() if index < len(row) else ""
        if raw:
            return kind or guess_kind(raw), raw
    return None


@dataclass
class Parsed:
    """What a file holds: its rows, the distinct normalised values by kind, and the rest."""

    rows: int = 0
    duplicates: int = 0
    invalid: int = 0
    invalid_lines: list[dict] = field(default_factory=list)
    values: dict[str, set] = field(
        default_factory=lambda: {EMAIL: set(), PHONE: set(), CUSTOMER_ID: set()}
    )

    def add_invalid(self, line: int, reason: str) -> None:
        self.invalid += 1
        if len(self.invalid_lines) < MAX_INVALID_LISTED:
            self.invalid_lines.append({"line": line, "reason": reason})

    def add(self, line: int, row: list[str], columns) -> None:
        found = _first_filled(row, columns)
        if found is None:
            return self.add_invalid(line, "missing")
        kind, raw = found
        if kind is None:
            return self.add_invalid(line, "unknown")
        try:
            value = _normalise(kind, raw)
        except (InvalidIdentifier, ValueError):
            return self.add_invalid(line, kind)
        if value in self.values[kind]:
            self.duplicates += 1
        else:
            self.values[kind].add(value)
        return None


def parse(text: str) -> Parsed:
    """Every row of the file read and normalised (InvalidAudienceFile when the file has no
    identifier column, no data rows, or more than CAMPAIGN_AUDIENCE_MAX_ROWS of them)."""
    rows = csv_rows(text)
    first = next(rows, None)
    if first is None:
        raise _refuse(_("The file is empty."))
    columns, is_header = _layout(*first)
    data = rows if is_header else itertools.chain([first], rows)
    parsed, limit = Parsed(), settings.CAMPAIGN_AUDIENCE_MAX_ROWS
    for line, row in data:
        parsed.rows += 1
        if parsed.rows > limit:
            raise _refuse(
                _("Line %(line)s: the file has more than %(n)s rows; split it.")
                % {"line": line, "n": f"{limit:,}"}
            )
        parsed.add(line, row, columns)
    if not parsed.rows:
        raise _refuse(_("The file has no rows under its header."))
    return parsed


# --- Matching and writing ---------------------------------------------------------------------


def _chunks(values):
    values, size = sorted(values), CHUNK
    for start in range(0, len(values), size):
        yield values[start : start + size]


def match(values: dict[str, set]) -> dict[tuple[str, object], int]:
    """(kind, value) → live customer id, for the values that name one: verified e-mails and
    phones, customer ids (followed through merges). One query per chunk of values (per merge
    hop for ids)."""
    owners: dict[tuple[str, object], int] = {}
    for kind in (EMAIL, PHONE):
        for chunk in _chunks(values[kind]):
            found = customer_selectors.verified_owners(kind, chunk)
            owners.update({(kind, value): pk for value, pk in found.items()})
    for chunk in _chunks(values[CUSTOMER_ID]):
        found = customer_selectors.live_survivors(chunk)
        owners.update({(CUSTOMER_ID, value): pk for value, pk in found.items()})
    return owners


def summarise(parsed: Parsed, owners: dict, *, file_name: str, acting_user) -> dict:
    """The upload's summary (stored as ``Campaign.audience_stats``): rows = matched +
    unmatched + duplicates + invalid, where a duplicate repeats a value or a customer."""
    distinct = sum(len(values) for values in parsed.values.values())
    matched = len(set(owners.values()))
    return {
        "file_name": file_name,
        "rows": parsed.rows,
        "matched": matched,
        "unmatched": distinct - len(owners),
        "duplicates": parsed.duplicates + len(owners) - matched,
        "invalid": parsed.invalid,
        "invalid_lines": parsed.invalid_lines,
        "uploaded_by": getattr(acting_user, "pk", None),
    }


def _save_audience(campaign: Campaign, customer_ids, *, file_name: str, stats: dict, when):
    """Replace the campaign's members (locked, still editable) and record the upload."""
    locked = locks.campaign_for_update(campaign.pk)
    check_editable(locked)
    AudienceMember.objects.filter(campaign=locked).delete()
    for chunk in _chunks(customer_ids):
        AudienceMember.objects.bulk_create(
            [AudienceMember(campaign=locked, customer_id=pk, created_at=when) for pk in chunk],
            ignore_conflicts=True,
        )
    fields = {
        "audience_file_name": file_name,
        "audience_uploaded_at": when,
        "audience_stats": stats,
    }
    for target in (locked, campaign):
        for name, value in fields.items():
            setattr(target, name, value)
    locked.save(update_fields=[*fields, "updated_at"])


def clean_file_name(name) -> str:
    """The uploaded file's own name (no folders), printable and short enough to store."""
    name = str(name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return shorten(name, FILE_NAME_LENGTH) or "audience.csv"


def upload_audience(*, campaign: Campaign, file, file_name: str, acting_user) -> dict:
    """Read ``file`` (bytes), match its identifiers to live customers and make them the
    campaign's audience, replacing the previous upload. Returns the summary (see
    :func:`summarise`). AudienceLocked unless draft or scheduled; InvalidAudienceFile (naming
    the line) for a file that cannot be read — nothing is written then."""
    check_editable(campaign)  # before reading a big file for nothing
    parsed = parse(read_text(file))
    owners = match(parsed.values)
    file_name = clean_file_name(file_name)
    stats = summarise(parsed, owners, file_name=file_name, acting_user=acting_user)
    with transaction.atomic():
        _save_audience(
            campaign, set(owners.values()), file_name=file_name, stats=stats, when=timezone.now()
        )
    logger.info(
        "campaign %s: audience %r uploaded by user %s, %s customers matched",
        campaign.pk,
        file_name,
        stats["uploaded_by"],
        stats["matched"],
    )
    return stats


@transaction.atomic
def clear_audience(*, campaign: Campaign, acting_user) -> None:
    """Remove the campaign's uploaded audience (AudienceLocked unless draft or scheduled)."""
    locked = locks.campaign_for_update(campaign.pk)
    check_editable(locked)
    AudienceMember.objects.filter(campaign=locked).delete()
    for target in (locked, campaign):
        target.audience_file_name, target.audience_uploaded_at = "", None
        target.audience_stats = {}
    locked.save(
        update_fields=[
            "audience_file_name",
            "audience_uploaded_at",
            "audience_stats",
            "updated_at",
        ]
    )
    logger.info(
        "campaign %s: audience removed by user %s", campaign.pk, getattr(acting_user, "pk", None)
    )


def move_audience_on_merge(*, survivor, absorbed) -> None:
    """customers_merged receiver (inside the merge): the absorbed profile's places in uploaded
    lists go to the survivor (once per campaign)."""
    rows = AudienceMember.objects.filter(customer=absorbed)
    survivors = AudienceMember.objects.filter(customer=survivor).values("campaign_id")
    rows.filter(campaign_id__in=survivors).delete()
    rows.update(customer=survivor)


def drop_audience_on_erasure(*, customer_ids) -> None:
    """customer_erased receiver: an erased person leaves every uploaded list."""
    AudienceMember.objects.filter(customer_id__in=list(customer_ids)).delete()
