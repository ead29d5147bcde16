"""What a campaign says to each shopper: personalised messages in a sandboxed template language.

Marketers write each channel's content in the Django template language, but not with Django's
template engine: a dedicated :class:`~django.template.Engine` knows only the tags and filters
listed below (no ``{% include %}``, ``{% extends %}``, ``{% load %}``, ``{% debug %}``, ``{% url %}``
…, no filter that turns escaping off or builds huge strings) and loads no template from disk.
The context is built by :func:`build_context` from plain dicts and strings, never model
instances, and every variable a template names must be one of :data:`VARIABLES` (a mapping of
allowed paths to their description), so nothing beyond the whitelist can be reached.

* :func:`validate_template` / :func:`validate_message` refuse, at save time, a template with a
  syntax error, a forbidden tag or filter, or an unknown variable — naming the line — and one
  that fails to render with :data:`SAMPLE_CONTEXT` or renders too long for its channel.
* :func:`render_message` renders one message per channel: e-mail (subject, HTML with
  autoescape, a text alternative given or generated from the HTML), SMS (plain text, GSM-7 or
  UCS-2 segments counted, refused beyond ``MESSAGING_SMS_MAX_SEGMENTS``), push (title and body
  within the platforms' limits) and the in-store task for staff. Compiled templates are cached
  by the SHA-256 of their source: rendering a million messages compiles each template once.
"""

import hashlib
import html
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template import (
    Context,
    Engine,
    Library,
    Template,
    TemplateSyntaxError,
    defaultfilters,
    defaulttags,
)
from django.template.base import Lexer, TokenType, Variable, VariableNode
from django.template.defaulttags import FirstOfNode, ForNode, IfNode, NowNode, TemplateLiteral
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from omni.text import UNSTORABLE

CHANNELS = ("email", "sms", "push", "store")
# The parts of each channel's content, the first one required; the text parts render with
# autoescape off, the HTML part with autoescape on.
PARTS = {
    "email": ("subject", "html", "text"),
    "sms": ("body",),
    "push": ("title", "body"),
    "store": ("body",),
}
REQUIRED_PARTS = {"email": ("subject", "html"), "sms": ("body",), "push": ("title", "body")}
HTML_PARTS = frozenset({("email", "html")})
MAX_TEMPLATE_LENGTH = 100_000
PUSH_TITLE_MAX = 65
PUSH_BODY_MAX = 240
MAX_PRODUCTS = 12
MAX_TEXT_VALUE = 500

# Every variable a message may use: its path (``[]`` is an item of a list) and what it holds.
VARIABLES = {
    "customer.first_name": gettext_lazy("The shopper's first name"),
    "customer.name": gettext_lazy("The shopper's full name"),
    "customer.language": gettext_lazy("The shopper's language code (en, es)"),
    "coupon_code": gettext_lazy("The shopper's personal coupon code"),
    "unsubscribe_url": gettext_lazy("The link that unsubscribes the shopper"),
    "products": gettext_lazy("Products in stock at the shopper's store (a list)"),
    "products[].name": gettext_lazy("A product's name"),
    "products[].price": gettext_lazy("A product's price, e.g. 19.90"),
    "products[].url": gettext_lazy("A product's page"),
    "products[].image": gettext_lazy("A product's image"),
    "store.name": gettext_lazy("The nearest store with stock: its name"),
    "store.address": gettext_lazy("The nearest store with stock: its address"),
}
# Inside ``{% for %}``: the loop's counters.
LOOP_VARIABLES = frozenset(
    f"forloop.{name}"
    for name in ("counter", "counter0", "revcounter", "revcounter0", "first", "last")
)
ALLOWED_TAGS = ("if", "for", "comment", "firstof", "now", "spaceless", "templatetag", "verbatim")
CLOSING_TAGS = frozenset(
    {"elif", "else", "endif", "empty", "endfor", "endcomment", "endspaceless", "endverbatim"}
)
# Filters that cannot turn escaping off (safe, safeseq, autoescape), build huge strings from a
# number in the template (center, ljust, floatformat, stringformat…) or call into the project.
ALLOWED_FILTERS = (
    "capfirst", "cut", "date", "default", "default_if_none", "escape", "first", "join", "last",
    "length", "linebreaks", "linebreaksbr", "lower", "pluralize", "slice", "striptags", "time",
    "title", "truncatechars", "truncatewords", "upper", "urlencode", "wordcount", "yesno",
)  # fmt: skip

