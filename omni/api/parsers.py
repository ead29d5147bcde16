"""The API's request parsers: every body is checked once here, so no endpoint can forget it.

- JSON must be UTF-8, strict (no NaN) and nested at most ``API_JSON_MAX_DEPTH`` levels; a
  bad body is a 400 ``parse_error`` (``too_deep`` for the nesting), never a RecursionError.
- No string anywhere in a body (object keys included, JSON or form fields) may hold a NUL or a
  lone surrogate, which PostgreSQL cannot store: a 400 naming the path of the first one. A view
  whose service reports such text per item (the event batch) sets
  ``refuse_unstorable_text = False``.
- The size is bounded by Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (a 413, see
  ``omni.api.exceptions``).
"""

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.utils.json import strict_constant

from omni.text import UNSTORABLE, path_name, shorten, unstorable_path


def _too_deep(data, max_depth: int) -> bool:
    """True when containers nest deeper than ``max_depth`` (iterative: no recursion)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        for value in node.values() if type(node) is dict else node:
            if type(value) is dict or type(value) is list:
                stack.append((value, depth + 1))
    return False


def refuse_unstorable(path: tuple):
    message = _("Null characters and lone surrogates are not allowed.")
    raise ValidationError({path_name(path): [message]})


def _read_text(stream) -> str:
    """The body as text: at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes of strict UTF-8."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(body) > limit:
        raise RequestDataTooBig()
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(_("JSON parse error - %(error)s") % {"error": shorten(exc)}) from None


def _too_deep_error(max_depth: int) -> ParseError:
    message = _("JSON nested deeper than %(n)s levels.") % {"n": max_depth}
    return ParseError(message, code="too_deep")


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        text = _read_text(stream)
        max_depth = settings.API_JSON_MAX_DEPTH
        try:
            data = json.loads(text, parse_constant=strict_constant)
        except RecursionError:
            raise _too_deep_error(max_depth) from None
        except ValueError as exc:
            raise ParseError(_("JSON parse error - %(error)s") % {"error": shorten(exc)}) from None
        if type(data) in (dict, list) and _too_deep(data, max_depth):
            raise _too_deep_error(max_depth)
        view = (parser_context or {}).get("view")
        # Strict UTF-8 and strict JSON: NUL and surrogates can only come as \u escapes.
        if "\\u" in text and getattr(view, "refuse_unstorable_text", True):
            path = unstorable_path(data)
            if path is not None:
                refuse_unstorable(path)
        return data


def _check_form(data) -> None:
    for key, values in data.lists():
        if any(isinstance(v, str) and UNSTORABLE.search(v) for v in (key, *values)):
            refuse_unstorable((key,))


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _check_form(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        _check_form(parsed.data)
        return parsed
