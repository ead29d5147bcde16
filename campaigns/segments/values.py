"""Typed values of segment conditions: each parser returns the clean value or raises
``RuleError`` with a message fit to show the marketer (the caller adds which condition)."""

import re
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from omni.text import is_storable, shorten

MAX_INT = 1_000_000_000
MAX_LIST = 100
MAX_TEXT = 100
DECIMAL_PATTERN = re.compile(r"-?[0-9]{1,10}(\.[0-9]{1,2})?")
CODE_PATTERN = re.compile(r"[-a-zA-Z0-9_]{1,220}")


class RuleError(Exception):
    """One problem with one condition; ``message`` is translated text."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def parse_int(value, *, minimum: int = 0, maximum: int = MAX_INT) -> int:
    if type(value) is not int:
        raise RuleError(_("needs a whole number, not %(v)s.") % {"v": describe(value)})
    if not minimum <= value <= maximum:
        raise RuleError(
            _("must be between %(min)s and %(max)s.") % {"min": minimum, "max": maximum}
        )
    return value


def parse_decimal(value) -> Decimal:
    """A number with at most 10 digits before the point and 2 after (JSON number or text)."""
    if type(value) in (int, float):
        value = str(value)
    if type(value) is not str:
        raise RuleError(_("needs a number, not %(v)s.") % {"v": describe(value)})
    text = value.strip()
    if text.endswith(".0"):
        text = text[:-2]
    if not DECIMAL_PATTERN.fullmatch(text):
        raise RuleError(
            _("needs a number with up to 10 digits and 2 decimals, not %(v)s.")
            % {"v": describe(value)}
        )
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
        raise RuleError(_("needs a number.")) from None


def parse_moment(value) -> datetime:
    """An ISO date (midnight, current time zone) or date-time (aware) between 1900 and 2200."""
    if type(value) is not str or len(value) > 40:
        raise RuleError(_("needs a date (YYYY-MM-DD), not %(v)s.") % {"v": describe(value)})
    try:
        moment = parse_datetime(value)
        day = None if moment else parse_date(value)
    except ValueError:
        moment = day = None
    if moment is None and day is None:
        raise RuleError(_("needs a date (YYYY-MM-DD), not %(v)s.") % {"v": describe(value)})
    if moment is None:
        moment = datetime.combine(day, time.min)
    if not 1900 <= moment.year <= 2200:
        raise RuleError(_("needs a date between the years 1900 and 2200."))
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def parse_day(value) -> date:
    return parse_moment(value).date()


def parse_bool(value) -> bool:
    if type(value) is not bool:
        raise RuleError(_("needs yes or no (true/false), not %(v)s.") % {"v": describe(value)})
    return value


def parse_text(value, *, maximum: int = MAX_TEXT) -> str:
    if type(value) is not str:
        raise RuleError(_("needs text, not %(v)s.") % {"v": describe(value)})
    if not is_storable(value):
        raise RuleError(_("Null characters and lone surrogates are not allowed."))
    value = value.strip()
    if not value or len(value) > maximum:
        raise RuleError(_("needs 1 to %(n)s characters.") % {"n": maximum})
    return value


def parse_code(value) -> str:
    """A store, category or product code (slug)."""
    text = parse_text(value, maximum=220)
    if not CODE_PATTERN.fullmatch(text):
        raise RuleError(
            _("needs a code (letters, digits, - and _), not %(v)s.") % {"v": describe(value)}
        )
    return text


def parse_country(value) -> str:
    code = parse_code(value).upper()
    if len(code) != 2:
        raise RuleError(_("needs a two-letter country code (ES, PT, FR…)."))
    return code


def parse_choice(value, choices) -> str:
    allowed = [str(key) for key, _label in choices]
    if type(value) is not str or value not in allowed:
        raise RuleError(
            _("must be one of %(choices)s, not %(v)s.")
            % {"choices": ", ".join(allowed[:20]), "v": describe(value)}
        )
    return value


def parse_list(value, parse_item, *, maximum: int = MAX_LIST) -> list:
    if type(value) is not list or not value:
        raise RuleError(_("needs a list of values, not %(v)s.") % {"v": describe(value)})
    if len(value) > maximum:
        raise RuleError(_("takes at most %(n)s values.") % {"n": maximum})
    return [parse_item(item) for item in value]


def describe(value) -> str:
    """How a wrong value is quoted back: its JSON type, and short text."""
    if value is None:
        return _("nothing")
    if type(value) is bool:
        return _("yes/no")
    if type(value) in (list, dict):
        return _("a list") if type(value) is list else _("an object")
    return f"“{shorten(value, 40)}”"