SAMPLE_CONTEXT = {
    "customer": {"first_name": "Alex", "name": "Alex García", "language": "es"},
    "coupon_code": "OMNI-7KQ2-9XTD",
    "unsubscribe_url": "https://omni.example/u/sample-token",
    "products": [
        {
            "name": "Trail running shoes",
            "price": "89.90",
            "url": "https://omni.example/p/trail-running-shoes",
            "image": "https://omni.example/media/trail-running-shoes.jpg",
        },
        {
            "name": "Merino socks (2 pairs)",
            "price": "14.50",
            "url": "https://omni.example/p/merino-socks",
            "image": "https://omni.example/media/merino-socks.jpg",
        },
    ],
    "store": {"name": "Omni Gran Vía", "address": "Gran Vía 32, 28013 Madrid"},
}


class ContentError(ValidationError):
    """A template or message the sandbox refuses; ``line`` is the template line when known."""

    def __init__(self, message, *, code, line=None, params=None):
        super().__init__(message, code=code, params=params)
        self.line = line


def _library() -> Library:
    library = Library()
    for name in ALLOWED_TAGS:
        library.tag(name, defaulttags.register.tags[name])
    for name in ALLOWED_FILTERS:
        library.filters[name] = defaultfilters.register.filters[name]
    return library


class _SandboxEngine(Engine):
    """An engine with the whitelisted tags and filters only, no loaders, no libraries. Debug
    mode makes render errors carry their template line (it costs nothing while rendering)."""

    default_builtins = []

    def __init__(self):
        super().__init__(loaders=[], libraries={}, builtins=[], debug=True, string_if_invalid="")
        self.template_builtins = [_library()]


ENGINE = _SandboxEngine()


# --- Validation -------------------------------------------------------------------------------


def _all_prefixes(paths: Iterable[str]) -> frozenset:
    prefixes = set()
    for path in paths:
        parts = path.split(".")
        prefixes.update(".".join(parts[:n]) for n in range(1, len(parts) + 1))
        prefixes.update(p.removesuffix("[]") for p in list(prefixes) if p.endswith("[]"))
    return frozenset(prefixes)


KNOWN_PATHS = _all_prefixes(VARIABLES)
LIST_PATHS = frozenset(p for p in VARIABLES if any(k.startswith(p + "[]") for k in VARIABLES))
ROOT_NAMES = frozenset(p.split(".")[0].removesuffix("[]") for p in VARIABLES)


def _error(message, code, line, **params):
    text = _("Line %(line)s: %(error)s") % {"line": line, "error": message % params}
    return ContentError(text, code=code, line=line)


def _check_source(source) -> None:
    if not isinstance(source, str):
        raise ContentError(_("A template must be text."), code="invalid")
    if len(source) > MAX_TEMPLATE_LENGTH:
        raise ContentError(
            _("A template may hold at most %(max)d characters.") % {"max": MAX_TEMPLATE_LENGTH},
            code="too_long",
        )
    if UNSTORABLE.search(source):
        raise ContentError(
            _("The template holds characters that cannot be stored."), code="invalid"
        )


def _check_tags(source: str) -> None:
    """Refuse a forbidden tag by name, with its line, before Django's parser sees it."""
    for token in Lexer(source).tokenize():
        if token.token_type is not TokenType.BLOCK or not token.contents:
            continue
        name = token.contents.split()[0]
        if name not in ALLOWED_TAGS and name not in CLOSING_TAGS:
            raise _error(
                _("the tag {%% %(tag)s %%} is not allowed in messages."),
                "forbidden_tag",
                token.lineno,
                tag=name,
            )


INVALID_FILTER = re.compile(r"Invalid filter: '([^']*)'")


def _syntax_line(exc: Exception) -> int | None:
    debug = getattr(exc, "template_debug", None)
    if debug:
        return debug["line"]
    token = getattr(exc, "token", None)
    return getattr(token, "lineno", None)


def compile_template(source: str) -> Template:
    """``source`` compiled in the sandbox and checked (tags, filters, variables); cached by the
    SHA-256 of the source. Raises :class:`ContentError` with the line."""
    _check_source(source)
    key = hashlib.sha256(source.encode()).digest()
    template = _CACHE.get(key)
    if template is None:
        template = _compile_checked(source)
        _CACHE.put(key, template)
    return template


def _compile_checked(source: str) -> Template:
    _check_tags(source)
    try:
        template = Template(source, engine=ENGINE)
    except TemplateSyntaxError as exc:
        line = _syntax_line(exc) or 1
        if match := INVALID_FILTER.match(str(exc)):
            raise _error(
                _("the filter “%(filter)s” is not allowed in messages."),
                "forbidden_filter",
                line,
                filter=match[1],
            ) from None
        raise _error("%(detail)s", "syntax", line, detail=str(exc)) from None
    _check_nodelist(template.nodelist, _Scope.top())
    return template


class _TemplateCache:
    """Compiled templates by SHA-256 of their source, bounded (oldest dropped first)."""

    def __init__(self, size: int = 512):
        self._size = size
        self._items: dict[bytes, Template] = {}
        self._lock = threading.Lock()

    def get(self, key: bytes) -> Template | None:
        return self._items.get(key)

    def put(self, key: bytes, template: Template) -> None:
        with self._lock:
            if len(self._items) >= self._size:
                self._items.pop(next(iter(self._items)))
            self._items[key] = template

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self):
        return len(self._items)


_CACHE = _TemplateCache()


@dataclass(frozen=True)
class _Scope:
    """The names a template may use at one point: the whitelist's roots, plus loop variables
    (each bound to the list item path it walks)."""

    names: Mapping[str, str]
    in_loop: bool = False

    @classmethod
    def top(cls) -> "_Scope":
        return cls({name: name for name in ROOT_NAMES})

    def path_of(self, variable: Variable) -> str | None:
        head, *rest = variable.lookups
        if self.in_loop and head == "forloop":
            path = ".".join(variable.lookups)
            return path if path in LOOP_VARIABLES else None
        path = self.names.get(head)
        for bit in rest:
            if path is None:
                return None
            path = f"{path}[]" if bit.isdigit() and path in LIST_PATHS else f"{path}.{bit}"
        return path if path in KNOWN_PATHS else None


def _check_variable(variable, scope: _Scope, line: int) -> str | None:
    if not isinstance(variable, Variable) or variable.lookups is None:
        return None  # a literal
    path = scope.path_of(variable)
    if path is None:
        raise _error(
            _("unknown variable “%(name)s”. A message may use: %(known)s."),
            "unknown_variable",
            line,
            name=".".join(variable.lookups),
            known=", ".join(sorted(VARIABLES)),
        )
    return path


def _check_expression(expression, scope: _Scope, line: int) -> str | None:
    path = _check_variable(expression.var, scope, line)
    for _func, arguments in expression.filters:
        for is_lookup, argument in arguments:
            if is_lookup:
                _check_variable(argument, scope, line)
    return path


def _condition_expressions(condition):
    if isinstance(condition, TemplateLiteral):
        yield condition.value
        return
    for operand in (condition.first, condition.second):
        if operand is not None:
            yield from _condition_expressions(operand)


def _branch_line(nodelist, default: int) -> int:
    """An ``{% elif %}`` keeps no token: its branch's first node starts on its line."""
    for node in nodelist:
        return node.token.lineno
    return default


def _check_for(node: ForNode, scope: _Scope, line: int) -> None:
    if scope.in_loop:  # one list to walk; nested loops would only multiply the work
        raise _error(_("{%% for %%} loops cannot be nested."), "bad_loop", line)
    path = _check_expression(node.sequence, scope, line)
    if path not in LIST_PATHS:
        raise _error(
            _("{%% for %%} may only walk a list: %(lists)s."),
            "bad_loop",
            line,
            lists=", ".join(sorted(LIST_PATHS)),
        )
    if len(node.loopvars) != 1:
        raise _error(_("{%% for %%} takes one loop variable."), "bad_loop", line)
    inner = _Scope({**scope.names, node.loopvars[0]: f"{path}[]"}, in_loop=True)
    _check_nodelist(node.nodelist_loop, inner)
    _check_nodelist(node.nodelist_empty, scope)


def _check_node(node, scope: _Scope) -> None:
    line = node.token.lineno
    if isinstance(node, VariableNode):
        _check_expression(node.filter_expression, scope, line)
    elif isinstance(node, IfNode):
        for condition, nodelist in node.conditions_nodelists:
            if condition is not None:
                for expression in _condition_expressions(condition):
                    _check_expression(expression, scope, _branch_line(nodelist, line))
            _check_nodelist(nodelist, scope)
    elif isinstance(node, ForNode):
        _check_for(node, scope, line)
    elif isinstance(node, FirstOfNode | NowNode) and node.asvar:
        raise _error(_("“as” is not allowed in messages."), "forbidden_tag", line)
    elif isinstance(node, FirstOfNode):
        for expression in node.vars:
            _check_expression(expression, scope, line)
    else:
        for attribute in node.child_nodelists:
            _check_nodelist(getattr(node, attribute, None) or (), scope)


def _check_nodelist(nodelist, scope: _Scope) -> None:
    for node in nodelist:
        _check_node(node, scope)


def validate_template(source, channel: str, part: str | None = None) -> None:
    """Refuse ``source`` (one part of ``channel``'s content) with a :class:`ContentError` naming
    the line: a syntax error, a forbidden tag or filter, an unknown variable, or a failure to
    render with :data:`SAMPLE_CONTEXT`."""
    part = part or _main_part(channel)
    if part not in PARTS[channel]:
        raise ContentError(
            _("Unknown parts for %(channel)s: %(parts)s.") % {"channel": channel, "parts": part},
            code="parts",
        )
    template = compile_template(source)
    _render_part(template, channel, part, SAMPLE_CONTEXT)


def validate_message(channel: str, templates: Mapping[str, str]) -> None:
    """Every part of ``channel``'s content checked, then the whole message rendered with
    :data:`SAMPLE_CONTEXT` within the channel's limits. Raises a ValidationError by part."""
    parts = _check_parts(channel, templates)
    errors = {}
    for part, source in parts.items():
        try:
            validate_template(source, channel, part)
        except ValidationError as exc:
            errors[part] = exc.messages
    if errors:
        raise ValidationError(errors)
    render_message(channel, parts, SAMPLE_CONTEXT)


def _main_part(channel: str) -> str:
    if channel not in PARTS:
        raise ContentError(
            _("Unknown channel “%(channel)s”.") % {"channel": channel}, code="channel"
        )
    return "html" if channel == "email" else "body"


def _check_parts(channel: str, templates: Mapping[str, str]) -> dict:
    _main_part(channel)
    if not isinstance(templates, Mapping):
        raise ContentError(_("A message's content must map each part to its text."), code="parts")
    unknown = set(templates) - set(PARTS[channel])
    if unknown:
        raise ContentError(
            _("Unknown parts for %(channel)s: %(parts)s.")
            % {"channel": channel, "parts": ", ".join(sorted(map(str, unknown)))},
            code="parts",
        )
    parts = {part: source for part, source in templates.items() if source}
    missing = [p for p in REQUIRED_PARTS.get(channel, PARTS[channel][:1]) if p not in parts]
    if missing:
        raise ValidationError(
            {part: _("This part of the message is required.") for part in missing}
        )
    return parts


# --- Context ----------------------------------------------------------------------------------


def _text(value, limit: int = MAX_TEXT_VALUE) -> str:
    """Plain ``str`` (never a SafeString that would skip escaping), storable, bounded."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return str.__str__(UNSTORABLE.sub("", text))[:limit]


def _web_url(value) -> str:
    """An http(s) address, or "" (never ``javascript:`` or ``data:`` in a message's links)."""
    url = _text(value, 2000)
    return url if url.lower().startswith(("https://", "http://")) else ""


def _price(value) -> str:
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ContentError(_("A product price must be a number."), code="price") from None
    if not amount.is_finite():
        raise ContentError(_("A product price must be a number."), code="price")
    return str(amount.quantize(Decimal("0.01")))


def build_context(
    *,
    customer: Mapping,
    coupon_code: str = "",
    unsubscribe_url: str = "",
    products: Iterable[Mapping] = (),
    store: Mapping | None = None,
) -> dict:
    """The whitelisted context of one message, from plain mappings: only the keys of
    :data:`VARIABLES`, every value a plain string (prices as Decimal strings), at most
    :data:`MAX_PRODUCTS` products."""
    store = store or {}
    items = []
    for product in products:
        if len(items) == MAX_PRODUCTS:
            break
        items.append(
            {
                "name": _text(product.get("name")),
                "price": _price(product.get("price", "0")),
                "url": _web_url(product.get("url")),
                "image": _web_url(product.get("image")),
            }
        )
    return {
        "customer": {
            "first_name": _text(customer.get("first_name")),
            "name": _text(customer.get("name")),
            "language": _text(customer.get("language"), 10),
        },
        "coupon_code": _text(coupon_code, 100),
        "unsubscribe_url": _web_url(unsubscribe_url),
        "products": items,
        "store": {"name": _text(store.get("name")), "address": _text(store.get("address"))},
    }


# --- Rendering --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedMessage:
    """One shopper's message. ``subject`` is the e-mail subject or the push title; ``body`` the
    text (e-mail text alternative, SMS, push body, in-store task); ``html`` the e-mail's HTML."""

    channel: str
    body: str
    subject: str = ""
    html: str = ""
    encoding: str = ""  # SMS: "GSM-7" or "UCS-2"
    segments: int = 0  # SMS


def _render_part(template: Template, channel: str, part: str, context: Mapping) -> str:
    """The part in the shopper's language; its errors stay in the reader's (the marketer's)."""
    language = _language((context.get("customer") or {}).get("language"))
    try:
        with translation.override(language):
            return template.render(Context(context, autoescape=(channel, part) in HTML_PARTS))
    except Exception as exc:  # a filter given a bad value: refused, never a crash
        line = _syntax_line(exc) or 1
        raise _error(
            _("the template fails to render: %(detail)s"), "render", line, detail=exc
        ) from exc


def _render(channel: str, part: str, templates: Mapping, context: Mapping) -> str:
    source = templates.get(part)
    if not source:
        return ""
    return _render_part(compile_template(source), channel, part, context)


def _language(code) -> str:
    """The shopper's language if the project speaks it (``es-ES`` → ``es``), else the default."""
    try:
        return translation.get_supported_language_variant(code or "")
    except LookupError:
        return settings.LANGUAGE_CODE


def _one_line(text: str) -> str:
    return " ".join(text.split())


def render_message(channel: str, templates: Mapping[str, str], context: Mapping) -> RenderedMessage:
    """``templates`` (part → source) rendered for one shopper's ``context`` (from
    :func:`build_context`), in the shopper's language (errors in the active one). Raises :class:`ContentError` when a
    template is refused or the message breaks its channel's limits."""
    templates = _check_parts(channel, templates)
    if channel == "email":
        return _render_email(templates, context)
    if channel == "sms":
        return _render_sms(templates, context)
    if channel == "push":
        return _render_push(templates, context)
    return RenderedMessage(channel, _render(channel, "body", templates, context).strip())


def _render_email(templates: Mapping, context: Mapping) -> RenderedMessage:
    html = _render("email", "html", templates, context)
    text = _render("email", "text", templates, context).strip() or html_to_text(html)
    subject = _one_line(_render("email", "subject", templates, context))
    if not subject:
        raise ContentError(_("The e-mail's subject renders empty."), code="empty")
    return RenderedMessage("email", text, subject=subject, html=html)


def _render_sms(templates: Mapping, context: Mapping) -> RenderedMessage:
    body = _render("sms", "body", templates, context).strip()
    encoding, segments = sms_segments(body)
    limit = settings.MESSAGING_SMS_MAX_SEGMENTS
    if segments > limit:
        raise ContentError(
            _("The SMS takes %(segments)d segments (%(encoding)s); at most %(max)d are allowed.")
            % {"segments": segments, "encoding": encoding, "max": limit},
            code="too_long",
        )
    return RenderedMessage("sms", body, encoding=encoding, segments=segments)


def _render_push(templates: Mapping, context: Mapping) -> RenderedMessage:
    title = _one_line(_render("push", "title", templates, context))
    body = _render("push", "body", templates, context).strip()
    if len(title) > PUSH_TITLE_MAX:
        raise ContentError(
            _("The push title has %(length)d characters; at most %(max)d are allowed.")
            % {"length": len(title), "max": PUSH_TITLE_MAX},
            code="too_long",
        )
    if len(body) > PUSH_BODY_MAX:
        raise ContentError(
            _("The push body has %(length)d characters; at most %(max)d are allowed.")
            % {"length": len(body), "max": PUSH_BODY_MAX},
            code="too_long",
        )
    return RenderedMessage("push", body, subject=title)


# --- SMS segments -----------------------------------------------------------------------------

# GSM 03.38: the basic character set (one septet each) and its extension table (two: ESC + c).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


def sms_segments(text: str) -> tuple[str, int]:
    """The encoding an SMS of ``text`` needs ("GSM-7" or "UCS-2") and how many segments it
    takes: one of 160 septets / 70 UTF-16 units, or several of 153 / 67 (the rest carries the
    concatenation header); an extension character or a surrogate pair is never split."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        weights = [2 if c in GSM7_EXTENSION else 1 for c in text]
        return "GSM-7", _pack(weights, single=160, multi=153)
    weights = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return "UCS-2", _pack(weights, single=70, multi=67)


def _pack(weights: list[int], *, single: int, multi: int) -> int:
    if sum(weights) <= single:
        return 1
    segments, used = 1, 0
    for weight in weights:
        if used + weight > multi:
            segments, used = segments + 1, 0
        used += weight
    return segments


# --- HTML to text -----------------------------------------------------------------------------

# A regular-expression pass, not an HTML parser: e-mail HTML comes from our own templates, and
# rendering a million messages must not spend most of its time here (see bench/).
_SKIPPED = re.compile(r"<(script|style|head|title)\b.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_LINK = re.compile(r"""<a\b[^>]*?\bhref\s*=\s*(["'])(.*?)\1[^>]*>(.*?)</a\s*>""", re.I | re.S)
_IMAGE = re.compile(r"""<img\b[^>]*?\balt\s*=\s*(["'])(.*?)\1[^>]*>""", re.I | re.S)
_BREAK = re.compile(r"<br\b[^>]*>", re.I)
_ITEM = re.compile(r"<li\b[^>]*>", re.I)
_CELL = re.compile(r"<td\b[^>]*>", re.I)
_BLOCK = re.compile(
    r"</?(?:p|div|h[1-6]|ul|ol|table|tr|blockquote|section|article|header|footer)\b[^>]*>", re.I
)
_TAG = re.compile(r"<[^>]*>")
_WHITESPACE = re.compile(r"\s+")
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def _link_text(match) -> str:
    href, label = html.unescape(match[2]), match[3]
    plain = _one_line(html.unescape(_TAG.sub("", label)))
    if href.startswith(("http://", "https://")) and plain != href:
        return f"{label} ({html.escape(href)})"
    return label


def html_to_text(source: str) -> str:
    """A readable plain-text version of an e-mail's HTML: paragraphs kept, list items
    bulleted, links followed by their address, images by their alt text, scripts and styles
    dropped."""
    text = _WHITESPACE.sub(" ", _SKIPPED.sub("", source))  # as a browser collapses it
    text = _LINK.sub(_link_text, text)
    text = _IMAGE.sub(lambda match: match[2], text)
    text = _BREAK.sub("\n", text)
    text = _ITEM.sub("\n- ", text)
    text = _CELL.sub(" ", text)
    text = _BLOCK.sub("\n\n", text)
    text = html.unescape(_TAG.sub("", text))
    paragraphs = []
    for block in PARAGRAPH_BREAK.split(text):
        lines = (_one_line(line) for line in block.split("\n"))
        paragraph = "\n".join(line for line in lines if line)
        if paragraph:
            paragraphs.append(paragraph)
    return "\n\n".join(paragraphs)
